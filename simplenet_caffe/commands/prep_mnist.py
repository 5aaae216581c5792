"""MNIST / Fashion-MNIST for SimpleNet: float LMDBs standardised with one global train mean/std.

Writes data/mnist_norm/{train,test}_lmdb (or data/fashion_mnist_norm/...) and preprocess.json
beside them: float Datums 1x28x28, (pixel - mean) / std with the mean and std of all training
pixels on the 0-255 scale (the authors' mnist_*_lmdb_norm2; docs/spec.md §6.4). One channel,
so no channel-order question. Keys keep the original order.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.data import recipes
from simplenet_caffe.paths import DATA_DIR


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    ap.add_argument("--src", metavar="DIR",
                    help="folder with the idx files (.gz or raw). Default: $MNIST_DIR, data/raw/mnist, "
                         "../shared/data/mnist (fashion-mnist: $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist, "
                         "data/raw/fashion-mnist), else download with checksum into --raw-dir")
    ap.add_argument("--raw-dir", metavar="DIR", help="where downloads go (default data/raw/<dataset>)")
    ap.add_argument("--root", default=None, help="write under this folder instead of the repo root (data/... below it)")
    ap.add_argument("--limit-train", type=int, default=None, metavar="N", help="use only the first N training images")
    ap.add_argument("--limit-test", type=int, default=None, metavar="N", help="use only the first N test images")
    ap.add_argument("--no-download", action="store_true", help="fail instead of downloading when no local copy exists")
    ap.add_argument("--force", action="store_true", help="overwrite existing LMDBs")
    a = ap.parse_args(argv)
    raw = Path(a.raw_dir) if a.raw_dir else DATA_DIR / "raw" / a.dataset
    src = recipes.find_mnist_source(a.dataset, a.src, raw, not a.no_download)
    print(f"reading {a.dataset} from {src}")
    rec = recipes.prepare_mnist(src, a.dataset, root=a.root, force=a.force,
                                limit_train=a.limit_train, limit_test=a.limit_test)
    print(f"recipe written to {Path(rec.splits['train']['path']).parent / 'preprocess.json'}")


def entry() -> None:
    """The ``simplenet-prep-mnist`` command (also ``data_prep/mnist.py``)."""
    run(main)
