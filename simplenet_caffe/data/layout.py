"""The dataset records (one table: where each layout lives, how it is read, downloaded and
prepared, its TEST transform, the command that builds it): one :class:`Dataset` per source format, holding everything about it --
how it is read (its reader), downloaded (official URLs and MD5s), its class names, and the
prepared layouts built from it (:class:`DataLayout`: where the LMDBs live, what the records
hold, the data layer's TEST transform, the command that builds them). Every other module
reads these records; nothing else lists datasets.

Channel order of the records each reader returns (and the default order written to LMDB):

* ``mnist``, ``fashion-mnist``: one channel (``gray``).
* ``cifar10``, ``cifar100``, ``svhn``: **RGB**, the files' own order. Caffe's
  convert_cifar_data keeps it, so the authors' CIFAR LMDBs (and any net trained on them) are
  RGB; we match that. ``--channel-order BGR`` swaps.
* ``folder`` (class subfolders or a list file): **BGR**, as OpenCV decodes and
  convert_imageset stores (the authors' ImageNet LMDBs came from convert_imageset).
* Encoded (PNG/JPEG) records are always BGR/gray: Caffe decodes them with OpenCV.

The TEST transform (``DataLayout.transform``: crop, mean file, mean value, scale) is stated
here once. ``nets.experiments.DataSpec`` takes it from the layout unless an experiment
deliberately uses another one (the ``imagenet_pt_*`` nets: crop 224, mean value + scale), and
the recipes copy it into ``preprocess.json``. Evaluation and classification read the
transform of the net's own TEST data layer, so such an experiment is preprocessed as its net says.

Adding a dataset: one reader module (``read(path, split, **opts) -> (N×C×H×W uint8, labels)``)
and one :class:`Dataset` record in :data:`DATASETS` here (see docs/data.md, "Adding a dataset").
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError, unknown
from ..paths import DATA_DIR, SHARED_DIR
from .cifar import class_names, read_cifar
from .idx import read_mnist
from .svhn import read_svhn


@dataclass(frozen=True)
class RemoteFile:
    """A file of a dataset's official download: its name and MD5."""
    name: str
    md5: str


@dataclass(frozen=True)
class Source:
    """Where a dataset is downloaded from (data/download.py fetches it)."""
    urls: tuple[str, ...]          # base URLs tried in order (file name appended)
    files: tuple[RemoteFile, ...]
    note: str = ""


@dataclass(frozen=True)
class Transform:
    """A Caffe data layer's ``transform_param`` apart from mirroring, as the TEST phase applies
    it: centre ``crop_size``, subtract the layout's per-pixel ``mean_file`` (a flag; the path is
    the layout's), subtract ``mean_value`` per channel (0-255 units, the records' channel
    order), then multiply by ``scale``."""

    crop_size: int | None = None
    mean_file: bool = False
    mean_value: tuple[float, ...] = ()
    scale: float | None = None

    def as_dict(self, mean_file: str | None = None) -> dict:
        """``transform_param`` fields as preprocess.json records them (``mean_file``: its path)."""
        out: dict = {}
        if self.crop_size:
            out["crop_size"] = self.crop_size
        if self.mean_file:
            if not mean_file:
                raise UserError("this transform subtracts a mean file, but no mean file path was given")
            out["mean_file"] = mean_file
        if self.mean_value:
            out["mean_value"] = list(self.mean_value)
        if self.scale is not None:
            out["scale"] = self.scale
        return out


@dataclass(frozen=True)
class DataLayout:
    """One prepared form of a dataset: where its LMDBs live (POSIX paths relative to the repo
    root, because generated prototxts are run from there), what the records hold, the data
    layer's TEST transform, and the command that builds it."""

    name: str
    train_lmdb: str
    test_lmdb: str
    mean_file: str | None       # per-pixel mean image (Caffe BlobProto) of the train split
    channels: int
    height: int
    width: int
    num_classes: int
    dtype: str                  # "uint8" (0-255 bytes) or "float" (float_data, already normalised)
    note: str
    transform: Transform = field(default_factory=Transform)
    command: str = ""           # the command that builds it
    dataset: str = ""           # the Dataset record it is built from (set by the table)

    @property
    def folder(self) -> str:
        """The layout's folder (it holds the LMDBs, preprocess.json and the mean files)."""
        return self.train_lmdb.rsplit("/", 1)[0]


