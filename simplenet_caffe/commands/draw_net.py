"""Draw a Caffe net prototxt as a picture (Graphviz), each layer with its output shape and params.

  tools/draw_net.py prototxt/mnist_s300a_deploy.prototxt -o plots/mnist_s300a.png
  tools/draw_net.py --experiment cifar10_s460 -o plots/s460.svg --rankdir LR
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets import drawing, experiments, netbuilder
from simplenet_caffe.nets.experiments import EXPERIMENTS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("net", nargs="*", metavar="NET", help="net prototxt (not with --experiment)")
    ap.add_argument("-o", "--out", help="the picture to write: .png, .svg, .pdf or .dot")
    ap.add_argument("--experiment", help="draw the generated deploy net of this experiment")
    ap.add_argument("--phase", default="TRAIN", choices=["TRAIN", "TEST"])
    ap.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"])
    a = ap.parse_args(argv)

    if a.out is None:  # Caffe's draw_net.py takes NET OUT
        raise UserError("give the picture to write with -o OUT" + (f" (-o {a.net[-1]})" if a.net else ""))
    if a.experiment:
        if a.net:
            raise UserError("give either a net prototxt or --experiment, not both")
        net = netbuilder.deploy_net(EXPERIMENTS[experiments.get(a.experiment).net_experiment])
    else:
        if len(a.net) != 1:
            raise UserError("give one net prototxt (or --experiment NAME) and -o OUT")
        net = a.net[0]
    path = drawing.draw(net, Path(a.out), phase=a.phase, rankdir=a.rankdir)
    print(f"wrote {path}")
    return 0


def entry() -> None:
    """The ``simplenet-draw-net`` command (also ``tools/draw_net.py``)."""
    run(main)
