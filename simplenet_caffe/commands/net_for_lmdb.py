"""``simplenet-net-for-lmdb``: train_val, deploy and solver of a SimpleNet variant for your own LMDBs.

The number of classes, the input shape and the data layer's mean/scale/crop/mirror come from the
preprocess.json beside the LMDBs (tools/to_lmdb.py and data_prep/ write it); the solver is a
paper experiment's schedule (--schedule; default: the first experiment that trains the
variant) with test_iter fitted to the test LMDB. Both nets are built by Caffe before anything is
written. Then train with tools/train.py OUT/solver.prototxt (or caffe train -solver ...).

  tools/net_for_lmdb.py --variant s300a --train data/mnist_norm/train_lmdb --test data/mnist_norm/test_lmdb --out mynet
  tools/net_for_lmdb.py --list-variants
"""
from __future__ import annotations

import argparse

from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets import arch, owndata


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return v
    return parse


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--variant", default="s300a", help="SimpleNet variant (default s300a; see --list-variants)")
    ap.add_argument("--train", help="training LMDB (preprocess.json beside it)")
    ap.add_argument("--test", help="test LMDB")
    ap.add_argument("--out", help="folder for train_val.prototxt, deploy.prototxt, solver.prototxt")
    ap.add_argument("--name", default="own", help="net/run name (snapshots in OUT/snapshots/NAME; default own)")
    ap.add_argument("--schedule", help="experiment whose solver schedule to use (default: the variant's first)")
    ap.add_argument("--classes", type=_positive(int), help="number of classes (default: from preprocess.json)")
    ap.add_argument("--batch-size", type=_positive(int), help="train batch (default: the schedule experiment's)")
    ap.add_argument("--test-batch", type=_positive(int), help="test batch (default: the schedule experiment's)")
    ap.add_argument("--max-iter", type=_positive(int), help="iterations (default: the schedule's)")
    ap.add_argument("--base-lr", type=_positive(float), help="base learning rate (default: the schedule's)")
    ap.add_argument("--cpu", action="store_true", help="solver_mode CPU (default: the schedule's, usually GPU)")
    ap.add_argument("--list-variants", action="store_true", help="list the variants and exit")
    a = ap.parse_args(argv)

    if a.list_variants:
        for v in arch.VARIANTS.values():
            print(f"{v.name:<18} {v.spec_id:<16} {v.source}")
        return 0
    missing = [o for o in ("train", "test", "out") if not getattr(a, o)]
    if missing:
        raise UserError("give " + ", ".join(f"--{o}" for o in missing))
    exp = owndata.experiment_for(a.variant, a.train, a.test, name=a.name, schedule=a.schedule, num_classes=a.classes,
                                 train_batch=a.batch_size, test_batch=a.test_batch, max_iter=a.max_iter,
                                 base_lr=a.base_lr, cpu=a.cpu)
    files = owndata.write(exp, a.out)
    c, h, w = exp.input_shape
    print(f"variant {a.variant}: {exp.num_classes} classes, input {c}x{h}x{w}, {exp.reported_note}, "
          f"max_iter {exp.schedule.max_iter}, test {exp.schedule.test_iter} x {exp.data.test_batch}")
    for kind, path in files.items():
        print(f"wrote {path}")
    return 0


def entry() -> None:
    """The ``simplenet-net-for-lmdb`` command (also ``tools/net_for_lmdb.py``)."""
    run(main)
