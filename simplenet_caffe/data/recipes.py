"""The paper's data preparation (docs/spec.md §6), one function per experiment family.

Each recipe reads raw files through the readers, writes the LMDBs where the layout records
(``layout.LAYOUTS``) say the generated prototxts expect them, writes ``preprocess.json`` (see
preprocess.py; the TEST transform is the record's, the class names the source files') beside
them, and returns the :class:`preprocess.Recipe` it recorded. Statistics are always computed on
the training split only and applied to every split. Each layout folder is one
:func:`atomic.atomic_outputs`: it appears complete (LMDBs, mean files, recipe) or not at all, a
failed ``force`` run leaves the previous one, and two runs on one folder are refused.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..atomic import atomic_outputs
from ..errors import UserError
from ..paths import REPO_ROOT
from . import download, imagefolder, lmdbio, stats
from .cifar import read_cifar
from .idx import read_mnist
from .layout import LAYOUTS, get
from .preprocess import MAX_PIXELS, RECIPE_FILE, Recipe, check_max_pixels, standardise
from .svhn import read_svhn

Log = Callable[[str], None]


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


def write_split(rec: Recipe, stage: Path, final: Path, split: str, images, labels, fn=None, order=None,
                desc=None, log: Log = print) -> None:
    """Write one split's LMDB into the staging folder ``stage`` (it will live at ``final``) and
    record it in ``rec``."""
    summary = lmdbio.write_lmdb(stage / final.name, iter_records(images, labels, fn, order), total=len(images),
                                desc=desc or final.name)
    summary.path = str(final)
    rec.add_split(split, summary, log)


def check_limit(n: int | None, option: str = "--limit") -> int | None:
    """A record limit: None (all) or a positive count (0 or a negative number is refused)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
        raise UserError(f"{option} must be a positive number of records, got {n!r}")
    return n


def check_shapes(splits: dict, where, want: tuple[int, ...] | None = None) -> None:
    """The records of every split (``{split: N×C×H×W array or a C×H×W shape}``) have one shape,
    ``want`` (C, H, W) when given: a net is built for one input shape."""
    shapes = {k: tuple(v.shape[1:]) if hasattr(v, "shape") else tuple(v) for k, v in splits.items()}
    first = next(iter(shapes), None)
    ref = tuple(want) if want is not None else shapes.get(first)
    for k, shp in shapes.items():
        if shp != ref:
            whose = f"the expected {'x'.join(map(str, ref))}" if want is not None else \
                f"the {first} split's {'x'.join(map(str, ref))}"
            raise UserError(f"{where}: the {k} split's records are {'x'.join(map(str, shp))} (C×H×W), not {whose}; "
                            "all splits of a dataset must have one shape")


def _limit(images, labels, n):
    return (images, labels) if n is None else (images[:n], labels[:n])


def _names(dataset: str, src, **opts) -> tuple[list[str] | None, dict]:
    """Class names from the source files, and the label map's provenance."""
    names = get(dataset).class_names(src, **opts)
    return names, {"source": f"{dataset} files" if names else "none (the files carry no class names)",
                   "num_classes": len(names) if names else get(dataset).num_classes}


# ----------------------------------------------------------------------------- MNIST

def find_mnist_source(dataset: str, given: str | os.PathLike | None, raw: Path, allow_download: bool) -> Path:
    """The folder holding ``dataset``'s idx files: ``given``, else the first of the dataset
    record's local folders that has them, else a download (checksum-verified) into ``raw``."""
    if given:
        return Path(given)
    cands = get(dataset).local_candidates()
    for cand in cands:
        if (cand / "train-images-idx3-ubyte.gz").is_file():
            return cand
    if not allow_download:
        raise UserError(f"no local {dataset} files found (looked in {', '.join(map(str, cands))}); "
                        "give --src DIR or drop --no-download")
    return download.download(dataset, raw)


