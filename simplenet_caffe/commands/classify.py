"""Classify image files with a deploy net: top-k labels with probabilities.

  classify.py --model prototxt/mnist_s300a_deploy.prototxt --weights W.caffemodel digit.png ...

The preprocessing is the one the training LMDB recorded (its preprocess.json: channel order,
resize, gray, mean/std, zero pad, and the data layer's TEST transform: center crop, mean file,
scale), read from one place -- never re-typed. For a generated <experiment>_deploy.prototxt the
recipe is found from the experiment's dataset layout; otherwise pass --preprocess with a layout
name (e.g. mnist_norm), a DB folder or a preprocess.json path.

Images are read with OpenCV (BGR, 0-255); PNG, JPEG, BMP, TIFF... Output: one line per image,
or --json for a machine-readable list.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files")
    ap.add_argument("--model", required=True, help="deploy prototxt (Input -> ... -> Softmax)")
    ap.add_argument("--weights", required=True, help=".caffemodel")
    ap.add_argument("--preprocess", help="layout name, DB folder or preprocess.json (default: from the experiment)")
    ap.add_argument("--labels", help="text file with one class name per line (default: class indices)")
    ap.add_argument("-k", "--top-k", type=int, default=3, help="how many classes to show (default 3)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    a = ap.parse_args(argv)

    from simplenet_caffe.runs import classification

    names = None
    if a.labels:
        try:
            names = [ln.strip() for ln in Path(a.labels).read_text().splitlines() if ln.strip()]
        except OSError as e:
            raise UserError(f"cannot read --labels: {e}") from e
    results = classification.classify_files(a.model, a.weights, a.images, recipe=a.preprocess, top_k=a.top_k)
    if a.json:
        print(json.dumps([{"image": str(img), "top": [{"class": c, "name": names[c] if names else str(c),
                                                     "prob": p} for c, p in top]} for img, top in results], indent=2))
    else:
        for img, top in results:
            shown = ", ".join(f"{names[c] if names else c} ({p:.4f})" for c, p in top)
            print(f"{img}: {shown}")
    return 0


def entry() -> None:
    """The ``simplenet-classify`` command (also ``tools/classify.py``)."""
    run(main)
