"""Classify image files with a deploy net: top-k labels with probabilities.

  classify.py --model prototxt/mnist_s300a_deploy.prototxt --weights W.caffemodel digit.png ...

The preprocessing is read from the two places that record it -- never re-typed: the training
LMDB's preprocess.json (channel order, resize, gray, mean/std, zero pad) and the net's TEST data
layer (center crop, mean file/values, scale), as evaluate.py takes it: from --transform-from (a
train_val net) or, for a generated <experiment>_deploy.prototxt, the <experiment>_train_val.prototxt
beside it. For a generated deploy net the recipe is found from the experiment's dataset layout;
otherwise pass --preprocess with a layout name (e.g. mnist_norm), a DB folder or a
preprocess.json path. Class names come from that preprocess.json (or --labels).

Weights that do not fit the net (a caffemodel of another net) are refused by name unless
--allow-partial.

Images are read with OpenCV (BGR, 0-255); PNG, JPEG, BMP, TIFF... Output: one line per image,
or --json for a machine-readable list.
"""
from __future__ import annotations

import argparse
import json

from simplenet_caffe.cli import run
from simplenet_caffe.runs import classification


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files")
    ap.add_argument("--model", required=True, help="deploy prototxt (Input -> ... -> Softmax)")
    ap.add_argument("--weights", required=True, help=".caffemodel")
    ap.add_argument("--preprocess", help="layout name, DB folder or preprocess.json (default: from the experiment)")
    ap.add_argument("--transform-from", metavar="TRAIN_VAL", help="take the TEST transform from this train_val net")
    ap.add_argument("--labels", help="text file with one class name per line (default: the dataset's class names)")
    ap.add_argument("-k", "--top-k", type=int, default=3, help="how many classes to show (default 3)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    ap.add_argument("--allow-partial", action="store_true",
                    help="accept weights that cover only some of the net's layers (the others keep random fillers)")
    a = ap.parse_args(argv)

    results = classification.classify_files(a.model, a.weights, a.images, recipe=a.preprocess, top_k=a.top_k,
                                            transform_from=a.transform_from, allow_partial=a.allow_partial)
    names = classification.class_names(a.model, a.preprocess, a.labels)
    name = (lambda c: names[c] if c < len(names) else str(c)) if names else str
    if a.json:
        print(json.dumps([{"image": r.image, "top": [{"class": c, "name": name(c), "prob": p} for c, p in r.top]}
                          for r in results], indent=2))
    else:
        for r in results:
            print(f"{r.image}: " + ", ".join(f"{name(c)} ({p:.4f})" for c, p in r.top))
    return 0


def entry() -> None:
    """The ``simplenet-classify`` command (also ``tools/classify.py``)."""
    run(main)
