"""ImageNet-style image folders for SimpleNet (docs/spec.md §6.6): data/imagenet/{train,val}_lmdb
(BGR uint8, SIZExSIZE) + data/imagenet/mean.binaryproto (per-pixel train mean, float64 sums).

Input: a train folder with one subfolder per class (labels = sorted folder names, written to
data/imagenet/labels.txt) and optionally a val folder with the same classes -- or Caffe list
files (path label, paths relative to the folder; spaces allowed) via --train-list/--val-list.
Resize: --mode crop (default: shorter side to SIZE, centre square) or squash (SIZExSIZE, as
create_imagenet.sh). The data layer then crops 227 and subtracts the mean. Train records are
shuffled with a fixed seed (as create_imagenet.sh's --shuffle, but reproducible).
"""
from __future__ import annotations

import argparse

from simplenet_caffe.data import recipes
from simplenet_caffe.data.preprocess import MAX_PIXELS
from simplenet_caffe.cli import run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train", help="training image folder (class subfolders, or the root of --train-list paths)")
    ap.add_argument("val", nargs="?", help="validation image folder (same classes), optional")
    ap.add_argument("--train-list", help="Caffe list file for the training images")
    ap.add_argument("--val-list", help="Caffe list file for the validation images")
    ap.add_argument("--labels", metavar="FILE", help="the label map: one class name per line (line N = label N); "
                    "default: the sorted train subfolder names. The val folder is checked against it")
    ap.add_argument("--size", type=int, default=256, help="output side in pixels (default 256)")
    ap.add_argument("--mode", choices=["crop", "squash", "fill"], default="crop")
    ap.add_argument("--encoded", nargs="?", const="jpg", choices=["png", "jpg"], help="store JPEG/PNG bytes")
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, metavar="N", help="only the first N images of each split")
    ap.add_argument("--max-pixels", type=int, metavar="N", default=MAX_PIXELS,
                    help=f"refuse an image of more than N pixels before decoding it (default {MAX_PIXELS:,})")
    ap.add_argument("--root", help="write under this folder instead of the repo root")
    ap.add_argument("--force", action="store_true", help="overwrite existing LMDBs")
    a = ap.parse_args(argv)
    recipes.prepare_imagenet(a.train, a.val, a.train_list, a.val_list, root=a.root, force=a.force, size=a.size,
                             mode=a.mode, shuffle=not a.no_shuffle, seed=a.seed, encode=a.encoded, limit=a.limit,
                             labels_file=a.labels, max_pixels=a.max_pixels)


def entry() -> None:
    """The ``simplenet-prep-imagenet`` command (also ``data_prep/imagenet.py``)."""
    run(main)
