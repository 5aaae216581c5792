#!/usr/bin/env python3
"""MNIST / Fashion-MNIST for SimpleNet: float LMDBs standardised with one global train mean/std.

Writes data/mnist_norm/{train,test}_lmdb (or data/fashion_mnist_norm/...) and preprocess.json
beside them: float Datums 1x28x28, (pixel - mean) / std with the mean and std of all training
pixels on the 0-255 scale (the authors' mnist_*_lmdb_norm2; spec section 6.4). One channel,
so no channel-order question. Keys keep the original order.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simplenet_caffe import download, recipes  # noqa: E402
from simplenet_caffe.cli import UserError, run  # noqa: E402
from simplenet_caffe.paths import DATA_DIR, SHARED_DIR  # noqa: E402

CANDIDATES = {
    "mnist": lambda: [os.environ.get("MNIST_DIR"), DATA_DIR / "raw" / "mnist", SHARED_DIR / "data" / "mnist"],
    "fashion-mnist": lambda: [os.environ.get("FASHION_MNIST_DIR"), "/usr/share/datasets/fashion-mnist",
                              DATA_DIR / "raw" / "fashion-mnist"],
}


def find_source(dataset: str, given: str | None, allow_download: bool) -> Path:
    if given:
        return Path(given)
    for cand in CANDIDATES[dataset]():
        if cand and (Path(cand) / "train-images-idx3-ubyte.gz").is_file():
            return Path(cand)
    if not allow_download:
        raise UserError(f"no local {dataset} files found (looked in {', '.join(str(c) for c in CANDIDATES[dataset]() if c)}); "
                        "give --mnist-dir or drop --no-download")
    return download.download(dataset)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    ap.add_argument("--mnist-dir", "--src", dest="src", metavar="DIR",
                    help="folder with the idx files (.gz or raw). Default: $MNIST_DIR, data/raw/mnist, "
                         "../shared/data/mnist (fashion-mnist: $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist, "
                         "data/raw/fashion-mnist), else download with checksum")
    ap.add_argument("--root", default=None, help="write under this folder instead of the repo root (data/... below it)")
    ap.add_argument("--limit-train", type=int, default=None, metavar="N", help="use only the first N training images")
    ap.add_argument("--limit-test", type=int, default=None, metavar="N", help="use only the first N test images")
    ap.add_argument("--no-download", action="store_true", help="fail instead of downloading when no local copy exists")
    ap.add_argument("--force", action="store_true", help="overwrite existing LMDBs")
    a = ap.parse_args(argv)
    src = find_source(a.dataset, a.src, not a.no_download)
    print(f"reading {a.dataset} from {src}")
    rec = recipes.prepare_mnist(src, a.dataset, root=a.root, force=a.force,
                                limit_train=a.limit_train, limit_test=a.limit_test)
    print(f"recipe written to {Path(rec.splits['train']['path']).parent / 'preprocess.json'}")


if __name__ == "__main__":
    run(main)
