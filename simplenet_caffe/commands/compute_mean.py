"""Mean and std of an LMDB: writes mean.binaryproto, mean.npy and mean.json.

Like Caffe's compute_image_mean, plus what it lacks: float64 sums (exact on large sets),
per-channel std, an .npy copy and a JSON with the per-channel values. The .binaryproto is a
1xCxHxW BlobProto usable as transform_param { mean_file: ... } and by pycaffe. Values are in
the DB's units (0-255 for uint8 DBs) and its channel order (see preprocess.json).

  compute_mean.py data/cifar10/train_lmdb              # -> data/cifar10/mean.*
  compute_mean.py data/x/train_lmdb -o out/ --stem train_mean
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simplenet_caffe.atomic import output_lock
from simplenet_caffe.data import preprocess, stats
from simplenet_caffe.data.preprocess import RECIPE_FILE
from simplenet_caffe.cli import run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lmdb", help="LMDB folder of Datum records (uint8, float or encoded)")
    ap.add_argument("-o", "--out", help="where to write (default: the folder holding the LMDB)")
    ap.add_argument("--stem", default="mean", help="file name stem (default mean -> mean.binaryproto ...)")
    a = ap.parse_args(argv)
    db = Path(a.lmdb)
    out = Path(a.out or db.parent)
    order = None
    if (db.parent / RECIPE_FILE).is_file():
        order = preprocess.load(db.parent).channel_order
    with output_lock(out / a.stem):       # two runs writing the same mean files: the second is refused
        st = stats.lmdb_stats(db)
        paths = stats.write_mean_files(out, st, order, a.stem, extra={"source": str(db)})
    print("\n".join(st.lines(order if order != "gray" else None)))
    for p in paths.values():
        print(f"wrote {p}")


def entry() -> None:
    """The ``simplenet-compute-mean`` command (also ``tools/compute_mean.py``)."""
    run(main)