def prepare_mnist(src: str | os.PathLike, dataset: str = "mnist", root=None, force: bool = False,
                  limit_train: int | None = None, limit_test: int | None = None, log: Log = print) -> Recipe:
    """MNIST/Fashion-MNIST → float Datums standardised with one global train mean/std (docs/spec.md §6.4).

    Like the authors' ``create_mean_normalized_lmdb.py``: one scalar mean and one scalar std
    over every training pixel (0-255 scale), applied to train and test, no padding, keys in
    the original order.
    """
    layout = get(dataset).recipe_layout
    out, train_db, test_db = layout_paths(layout, root)
    check_limit(limit_train, "--limit-train")
    check_limit(limit_test, "--limit-test")
    with atomic_outputs(out, [train_db.name, test_db.name], force=force, log=log) as stage:
        xtr, ytr = _limit(*read_mnist(src, "train"), limit_train)
        xte, yte = _limit(*read_mnist(src, "test"), limit_test)
        lay = LAYOUTS[layout]
        check_shapes({"train": xtr, "test": xte}, src, (lay.channels, lay.height, lay.width))
        st = stats.compute_stats(xtr)
        mean, std = st.global_mean, st.global_std
        log(f"{dataset}: train mean {mean:.6f}, std {std:.6f} over {xtr.size} pixels (0-255 scale)")
        fn = lambda b: standardise(b, [mean], [std])  # noqa: E731
        names, prov = _names(dataset, src)
        rec = Recipe(layout=layout, dataset=dataset, channel_order="gray", dtype="float", size=[28, 28],
                     mean=[mean], std=[std], transform=LAYOUTS[layout].transform.as_dict(),
                     stats={"train_mean": mean, "train_std": std, "pixels": int(xtr.size)},
                     note="one global mean/std over all training pixels (authors' *_lmdb_norm2)",
                     class_names=names, label_map=prov)
        for split, db, x, y in (("train", train_db, xtr, ytr), ("test", test_db, xte, yte)):
            write_split(rec, stage, db, split, x, y, fn, desc=f"{dataset} {split}", log=log)
        rec.save(stage)
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

    setups = ["plain", "zeropad"] if setup == "both" else [setup]
    if channel_order not in ("RGB", "BGR"):
        raise UserError(f"channel order is RGB or BGR, not {channel_order!r}")
    check_limit(limit_train, "--limit-train")
    check_limit(limit_test, "--limit-test")
    layouts = [dataset if s == "plain" else f"{dataset}_zeropad" for s in setups]
    recs = []
    with contextlib.ExitStack() as stack:
        stages = {}
        for layout in layouts:      # both folders locked and checked before anything is read
            out, train_db, test_db = layout_paths(layout, root)
            stages[layout] = stack.enter_context(atomic_outputs(out, [train_db.name, test_db.name], force=force, log=log))
        xtr, ytr = _limit(*read_cifar(src, dataset, "train"), limit_train)
        xte, yte = _limit(*read_cifar(src, dataset, "test"), limit_test)
        names, prov = _names(dataset, src)
        if channel_order == "BGR":
            xtr, xte = np.ascontiguousarray(xtr[:, ::-1]), np.ascontiguousarray(xte[:, ::-1])
        st = stats.compute_stats(xtr)
        log(f"{dataset} train ({len(xtr)} images), channel order {channel_order}, 0-255 scale:")
        for line in st.lines(channel_order)[1:]:
            log(line)
        for s, layout in zip(setups, layouts):
            out, train_db, test_db = layout_paths(layout, root)
            stage = stages[layout]
            lay = LAYOUTS[layout]
            common = dict(layout=layout, dataset=dataset, channel_order=channel_order, size=[32, 32],
                          mirror_train=True, labels="fine" if dataset == "cifar100" else None,
                          class_names=names, label_map=prov, stats=st.as_dict())
            if s == "plain":
                stats.write_mean_files(stage, st, channel_order, extra={"source": str(train_db)})
                mean_ref = _mean_ref(out / "mean.binaryproto", root)
                rec = Recipe(dtype="uint8", transform=lay.transform.as_dict(mean_ref),
                             note="uint8 + per-pixel train mean image (the 94.75 setup)", **common)
                fn = None
                log(f"mean image written to {out / 'mean.binaryproto'} (+ mean.npy, mean.json)")
            else:
                mean, std = [float(v) for v in st.channel_mean], [float(v) for v in st.channel_std]
                rec = Recipe(dtype="float", mean=mean, std=std, pad=4, transform=lay.transform.as_dict(),
                             note="per-channel standardised with train statistics, zero-padded "
                             "4 px to 40x40 (the 95.x / CIFAR-100 setup)", **common)
                fn = lambda b, m=mean, sd=std: standardise(b, m, sd, pad=4)  # noqa: E731
            for split, db, x, y in (("train", train_db, xtr, ytr), ("test", test_db, xte, yte)):
                write_split(rec, stage, db, split, x, y, fn, desc=f"{layout} {split}", log=log)
            rec.save(stage)
            recs.append(rec)
    return recs


# ----------------------------------------------------------------------------- SVHN

