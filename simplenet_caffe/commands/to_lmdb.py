"""Convert a dataset to Caffe LMDBs of Datum records: one CLI over every reader.

  to_lmdb.py mnist ../shared/data/mnist -o data/mnist          # data/mnist/{train,test}_lmdb
  to_lmdb.py mnist data/raw/mnist -o data/mnist --download     # fetch (MD5-checked), then convert
  to_lmdb.py cifar10 cifar-10-python.tar.gz -o data/c10 --mean # + mean.binaryproto/.npy/.json
  to_lmdb.py cifar100 cifar-100-binary -o data/c100 --label coarse
  to_lmdb.py svhn data/raw/svhn -o data/svhn --split train+extra --split test
  to_lmdb.py folder photos/ -o data/photos --resize 256x256 --resize-mode crop --shuffle --seed 1
  to_lmdb.py folder images/ -o data/val --list val.txt --split val --encoded jpg
  to_lmdb.py folder photos/train -o data/photos                  # fixes the label map (folder names)
  to_lmdb.py folder photos/val -o data/photos --split val        # checked against it, never renumbered

Channel order of the stored records (recorded in <out>/preprocess.json):
  mnist, fashion-mnist  one channel
  cifar10/100, svhn     RGB -- the files' own order, which Caffe's convert_cifar_data keeps, so
                        the authors' CIFAR nets were trained on RGB
  folder                BGR -- OpenCV's order, as convert_imageset and the authors' ImageNet LMDBs
  --encoded             always BGR (Caffe decodes PNG/JPEG with OpenCV)
Keys are %08d in write order (folders: %08d_<path>); raw pixels stay 0-255 uint8.
<out> appears complete or not at all (a failed or interrupted run, --force included, leaves what
was there); a second run on the same <out> while one runs is refused.
"""
from __future__ import annotations

import argparse
import os

# Conversion does no BLAS work; one OpenBLAS thread saves ~50 ms of numpy import (its thread pool).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.data import download, layout
from simplenet_caffe.data.convert import convert_dataset
from simplenet_caffe.data.layout import DATASETS
from simplenet_caffe.data.preprocess import MAX_PIXELS, RESIZE_MODES


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="datasets: " + "; ".join(f"{d.name}: {d.about}" for d in DATASETS.values()))
    ap.add_argument("dataset", help="dataset name or format: " + ", ".join(DATASETS))
    ap.add_argument("src", help="input folder or file (idx folder, CIFAR folder/.tar.gz, SVHN folder/.mat, image root)")
    ap.add_argument("stray", nargs="?", help=argparse.SUPPRESS)  # convert_imageset's positional output
    ap.add_argument("-o", "--out", help="output folder (required); DBs are written as <out>/<split>_lmdb")
    ap.add_argument("--split", action="append", help="split(s) to convert (repeatable; a+b concatenates, e.g. "
                    "train+extra). Default: all standard splits; folders: 'train' (names the output)")
    ap.add_argument("--list", dest="list_file", help="folder datasets: Caffe list file 'path label' (paths relative to src)")
    ap.add_argument("--labels", dest="labels_file", metavar="FILE",
                    help="folder datasets: the label map, one class name per line (line N = label N); default: "
                         "the train split's subfolder names, kept in <out>/preprocess.json for every later split")
    ap.add_argument("--label", choices=["fine", "coarse"], default="fine", help="CIFAR-100 label set (default fine)")
    ap.add_argument("--shuffle", action="store_true", help="shuffle records (seeded: the same order on every machine)")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    ap.add_argument("--resize", metavar="WxH|N", help="resize to WxH, or N = shorter side to N keeping aspect")
    ap.add_argument("--resize-mode", choices=[m for m in RESIZE_MODES if m != "shorter"], default="squash",
                    help="squash: exactly WxH (Caffe); crop: fill WxH and centre-crop; fill: fit and pad black")
    ap.add_argument("--gray", action="store_true", help="store one gray channel (honoured with --encoded too)")
    ap.add_argument("--encoded", nargs="?", const="png", choices=["png", "jpg"],
                    help="store PNG (default) or JPEG bytes, with channels/height/width set")
    ap.add_argument("--channel-order", choices=["RGB", "BGR"], help="override the stored colour order (see above)")
    ap.add_argument("--mean", action="store_true", help="also write mean.binaryproto/.npy/.json of the first split")
    ap.add_argument("--limit", type=int, metavar="N", help="only the first N records of each split")
    ap.add_argument("--max-pixels", type=int, metavar="N", default=MAX_PIXELS,
                    help=f"folder datasets: refuse an image of more than N pixels before decoding it (default {MAX_PIXELS:,})")
    ap.add_argument("--force", action="store_true", help="overwrite existing DBs")
    ap.add_argument("--download", action="store_true", help="first fetch the official files into SRC (MD5-checked; "
                    "mnist, fashion-mnist, cifar10, cifar100, svhn); files already there with the right MD5 are kept")
    a = ap.parse_args(argv)
    if a.stray is not None or a.out is None:
        raise UserError("give the output folder with -o OUT" + (f" (-o {a.stray})" if a.stray else ""))
    if a.download:
        download.download(layout.get(a.dataset).name, a.src)
    convert_dataset(a.dataset, a.src, a.out, splits=a.split, list_file=a.list_file, label=a.label,
                    shuffle=a.shuffle, seed=a.seed, resize=a.resize, resize_mode=a.resize_mode, gray=a.gray,
                    encode=a.encoded, channel_order=a.channel_order, mean=a.mean, force=a.force, limit=a.limit,
                    labels_file=a.labels_file, max_pixels=a.max_pixels)


def entry() -> None:
    """The ``simplenet-to-lmdb`` command (also ``tools/to_lmdb.py``)."""
    run(main)
