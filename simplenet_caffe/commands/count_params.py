"""Per-layer and total parameter / MAC / Netscope counts of a Caffe net prototxt.

Conventions (see simplenet_caffe/nets/counting.py): full learnable (conv W+b, IP W+b, Scale
gamma+beta), weights only (conv+IP W), BN stored floats (2C+1 per BatchNorm), caffemodel floats
(learnable + BN stored), Netscope params (BN counted as 2C, Scale as 0); MACs = conv+IP
multiply-accumulates per image; Netscope columns MACC/COMP/ADD/DIV/EXP/activations/size MB.

  tools/count_params.py prototxt/cifar10_a5m_zeropad_train_val.prototxt
  tools/count_params.py --experiment imagenet_6p4m --format json -o counts.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simplenet_caffe.atomic import write_atomic
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets import counting, experiments, netbuilder
from simplenet_caffe.nets.experiments import EXPERIMENTS


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(x) for x in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W (e.g. 3,32,32), got {text!r}") from None
    if len(dims) != 3 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"expected three positive numbers C,H,W, got {text!r}")
    return dims


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("net", nargs="?", help="net prototxt (train_val or deploy)")
    ap.add_argument("--experiment", help="count the generated deploy net of this experiment instead")
    ap.add_argument("--phase", default="TRAIN", choices=["TRAIN", "TEST"], help="phase filter (default TRAIN, "
                    "like Netscope)")
    ap.add_argument("--input-shape", type=_shape, metavar="C,H,W",
                    help="shape of the data top (default: from the Input layer, or the Data layer's layout + crop)")
    ap.add_argument("--format", default="table", choices=["table", "json", "csv"])
    ap.add_argument("-o", "--out", type=Path, help="write to this file instead of stdout")
    args = ap.parse_args(argv)
    if bool(args.net) == bool(args.experiment):
        raise UserError("give a net prototxt or --experiment NAME (exactly one)")

    if args.experiment:
        net = netbuilder.deploy_net(EXPERIMENTS[experiments.get(args.experiment).net_experiment])
    else:
        net = args.net
    c = counting.count_prototxt(net, phase=args.phase, input_shape=args.input_shape)
    text = {"table": c.to_table, "json": c.to_json, "csv": c.to_csv}[args.format]()
    if args.out:
        write_atomic(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def entry() -> None:
    """The ``simplenet-count-params`` command (also ``tools/count_params.py``)."""
    run(main)
