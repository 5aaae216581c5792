"""Dataset registry: name → reader, splits, native channel order, classes.

One table (like timm's model registry) used by tools/to_lmdb.py and the data_prep recipes.

Channel order of the records each reader returns (and the default order written to LMDB):

* ``mnist``, ``fashion-mnist``: one channel (``gray``).
* ``cifar10``, ``cifar100``, ``svhn``: **RGB**, the files' own order. Caffe's
  convert_cifar_data keeps it, so the authors' CIFAR LMDBs (and any net trained on them) are
  RGB; we match that. ``--channel-order BGR`` swaps.
* ``folder`` (class subfolders or a list file): **BGR**, as OpenCV decodes and
  convert_imageset stores (the authors' ImageNet LMDBs came from convert_imageset).
* Encoded (PNG/JPEG) records are always BGR/gray: Caffe decodes them with OpenCV.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    splits: tuple[str, ...]          # splits the reader knows (default: all but "extra")
    channel_order: str               # gray | RGB | BGR, order of the arrays the reader returns
    num_classes: int | None
    read: Callable | None            # (path, split, **opts) -> (N×C×H×W uint8, labels); None for folders
    about: str


def _mnist(path, split, **_):
    from .idx import read_mnist
    return read_mnist(path, split)


def _cifar(name):
    def read(path, split, label="fine", **_):
        from .cifar import read_cifar
        return read_cifar(path, name, split, label)
    return read


def _svhn(path, split, **_):
    from .svhn import read_svhn
    return read_svhn(path, split)


DATASETS: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo("mnist", ("train", "test"), "gray", 10, _mnist, "MNIST idx files (.gz or raw), 1x28x28"),
    DatasetInfo("fashion-mnist", ("train", "test"), "gray", 10, _mnist, "Fashion-MNIST idx files, 1x28x28"),
    DatasetInfo("cifar10", ("train", "test"), "RGB", 10, _cifar("cifar10"),
                "CIFAR-10 python batches or .bin files (folder or .tar.gz), 3x32x32"),
    DatasetInfo("cifar100", ("train", "test"), "RGB", 100, _cifar("cifar100"),
                "CIFAR-100 python or binary, --label fine (100) or coarse (20), 3x32x32"),
    DatasetInfo("svhn", ("train", "test", "extra"), "RGB", 10, _svhn,
                "SVHN format 2 .mat (train/test/extra; label 10 = digit 0), 3x32x32"),
    DatasetInfo("folder", ("train",), "BGR", None, None,
                "image folder with one subfolder per class, or --list FILE (path label) under the folder"),
]}


def get(name: str) -> DatasetInfo:
    key = name.lower().replace("_", "-")
    key = {"cifar-10": "cifar10", "cifar-100": "cifar100", "fashion": "fashion-mnist", "imagefolder": "folder",
           "list": "folder"}.get(key, key)
    if key not in DATASETS:
        raise UserError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS[key]


def read_split(info: DatasetInfo, path: str | os.PathLike, split: str, **opts) -> tuple[np.ndarray, np.ndarray]:
    """Read one split; ``a+b`` concatenates splits (SVHN ``train+extra``)."""
    parts = split.split("+")
    for p in parts:
        if p not in info.splits:
            raise UserError(f"{info.name} has splits {', '.join(info.splits)}, not {p!r}")
    xs, ys = zip(*(info.read(path, p, **opts) for p in parts))
    return (xs[0], ys[0]) if len(xs) == 1 else (np.concatenate(xs), np.concatenate(ys))


def reorder_channels(images: np.ndarray, have: str, want: str) -> np.ndarray:
    """N×C×H×W (or C×H×W) between ``RGB`` and ``BGR``; gray stays gray."""
    if have == want or have == "gray":
        return images
    if {have, want} != {"RGB", "BGR"}:
        raise UserError(f"cannot convert channel order {have} to {want}")
    return np.ascontiguousarray(images[..., ::-1, :, :])
