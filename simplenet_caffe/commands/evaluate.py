"""Evaluate Caffe weights on an LMDB: top-1 (and top-5 with more than 5 classes), per-class
accuracy, confusion matrix (CSV and PNG), summary JSON.

  evaluate.py --model prototxt/mnist_s300a_train_val.prototxt --weights W.caffemodel
  evaluate.py --model prototxt/cifar10_a5m_zeropad_deploy.prototxt --weights W.caffemodel \\
              --data data/cifar10_zeropad/test_lmdb --transform-from prototxt/cifar10_a5m_zeropad_train_val.prototxt

--model is a deploy net or a train_val net. A train_val net's TEST data layer gives the default
--data and the transform (center crop, mean file/values, scale) that Caffe applies; a deploy net
takes the transform from --transform-from (a train_val net) or, for a generated
<experiment>_deploy.prototxt, from the matching <experiment>_train_val.prototxt beside it.

Deterministic by default: no test-time mirroring, even where the net's TEST layer has
mirror: true. --mirror random flips each image with probability 1/2 from --seed, which
reproduces the authors' random-mirror test (the CIFAR-10 "95.32" result); --mirror all flips all.

Works with caffemodels trained by this toolkit and with the authors' released caffemodels of the
same variants (layer names match). Weights that do not fit the net -- a layer whose blob shapes
differ, or layers with no weights in the file (a caffemodel of another net) -- are refused by
name (exit 2) unless --allow-partial (then a warning). Top-1/top-5 are computed as Caffe's
Accuracy layer does (ties with the label count against it; ignore_label honoured). Class names
in per_class.csv and on the confusion matrix come from the dataset's preprocess.json.
--data prepared another way than the net's own data (uint8 vs standardised floats, another
shape, channel order, mean/std: the first record and preprocess.json of both) is refused, or
scored with a warning under --allow-recipe-mismatch. NaN/Inf outputs are refused, never scored.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simplenet_caffe import caffe_env
from simplenet_caffe.cli import run
from simplenet_caffe.data.preprocess import class_names_for
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import PLOTS_DIR
from simplenet_caffe.runs import evaluation


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="deploy or train_val prototxt")
    ap.add_argument("--weights", required=True, help=".caffemodel")
    ap.add_argument("--data", help="LMDB to evaluate (default: the TEST data layer's source of a train_val net)")
    ap.add_argument("--transform-from", metavar="TRAIN_VAL", help="take the TEST transform from this train_val net")
    ap.add_argument("--batch-size", type=int, default=100, help="forward batch size (default 100)")
    ap.add_argument("--limit", type=int, help="evaluate only the first N records")
    ap.add_argument("--mirror", choices=["none", "random", "all"], default="none",
                    help="test-time horizontal flips (default none: deterministic)")
    ap.add_argument("--seed", type=int, default=0, help="seed of --mirror random (default 0)")
    ap.add_argument("-o", "--out", help="folder for confusion.csv/.png, per_class.csv, summary.json "
                    "(default plots/eval/<model name>)")
    ap.add_argument("--gpu", type=int, help="GPU id (default CPU)")
    ap.add_argument("--allow-recipe-mismatch", action="store_true",
                    help="score LMDB records prepared another way than the net's own data (uint8 vs standardised "
                         "float, another shape, channel order, mean/std) with a warning instead of refusing")
    ap.add_argument("--allow-partial", action="store_true",
                    help="accept weights that cover only some of the net's layers (the others keep random fillers)")
    a = ap.parse_args(argv)
    if a.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if a.limit is not None and a.limit < 1:
        raise UserError(f"--limit must be a positive number of records, got {a.limit}")
    if a.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {a.seed}")

    model = Path(a.model)
    if not model.is_file():
        raise UserError(f"model not found: {model}")
    caffe = caffe_env.import_caffe()
    if a.gpu is not None:
        caffe.set_mode_gpu()
        caffe.set_device(a.gpu)
    else:
        caffe.set_mode_cpu()
    en = evaluation.load_eval_net(model, a.weights, batch=a.batch_size, allow_partial=a.allow_partial)
    transform_src = evaluation.transform_net(model, a.transform_from)
    if transform_src is not None and transform_src != model:
        transform, source = evaluation.test_transform(transform_src)
        en.transform, en.source = transform, en.source or source
        print(f"transform from {transform_src}: {en.transform or 'none'}", file=sys.stderr)
    data = a.data or en.source
    if not data:
        raise UserError("no --data given and the model has no TEST data layer to take it from")
    if not evaluation.data_path(data).exists():
        raise UserError(f"LMDB not found: {data}")
    for note in en.notes:
        print(f"{'warning' if note.startswith('--allow-partial') else 'note'}: {note}", file=sys.stderr)
    for warning in evaluation.check_recipe(en, data, a.allow_recipe_mismatch):
        print(warning, file=sys.stderr)
    names = class_names_for(evaluation.data_path(data))
    if names is not None and len(names) != en.num_classes:
        raise UserError(f"the dataset of {data} names {len(names)} classes, the net has {en.num_classes}")
    res = evaluation.evaluate(en, data, limit=a.limit, mirror=a.mirror, seed=a.seed)
    out = Path(a.out) if a.out else PLOTS_DIR / "eval" / model.stem
    paths = evaluation.write_reports(res, out, title=model.stem, class_names=names)
    label = (lambda i: names[i]) if names else str
    print(f"records   {len(res.labels)}" + (f" ({res.ignored} with the ignore_label left out)" if res.ignored else ""))
    print(f"top-1     {res.topk(1):.6f}")
    if res.num_classes > 5:
        print(f"top-5     {res.topk(5):.6f}")
    worst = sorted(range(res.num_classes), key=lambda i: res.per_class()[i])[:3]
    print("lowest per-class accuracy: " + ", ".join(f"{label(i)}: {res.per_class()[i]:.4f}" for i in worst))
    for k, p in paths.items():
        print(f"{k:14s}{p}")
    return 0


def entry() -> None:
    """The ``simplenet-evaluate`` command (also ``tools/evaluate.py``)."""
    run(main)
