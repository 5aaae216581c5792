"""The paper's data preparation (spec §6), one function per experiment family.

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
from .cli import UserError
from .layout import LAYOUTS
from .paths import REPO_ROOT
from .preprocess import Recipe, standardise

Log = Callable[[str], None]

# spec §4: what each layout's data layer does at TEST time (the deploy net must match it).
TRANSFORMS = {
    "mnist": {}, "mnist_norm": {}, "fashion_mnist_norm": {},
    "cifar10": {"mean_file": LAYOUTS["cifar10"].mean_file},
    "cifar100": {"mean_file": LAYOUTS["cifar100"].mean_file},
    "cifar10_zeropad": {"crop_size": 32}, "cifar100_zeropad": {"crop_size": 32},
    "svhn": {"scale": 0.0039215684},
    "imagenet": {"crop_size": 227, "mean_file": LAYOUTS["imagenet"].mean_file},
}
MIRROR_TRAIN = {"cifar10", "cifar100", "cifar10_zeropad", "cifar100_zeropad", "imagenet"}


def layout_paths(layout: str, root: str | os.PathLike | None = None) -> tuple[Path, Path, Path]:
    """(folder, train LMDB, test LMDB) of a layout, under ``root`` (default: the repo root)."""
    d = LAYOUTS[layout]
    base = Path(root) if root else REPO_ROOT
    train, test = base / d.train_lmdb, base / d.test_lmdb
    return train.parent, train, test


def iter_records(images: np.ndarray, labels: np.ndarray, fn=None, order=None, chunk: int = 1024) -> Iterator:
    """Yield ``(CHW array, label)``; ``fn`` is applied to chunks of N×C×H×W (vectorised)."""
    idx = np.arange(len(images)) if order is None else order
    for s in range(0, len(idx), chunk):
        sel = idx[s:s + chunk]
        block = images[sel]
        if fn is not None:
            block = fn(block)
        for a, lab in zip(block, labels[sel]):
            yield a, int(lab)


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
    """MNIST/Fashion-MNIST → float Datums standardised with one global train mean/std (spec §6.4).

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
        s = write_split(db, x, y, fn, force=force, desc=f"{dataset} {split}")
        rec.splits[split] = s.as_dict()
        for line in s.lines():
            log(line)
    rec.save(out)
    return rec
