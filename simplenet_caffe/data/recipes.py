"""The paper's data preparation (docs/spec.md §6), one function per experiment family.

Each recipe reads raw files through the readers, writes the LMDBs where ``layout.LAYOUTS``
says the generated prototxts expect them, writes ``preprocess.json`` (see preprocess.py)
beside them, and returns the :class:`preprocess.Recipe` it recorded. Statistics are always
computed on the training split only and applied to every split.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import lmdbio, stats
from ..atomic import write_atomic
from ..errors import UserError
from .layout import LAYOUTS
from ..paths import REPO_ROOT
from .preprocess import Recipe, standardise

Log = Callable[[str], None]

# docs/spec.md §4: what each layout's data layer does at TEST time (the deploy net must match it).
TRANSFORMS = {
    "mnist": {}, "mnist_norm": {}, "fashion_mnist_norm": {},
    "cifar10": {"mean_file": LAYOUTS["cifar10"].mean_file},
    "cifar100": {"mean_file": LAYOUTS["cifar100"].mean_file},
    "cifar10_zeropad": {"crop_size": 32}, "cifar100_zeropad": {"crop_size": 32},
    "svhn": {"scale": 0.0039215684},
    "imagenet": {"crop_size": 227, "mean_file": LAYOUTS["imagenet"].mean_file},
}


def layout_paths(layout: str, root: str | os.PathLike | None = None) -> tuple[Path, Path, Path]:
    """(folder, train LMDB, test LMDB) of a layout, under ``root`` (default: the repo root)."""
    d = LAYOUTS[layout]
    base = Path(root) if root else REPO_ROOT
    train, test = base / d.train_lmdb, base / d.test_lmdb
    return train.parent, train, test


def iter_records(images: np.ndarray, labels: np.ndarray, fn=None, order=None, chunk: int = 1024) -> Iterator:
    """Yield :class:`lmdbio.Block` s of ``chunk`` records; ``fn`` maps N×C×H×W → N×C×H×W (vectorised)."""
    idx = np.arange(len(images)) if order is None else order
    for s in range(0, len(idx), chunk):
        sel = idx[s:s + chunk]
        block = images[sel]
        if fn is not None:
            block = fn(block)
        yield lmdbio.Block(block, labels[sel])


def write_split(path: Path, images, labels, fn=None, force=False, order=None, desc=None) -> lmdbio.Summary:
    return lmdbio.write_lmdb(path, iter_records(images, labels, fn, order), total=len(images), force=force,
                             desc=desc or path.name)


def _check_outputs(paths, force: bool) -> None:
    for p in paths:
        lmdbio.check_target(p, force)


def _limit(images, labels, n):
    return (images, labels) if not n else (images[:n], labels[:n])


# ----------------------------------------------------------------------------- MNIST

def prepare_mnist(src: str | os.PathLike, dataset: str = "mnist", root=None, force: bool = False,
                  limit_train: int | None = None, limit_test: int | None = None, log: Log = print) -> Recipe:
    """MNIST/Fashion-MNIST → float Datums standardised with one global train mean/std (docs/spec.md §6.4).

    Like the authors' ``create_mean_normalized_lmdb.py``: one scalar mean and one scalar std
    over every training pixel (0-255 scale), applied to train and test, no padding, keys in
    the original order.
    """
    from .idx import read_mnist

    layout = {"mnist": "mnist_norm", "fashion-mnist": "fashion_mnist_norm"}[dataset]
    out, train_db, test_db = layout_paths(layout, root)
    _check_outputs([train_db, test_db], force)
    xtr, ytr = _limit(*read_mnist(src, "train"), limit_train)
    xte, yte = _limit(*read_mnist(src, "test"), limit_test)
    st = stats.compute_stats(xtr)
    mean, std = st.global_mean, st.global_std
    log(f"{dataset}: train mean {mean:.6f}, std {std:.6f} over {xtr.size} pixels (0-255 scale)")
    fn = lambda b: standardise(b, [mean], [std])  # noqa: E731
    rec = Recipe(layout=layout, dataset=dataset, channel_order="gray", dtype="float", size=[28, 28],
                 mean=[mean], std=[std], transform=TRANSFORMS[layout],
                 stats={"train_mean": mean, "train_std": std, "pixels": int(xtr.size)},
                 note="one global mean/std over all training pixels (authors' *_lmdb_norm2)")
    for split, db, x, y in (("train", train_db, xtr, ytr), ("test", test_db, xte, yte)):
        rec.add_split(split, write_split(db, x, y, fn, force=force, desc=f"{dataset} {split}"), log)
    rec.save(out)
    return rec


def _mean_ref(path: Path, root) -> str:
    """How a mean file is named in preprocess.json: repo-relative inside the repo, else absolute."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix() if root is None else str(path)
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- CIFAR

