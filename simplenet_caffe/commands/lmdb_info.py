"""``simplenet-lmdb-info``: what an LMDB of Caffe Datums holds.

Count, shape(s) (CxHxW), dtype (uint8, float32 or encoded PNG/JPEG), channel order and class
names (from the dataset's preprocess.json), a label histogram, and with -o a PNG grid of the
first records titled with their labels.

  tools/lmdb_info.py data/mnist_norm/test_lmdb
  tools/lmdb_info.py data/cifar10/train_lmdb -o cifar10_samples.png --samples 36
"""
from __future__ import annotations

import argparse

from simplenet_caffe.cli import run
from simplenet_caffe.data import lmdbinfo
from simplenet_caffe.errors import UserError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("lmdb", help="LMDB folder (the one holding data.mdb)")
    ap.add_argument("-o", "--out", help="write a PNG grid of sample images here")
    ap.add_argument("--samples", type=int, default=64, help="images in the grid (the first N records; default 64)")
    ap.add_argument("--limit", type=int, help="survey only the first N records (default: all)")
    a = ap.parse_args(argv)

    if a.limit is not None and a.limit < 1:
        raise UserError(f"--limit must be at least 1, got {a.limit}")
    info = lmdbinfo.survey(a.lmdb, a.limit)
    print("\n".join(info.lines()))
    if a.out:
        print(f"wrote {lmdbinfo.grid_png(a.lmdb, a.out, a.samples, info)}")
    return 0


def entry() -> None:
    """The ``simplenet-lmdb-info`` command (also ``tools/lmdb_info.py``)."""
    run(main)