def prepare_svhn(src: str | os.PathLike, root=None, force: bool = False, extra: bool = True, shuffle: bool = True,
                 seed: int = 0, channel_order: str = "RGB", limit: int | None = None, log: Log = print) -> Recipe:
    """SVHN (docs/spec.md §6.5): train(+extra) and test as uint8 (the nets scale by 1/255), label 10 → 0.

    The training set is train + extra (604,388 images), shuffled with a fixed seed by default
    because Caffe's data layer reads in key order and the two parts differ in difficulty.
    """
    out, train_db, test_db = layout_paths("svhn", root)
    check_limit(limit)
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    parts = ["train", "extra"] if extra else ["train"]
    with atomic_outputs(out, [train_db.name, test_db.name], force=force, log=log) as stage:
        xs, ys = zip(*(read_svhn(src, p) for p in parts))
        xtr, ytr = _limit(np.concatenate(xs), np.concatenate(ys), limit)
        xte, yte = _limit(*read_svhn(src, "test"), limit)
        if channel_order == "BGR":
            xtr, xte = np.ascontiguousarray(xtr[:, ::-1]), np.ascontiguousarray(xte[:, ::-1])
        log(f"svhn: train = {' + '.join(parts)} ({len(xtr)} images), test {len(xte)}; uint8 {channel_order}, "
            "no mean or std (the data layer scales by 1/255)")
        names, prov = _names("svhn", src)
        rec = Recipe(layout="svhn", dataset="svhn", channel_order=channel_order, dtype="uint8", size=[32, 32],
                     transform=LAYOUTS["svhn"].transform.as_dict(), labels="10 -> 0", class_names=names,
                     label_map=prov,
                     note=f"train = {'+'.join(parts)}" + (f", shuffled (seed {seed})" if shuffle else ", file order"))
        order = np.random.default_rng(seed).permutation(len(xtr)) if shuffle else None
        for split, db, x, y, o in (("train", train_db, xtr, ytr, order), ("test", test_db, xte, yte, None)):
            write_split(rec, stage, db, split, x, y, None, order=o, desc=f"svhn {split}", log=log)
        rec.save(stage)
    return rec


# ----------------------------------------------------------------------------- ImageNet-style folders

def prepare_imagenet(train_src: str | os.PathLike, val_src: str | os.PathLike | None = None,
                     train_list: str | None = None, val_list: str | None = None, root=None, force: bool = False,
                     size: int = 256, mode: str = "crop", shuffle: bool = True, seed: int = 0,
                     encode: str | None = None, limit: int | None = None, labels_file: str | None = None,
                     max_pixels: int = MAX_PIXELS, log: Log = print) -> Recipe:
    """ImageNet-style data (docs/spec.md §6.6): BGR uint8 LMDBs at size×size + train mean image.

    ``mode`` ``crop`` (default) scales the shorter side to ``size`` and centre-crops a square;
    ``squash`` resizes to size×size like create_imagenet.sh. The data layer then takes 227
    crops and subtracts the mean file. Class labels: sorted train subfolder names (labels.txt),
    or the list files' labels; ``labels_file`` (one class name per line) fixes the label map instead.
    """
    out, train_db, val_db = layout_paths("imagenet", root)
    check_limit(limit)
    check_max_pixels(max_pixels)
    if not 0 < size <= 32768:
        raise UserError(f"--size must be 1 to 32768 pixels, got {size}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    jobs = [("train", Path(train_src), train_list, train_db)]
    if val_src is not None:
        jobs.append(("val", Path(val_src), val_list, val_db))
    with atomic_outputs(out, [j[3].name for j in jobs] + ["mean.binaryproto"], force=force, log=log) as stage:
        lists, classes = {}, (imagefolder.read_labels_file(labels_file) if labels_file else None)
        for split, src, lst, _ in jobs:
            if lst:
                items = imagefolder.read_list(lst, classes)
            else:                     # the train split fixes the label map; val is checked against it
                items, cls = imagefolder.scan_folder(src, classes, log=log)
                classes = classes or cls
            lists[split] = items[:limit] if limit else items
        rec = Recipe(layout="imagenet", dataset="folder", channel_order="BGR",
                     dtype=f"encoded-{encode}" if encode else "uint8", size=[size, size], resize_mode=mode,
                     mirror_train=True, note=f"{mode} to {size}x{size}, BGR (OpenCV, as convert_imageset)",
                     class_names=classes,
                     label_map={"source": f"labels file {labels_file}" if labels_file else
                                "train folder names (sorted)" if classes else "list file labels",
                                "num_classes": len(classes) if classes else None})
        for split, src, _, db in jobs:
            items = lists[split]
            if split == "train" and shuffle:
                items = imagefolder.shuffled(items, seed)
            acc = stats.MeanAccumulator() if split == "train" else None
            it = imagefolder.iter_images(src, items, size=(size, size), mode=mode, encode=encode, max_pixels=max_pixels)
            summ = lmdbio.write_lmdb(stage / db.name, stats.tap(it, acc), total=len(items), encode=encode,
                                     key_suffix=True, desc=f"imagenet {split}")
            summ.path = str(db)
            rec.add_split(split, summ, log)
            if acc is not None:
                st = acc.result()
                stats.write_mean_files(stage, st, "BGR", extra={"source": str(db)})
                rec.stats = st.as_dict()
                rec.transform = LAYOUTS["imagenet"].transform.as_dict(_mean_ref(out / "mean.binaryproto", root))
                log(f"train mean written to {out / 'mean.binaryproto'}:")
                for line in st.lines("BGR")[1:]:
                    log(line)
        if classes:
            imagefolder.write_labels_file(stage / "labels.txt", classes)
        rec.save(stage)
    return rec