def prepare_cifar(src: str | os.PathLike, dataset: str = "cifar10", setup: str = "both", root=None,
                  force: bool = False, channel_order: str = "RGB", limit_train: int | None = None,
                  limit_test: int | None = None, log: Log = print) -> list[Recipe]:
    """CIFAR-10/100 (fine labels) in the authors' two setups (docs/spec.md §6.1-6.3).

    * ``plain`` (94.75): uint8 LMDBs + per-pixel mean image ``mean.binaryproto`` of the train
      set; the data layer subtracts it (0-255 scale) and mirrors in TRAIN.
    * ``zeropad`` (95.16/95.32, CIFAR-100 73.42): per-channel mean/std over all train pixels
      (0-255), train and test standardised with them, then 4 zero pixels on every side
      (32 → 40×40, after standardisation, so the pad equals the channel mean), float Datums;
      the data layer takes 32×32 crops (random in TRAIN, centre in TEST) and mirrors.

    Channel order RGB by default: the files' order, kept by Caffe's convert_cifar_data, which
    built the DBs the authors' nets were trained on.
    """
    from .cifar import read_cifar

    setups = ["plain", "zeropad"] if setup == "both" else [setup]
    plain_layout, pad_layout = dataset, f"{dataset}_zeropad"
    targets = []
    for s in setups:
        targets += list(layout_paths(plain_layout if s == "plain" else pad_layout, root)[1:])
    _check_outputs(targets, force)
    xtr, ytr = _limit(*read_cifar(src, dataset, "train"), limit_train)
    xte, yte = _limit(*read_cifar(src, dataset, "test"), limit_test)
    if channel_order == "BGR":
        xtr, xte = np.ascontiguousarray(xtr[:, ::-1]), np.ascontiguousarray(xte[:, ::-1])
    st = stats.compute_stats(xtr)
    log(f"{dataset} train ({len(xtr)} images), channel order {channel_order}, 0-255 scale:")
    for line in st.lines(channel_order)[1:]:
        log(line)
    recs = []
    for s in setups:
        layout = plain_layout if s == "plain" else pad_layout
        out, train_db, test_db = layout_paths(layout, root)
        common = dict(layout=layout, dataset=dataset, channel_order=channel_order, size=[32, 32],
                      mirror_train=True, labels="fine" if dataset == "cifar100" else None)
        if s == "plain":
            paths = stats.write_mean_files(out, st, channel_order, extra={"source": str(train_db)})
            rec = Recipe(dtype="uint8", transform={"mean_file": _mean_ref(paths["binaryproto"], root)},
                         stats=st.as_dict(), note="uint8 + per-pixel train mean image (the 94.75 setup)", **common)
            fn = None
            log(f"mean image written to {paths['binaryproto']} (+ mean.npy, mean.json)")
        else:
            mean, std = [float(v) for v in st.channel_mean], [float(v) for v in st.channel_std]
            rec = Recipe(dtype="float", mean=mean, std=std, pad=4, transform=dict(TRANSFORMS[layout]),
                         stats=st.as_dict(), note="per-channel standardised with train statistics, zero-padded "
                         "4 px to 40x40 (the 95.x / CIFAR-100 setup)", **common)
            fn = lambda b, m=mean, sd=std: standardise(b, m, sd, pad=4)  # noqa: E731
        for split, db, x, y in (("train", train_db, xtr, ytr), ("test", test_db, xte, yte)):
            rec.add_split(split, write_split(db, x, y, fn, force=force, desc=f"{layout} {split}"), log)
        rec.save(out)
        recs.append(rec)
    return recs


# ----------------------------------------------------------------------------- SVHN

