"""SVHN for SimpleNet (docs/spec.md §6.5): data/svhn/{train,test}_lmdb, uint8 3x32x32.

Training set = train + extra (604,388 images; the maintainer's instruction for reproducing
the paper), test = the full 26,032-image test split. No mean or std: the nets scale by 1/255
in the data layer. Label 10 in the .mat files means digit 0 and is stored as 0. Channel order
RGB (the files' order, like CIFAR). The training records are shuffled with a fixed seed
(Caffe reads in key order; train and extra differ in difficulty); --no-shuffle keeps file order.
Input: folder with train_32x32.mat, test_32x32.mat, extra_32x32.mat (format 2); default
data/raw/svhn/, downloaded with checksum when missing (extra is 1.3 GB; needs ~4 GB RAM).
"""
from __future__ import annotations

import argparse

from simplenet_caffe.data import download, recipes
from simplenet_caffe.cli import run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", help="folder with the format 2 .mat files (default data/raw/svhn, downloaded when absent)")
    ap.add_argument("--no-extra", action="store_true", help="train on train_32x32.mat only (73,257 images)")
    ap.add_argument("--no-shuffle", action="store_true", help="keep file order (train, then extra)")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    ap.add_argument("--channel-order", choices=["RGB", "BGR"], default="RGB")
    ap.add_argument("--root", help="write under this folder instead of the repo root")
    ap.add_argument("--limit", type=int, metavar="N", help="only the first N records of each split")
    ap.add_argument("--no-download", action="store_true")
    ap.add_argument("--force", action="store_true", help="overwrite existing LMDBs")
    a = ap.parse_args(argv)
    src = a.src
    if src is None:
        raw = download.raw_dir("svhn")
        files = None if not a.no_extra else ["train_32x32.mat", "test_32x32.mat"]
        src = raw if a.no_download else download.download("svhn", files=files)
    recipes.prepare_svhn(src, root=a.root, force=a.force, extra=not a.no_extra, shuffle=not a.no_shuffle,
                         seed=a.seed, channel_order=a.channel_order, limit=a.limit)


def entry() -> None:
    """The ``simplenet-prep-svhn`` command (also ``data_prep/svhn.py``)."""
    run(main)
