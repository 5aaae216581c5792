"""CIFAR-10 / CIFAR-100 for SimpleNet, in the authors' two setups (docs/spec.md §4 and §6).

  plain    data/<ds>/{train,test}_lmdb uint8 + data/<ds>/mean.binaryproto (per-pixel train
           mean; the data layer subtracts it and mirrors): the CIFAR-10 "94.75" setup.
  zeropad  data/<ds>_zeropad/{train,test}_lmdb float 3x40x40: per-channel mean/std of all train
           pixels (0-255), standardised, then 4 zero pixels per side; the data layer crops 32
           (random in TRAIN, centre in TEST): the "95.16/95.32", slim and CIFAR-100 setup.

Channel order RGB (the files' order; Caffe's convert_cifar_data keeps it, so the authors' nets
saw RGB). CIFAR-100 uses the fine labels (for coarse labels use tools/to_lmdb.py --label coarse).
Input: the python or binary version, extracted folder or .tar.gz; default data/raw/<ds>/,
downloaded with checksum when missing.
"""
from __future__ import annotations

import argparse

from simplenet_caffe.data import download, recipes
from simplenet_caffe.cli import run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["cifar10", "cifar100"], default="cifar10")
    ap.add_argument("--src", help="CIFAR folder or .tar.gz (python or binary). Default: data/raw/<dataset>/, "
                    "downloaded when absent")
    ap.add_argument("--setup", choices=["plain", "zeropad", "both"], default="both")
    ap.add_argument("--channel-order", choices=["RGB", "BGR"], default="RGB")
    ap.add_argument("--root", help="write under this folder instead of the repo root")
    ap.add_argument("--limit-train", type=int, metavar="N")
    ap.add_argument("--limit-test", type=int, metavar="N")
    ap.add_argument("--no-download", action="store_true")
    ap.add_argument("--force", action="store_true", help="overwrite existing LMDBs")
    a = ap.parse_args(argv)
    src = a.src
    if src is None:
        raw = download.raw_dir(a.dataset)
        src = raw if (raw.is_dir() and any(raw.iterdir())) or a.no_download else download.download(a.dataset)
    recipes.prepare_cifar(src, a.dataset, a.setup, root=a.root, force=a.force, channel_order=a.channel_order,
                          limit_train=a.limit_train, limit_test=a.limit_test)


def entry() -> None:
    """The ``simplenet-prep-cifar`` command (also ``data_prep/cifar.py``)."""
    run(main)