@dataclass(frozen=True)
class Dataset:
    """A source format: its reader, its download, its classes, and the layouts built from it."""

    name: str
    splits: tuple[str, ...]          # splits the reader knows (default: all but "extra")
    channel_order: str               # gray | RGB | BGR, order of the arrays the reader returns
    num_classes: int | None
    read: Callable | None            # (path, split, **opts) -> (N×C×H×W uint8, labels); None for folders
    about: str
    classes: Callable | list[str] | None = None   # class names (index = label), or (path, **opts) -> names
    download: Source | None = None
    layouts: tuple[DataLayout, ...] = ()
    aliases: tuple[str, ...] = ()
    # Where a local copy is looked for, in order: $<env>, then these folders ("{data}" = the repo's
    # data/, "{shared}" = the shared folder beside the repo; paths.py).
    env: str = ""
    local_dirs: tuple[str, ...] = ()
    recipe_layout: str = ""          # the layout its data_prep recipe builds (data/recipes.py)

    def local_candidates(self) -> list[Path]:
        """Folders that may hold this dataset's files, in the order they are tried."""
        found = [os.environ.get(self.env)] if self.env else []
        found += [d.format(data=DATA_DIR, shared=SHARED_DIR, name=self.name) for d in self.local_dirs]
        return [Path(d) for d in found if d]

    def class_names(self, path, **opts) -> list[str] | None:
        return self.classes(path, **opts) if callable(self.classes) else (list(self.classes) if self.classes else None)


# ----------------------------------------------------------------------------- readers (imported lazily)

def _mnist(path, split, **_):
    return read_mnist(path, split)


def _cifar(name):
    def read(path, split, label="fine", **_):
        return read_cifar(path, name, split, label)
    return read


def _cifar_names(name):
    def names(path, label="fine", **_):
        return class_names(path, name, label)
    return names


def _svhn(path, split, **_):
    return read_svhn(path, split)


