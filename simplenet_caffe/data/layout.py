"""Where each prepared dataset lives, relative to the repo root.

One table, read by the net generator (data-layer `source`/`mean_file`) and by the
data_prep recipes (where they write). Paths are POSIX strings relative to the repo root,
because generated prototxt files are run from the repo root (`caffe train -solver
solvers/X.prototxt`).

Each entry: the LMDB folders for train and test, an optional mean file (per-pixel mean image,
Caffe `BlobProto`), and what the records hold.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataLayout:
    name: str
    train_lmdb: str
    test_lmdb: str
    mean_file: str | None
    channels: int
    height: int
    width: int
    num_classes: int
    dtype: str          # "uint8" (0-255 bytes) or "float" (float_data, already normalised)
    note: str


LAYOUTS: dict[str, DataLayout] = {d.name: d for d in [
    DataLayout("mnist", "data/mnist/train_lmdb", "data/mnist/test_lmdb", None, 1, 28, 28, 10, "uint8",
               "raw MNIST digits, 0-255, single channel"),
    DataLayout("mnist_norm", "data/mnist_norm/train_lmdb", "data/mnist_norm/test_lmdb", None, 1, 28, 28, 10, "float",
               "MNIST standardised with one global train mean/std (the authors' *_lmdb_norm2)"),
    DataLayout("fashion_mnist_norm", "data/fashion_mnist_norm/train_lmdb", "data/fashion_mnist_norm/test_lmdb", None,
               1, 28, 28, 10, "float", "Fashion-MNIST, prepared like mnist_norm"),
    DataLayout("cifar10", "data/cifar10/train_lmdb", "data/cifar10/test_lmdb", "data/cifar10/mean.binaryproto",
               3, 32, 32, 10, "uint8", "CIFAR-10, RGB uint8 (as convert_cifar_data) + per-pixel mean image (the 94.75 setup)"),
    DataLayout("cifar10_zeropad", "data/cifar10_zeropad/train_lmdb", "data/cifar10_zeropad/test_lmdb", None,
               3, 40, 40, 10, "float", "CIFAR-10 per-channel standardised, zero-padded 4 px to 40x40 (95.x setup)"),
    DataLayout("cifar100", "data/cifar100/train_lmdb", "data/cifar100/test_lmdb", "data/cifar100/mean.binaryproto",
               3, 32, 32, 100, "uint8", "CIFAR-100 (fine labels), RGB uint8 + mean image"),
    DataLayout("cifar100_zeropad", "data/cifar100_zeropad/train_lmdb", "data/cifar100_zeropad/test_lmdb", None,
               3, 40, 40, 100, "float", "CIFAR-100 (fine labels) standardised, zero-padded to 40x40"),
    DataLayout("svhn", "data/svhn/train_lmdb", "data/svhn/test_lmdb", None, 3, 32, 32, 10, "uint8",
               "SVHN train+extra (604,388) and test (26,032), RGB uint8; nets scale by 1/255"),
    DataLayout("imagenet", "data/imagenet/train_lmdb", "data/imagenet/val_lmdb", "data/imagenet/mean.binaryproto",
               3, 256, 256, 1000, "uint8", "ImageNet-style folders resized to 256, BGR uint8 + mean image"),
]}
