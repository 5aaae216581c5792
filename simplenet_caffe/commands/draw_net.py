"""Draw a Caffe net prototxt as a picture (Graphviz), each layer with its output shape and params.

  tools/draw_net.py prototxt/mnist_s300a_deploy.prototxt plots/mnist_s300a.png
  tools/draw_net.py --experiment cifar10_s460 plots/s460.svg --rankdir LR
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("args", nargs="+", metavar="[NET] OUT",
                    help="net prototxt and output picture (.png/.svg/.pdf/.dot); with --experiment only OUT")
    ap.add_argument("--experiment", help="draw the generated deploy net of this experiment")
    ap.add_argument("--phase", default="TRAIN", choices=["TRAIN", "TEST"])
    ap.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"])
    a = ap.parse_args(argv)

    from simplenet_caffe.nets import drawing, netbuilder
    from simplenet_caffe.nets.experiments import EXPERIMENTS

    if a.experiment:
        if len(a.args) != 1:
            raise UserError("with --experiment give only the output picture")
        if a.experiment not in EXPERIMENTS:
            raise UserError(f"unknown experiment {a.experiment!r}; see tools/gen_prototxt.py --list")
        net = netbuilder.deploy_net(EXPERIMENTS[EXPERIMENTS[a.experiment].net_experiment])
        out = a.args[0]
    else:
        if len(a.args) != 2:
            raise UserError("give a net prototxt and an output picture")
        net, out = a.args
    path = drawing.draw(net, Path(out), phase=a.phase, rankdir=a.rankdir)
    print(f"wrote {path}")
    return 0


def entry() -> None:
    """The ``simplenet-draw-net`` command (also ``tools/draw_net.py``)."""
    run(main)