DIGITS = [str(d) for d in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_SVHN_SCALE = 0.0039215684          # 1/255 as the authors' prototxt writes it


def _lay(name, folder, channels, size, num_classes, dtype, note, transform=Transform(), command="",
         test="test", mean=False):
    return DataLayout(name, f"data/{folder}/train_lmdb", f"data/{folder}/{test}_lmdb",
                      f"data/{folder}/mean.binaryproto" if mean else None, channels, size, size, num_classes, dtype,
                      note, transform, command)


_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz")


def _files(names, md5s):
    return tuple(RemoteFile(n, m) for n, m in zip(names, md5s))


DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("mnist", ("train", "test"), "gray", 10, _mnist, "MNIST idx files (.gz or raw), 1x28x28", DIGITS,
            Source(("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
                   _files(_MNIST_FILES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                                         "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
                   "LeCun et al.; the S3 copy is the one torchvision uses (yann.lecun.com often refuses downloads)"),
            (_lay("mnist", "mnist", 1, 28, 10, "uint8", "raw MNIST digits, 0-255, single channel",
                  command="python tools/to_lmdb.py mnist <MNIST_DIR> -o data/mnist"),
             _lay("mnist_norm", "mnist_norm", 1, 28, 10, "float",
                  "MNIST standardised with one global train mean/std (the authors' *_lmdb_norm2)",
                  command="python data_prep/mnist.py")),
            env="MNIST_DIR", local_dirs=("{data}/raw/mnist", "{shared}/data/mnist"), recipe_layout="mnist_norm"),
    Dataset("fashion-mnist", ("train", "test"), "gray", 10, _mnist, "Fashion-MNIST idx files, 1x28x28", FASHION_NAMES,
            Source(("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
                   _files(_MNIST_FILES, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                                         "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
                   "Zalando Research"),
            (_lay("fashion_mnist_norm", "fashion_mnist_norm", 1, 28, 10, "float", "Fashion-MNIST, prepared like mnist_norm",
                  command="python data_prep/mnist.py --dataset fashion-mnist"),),
            aliases=("fashion",), env="FASHION_MNIST_DIR",
            local_dirs=("/usr/share/datasets/fashion-mnist", "{data}/raw/fashion-mnist"),
            recipe_layout="fashion_mnist_norm"),
    Dataset("cifar10", ("train", "test"), "RGB", 10, _cifar("cifar10"),
            "CIFAR-10 python batches or .bin files (folder or .tar.gz), 3x32x32", _cifar_names("cifar10"),
            Source(("https://www.cs.toronto.edu/~kriz/",),
                   _files(("cifar-10-python.tar.gz",), ("c58f30108f718f92721af3b95e74349a",)),
                   "Krizhevsky; the binary version is cifar-10-binary.tar.gz (md5 c32a1d4ab5d03f1284b67883e8d87530)"),
            (_lay("cifar10", "cifar10", 3, 32, 10, "uint8",
                  "CIFAR-10, RGB uint8 (as convert_cifar_data) + per-pixel mean image (the 94.75 setup)",
                  Transform(mean_file=True), "python data_prep/cifar.py --dataset cifar10 --setup plain", mean=True),
             _lay("cifar10_zeropad", "cifar10_zeropad", 3, 40, 10, "float",
                  "CIFAR-10 per-channel standardised, zero-padded 4 px to 40x40 (95.x setup)",
                  Transform(crop_size=32), "python data_prep/cifar.py --dataset cifar10 --setup zeropad")),
            aliases=("cifar-10",)),
    Dataset("cifar100", ("train", "test"), "RGB", 100, _cifar("cifar100"),
            "CIFAR-100 python or binary, --label fine (100) or coarse (20), 3x32x32", _cifar_names("cifar100"),
            Source(("https://www.cs.toronto.edu/~kriz/",),
                   _files(("cifar-100-python.tar.gz",), ("eb9058c3a382ffc7106e4002c42a8d85",)),
                   "Krizhevsky; the binary version is cifar-100-binary.tar.gz (md5 03b5dce01913d631647c71ecec9e9cb8)"),
            (_lay("cifar100", "cifar100", 3, 32, 100, "uint8", "CIFAR-100 (fine labels), RGB uint8 + mean image",
                  Transform(mean_file=True), "python data_prep/cifar.py --dataset cifar100 --setup plain", mean=True),
             _lay("cifar100_zeropad", "cifar100_zeropad", 3, 40, 100, "float",
                  "CIFAR-100 (fine labels) standardised, zero-padded to 40x40",
                  Transform(crop_size=32), "python data_prep/cifar.py --dataset cifar100 --setup zeropad")),
            aliases=("cifar-100",)),
    Dataset("svhn", ("train", "test", "extra"), "RGB", 10, _svhn,
            "SVHN format 2 .mat (train/test/extra; label 10 = digit 0), 3x32x32", DIGITS,
            Source(("http://ufldl.stanford.edu/housenumbers/",),
                   _files(("train_32x32.mat", "test_32x32.mat", "extra_32x32.mat"),
                          ("e26dedcc434d2e4c54c9b2d4a06d8373", "eb5a983be6a315427106f1b164d9cef3",
                           "a93ce644f1a588dc4d68dda5feec44a7")),
                   "Netzer et al., format 2 (cropped 32x32 digits); extra is 1.3 GB"),
            (_lay("svhn", "svhn", 3, 32, 10, "uint8",
                  "SVHN train+extra (604,388) and test (26,032), RGB uint8; nets scale by 1/255",
                  Transform(scale=_SVHN_SCALE), "python data_prep/svhn.py"),)),
    Dataset("folder", ("train",), "BGR", None, None,
            "image folder with one subfolder per class, or --list FILE (path label) under the folder",
            layouts=(_lay("imagenet", "imagenet", 3, 256, 1000, "uint8",
                          "ImageNet-style folders resized to 256, BGR uint8 + mean image",
                          Transform(crop_size=227, mean_file=True), "python data_prep/imagenet.py TRAIN_DIR VAL_DIR",
                          test="val", mean=True),),
            aliases=("imagefolder", "list")),
]}

#: every layout by name (a view of the records above)
LAYOUTS: dict[str, DataLayout] = {}
for _d in DATASETS.values():
    for _l in _d.layouts:
        LAYOUTS[_l.name] = DataLayout(**{**_l.__dict__, "dataset": _d.name})


def get(name: str) -> Dataset:
    key = name.lower().replace("_", "-")
    for d in DATASETS.values():
        if key == d.name or key in d.aliases:
            return d
    raise unknown("dataset", name, [*DATASETS, *(a for d in DATASETS.values() for a in d.aliases)])