def prepare_svhn(src: str | os.PathLike, root=None, force: bool = False, extra: bool = True, shuffle: bool = True,
                 seed: int = 0, channel_order: str = "RGB", limit: int | None = None, log: Log = print) -> Recipe:
    """SVHN (docs/spec.md §6.5): train(+extra) and test as uint8 (the nets scale by 1/255), label 10 → 0.

    The training set is train + extra (604,388 images), shuffled with a fixed seed by default
    because Caffe's data layer reads in key order and the two parts differ in difficulty.
    """
    from .svhn import read_svhn

    out, train_db, test_db = layout_paths("svhn", root)
    _check_outputs([train_db, test_db], force)
    parts = ["train", "extra"] if extra else ["train"]
    xs, ys = zip(*(read_svhn(src, p) for p in parts))
    xtr, ytr = _limit(np.concatenate(xs), np.concatenate(ys), limit)
    xte, yte = _limit(*read_svhn(src, "test"), limit)
    if channel_order == "BGR":
        xtr, xte = np.ascontiguousarray(xtr[:, ::-1]), np.ascontiguousarray(xte[:, ::-1])
    log(f"svhn: train = {' + '.join(parts)} ({len(xtr)} images), test {len(xte)}; uint8 {channel_order}, "
        "no mean or std (the data layer scales by 1/255)")
    rec = Recipe(layout="svhn", dataset="svhn", channel_order=channel_order, dtype="uint8", size=[32, 32],
                 transform=dict(TRANSFORMS["svhn"]), labels="10 -> 0",
                 note=f"train = {'+'.join(parts)}" + (f", shuffled (seed {seed})" if shuffle else ", file order"))
    order = np.random.default_rng(seed).permutation(len(xtr)) if shuffle else None
    for split, db, x, y, o in (("train", train_db, xtr, ytr, order), ("test", test_db, xte, yte, None)):
        rec.add_split(split, write_split(db, x, y, None, force=force, order=o, desc=f"svhn {split}"), log)
    rec.save(out)
    return rec


# ----------------------------------------------------------------------------- ImageNet-style folders

def prepare_imagenet(train_src: str | os.PathLike, val_src: str | os.PathLike | None = None,
                     train_list: str | None = None, val_list: str | None = None, root=None, force: bool = False,
                     size: int = 256, mode: str = "crop", shuffle: bool = True, seed: int = 0,
                     encode: str | None = None, limit: int | None = None, log: Log = print) -> Recipe:
    """ImageNet-style data (docs/spec.md §6.6): BGR uint8 LMDBs at size×size + train mean image.

    ``mode`` ``crop`` (default) scales the shorter side to ``size`` and centre-crops a square;
    ``squash`` resizes to size×size like create_imagenet.sh. The data layer then takes 227
    crops and subtracts the mean file. Class labels: sorted train subfolder names (labels.txt),
    or the list files' labels.
    """
    from . import imagefolder

    out, train_db, val_db = layout_paths("imagenet", root)
    jobs = [("train", Path(train_src), train_list, train_db)]
    if val_src is not None:
        jobs.append(("val", Path(val_src), val_list, val_db))
    _check_outputs([j[3] for j in jobs], force)
    lists, classes = {}, None
    for split, src, lst, _ in jobs:
        if lst:
            items = imagefolder.read_list(lst)
        else:
            items, cls = imagefolder.scan_folder(src)
            if classes is None:
                classes = cls
            elif cls != classes:
                raise UserError(f"{src}: class folders differ from the training set's")
        lists[split] = items[:limit] if limit else items
    rec = Recipe(layout="imagenet", dataset="folder", channel_order="BGR",
                 dtype=f"encoded-{encode}" if encode else "uint8", size=[size, size], resize_mode=mode,
                 mirror_train=True, note=f"{mode} to {size}x{size}, BGR (OpenCV, as convert_imageset)")
    written = []
    try:
        for split, src, _, db in jobs:
            items = lists[split]
            if split == "train" and shuffle:
                items = imagefolder.shuffled(items, seed)
            acc = stats.MeanAccumulator() if split == "train" else None
            it = imagefolder.iter_images(src, items, size=(size, size), mode=mode, encode=encode)
            summ = lmdbio.write_lmdb(db, stats.tap(it, acc), total=len(items), force=force, encode=encode,
                                     key_suffix=True, desc=f"imagenet {split}")
            written.append(db)
            rec.add_split(split, summ, log)
            if acc is not None:
                st = acc.result()
                paths = stats.write_mean_files(out, st, "BGR", extra={"source": str(db)})
                rec.stats = st.as_dict()
                rec.transform = {"crop_size": 227, "mean_file": _mean_ref(paths["binaryproto"], root)}
                log(f"train mean written to {paths['binaryproto']}:")
                for line in st.lines("BGR")[1:]:
                    log(line)
    except BaseException:
        import shutil
        for db in written:
            shutil.rmtree(db, ignore_errors=True)
        raise
    if classes:
        write_atomic(out / "labels.txt", "".join(c + "\n" for c in classes))
    rec.save(out)
    return rec
