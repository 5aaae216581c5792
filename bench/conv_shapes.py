#!/usr/bin/env python3
"""Print the convolution shapes of a benchmark net, one line per Convolution layer, for
``bench/onednn_conv.cpp --shapes``.

The net is the one ``bench/bench_caffe.py`` times: the generated train_val prototxt's TRAIN-phase
layers fed by an Input of the bench batch (``simplenet_caffe.nets.timing``). Shapes come from
``simplenet_caffe.nets.counting`` (Caffe's own size rules, no pycaffe needed). Each line is
``name N C H W O KH KW SH SW PH PW G BD``: batch, input channels and size, output channels, kernel,
stride, padding (top/left = bottom/right, as Caffe pads), groups, and BD = 1 when Caffe computes
the layer's backward-data (0 for a convolution on the net's input, whose gradient no one needs).

    .venv/bin/python bench/conv_shapes.py mnist_s300a > /tmp/s300a.shapes
"""
from __future__ import annotations

import argparse
import sys

from simplenet_caffe.caffe_env import caffe_pb2
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets.counting import conv_geometry, count_prototxt
from simplenet_caffe.nets.timing import BENCH_NETS, input_chw, timing_net
from simplenet_caffe.paths import PROTOTXT_DIR


def conv_lines(stem: str, batch: int) -> list[str]:
    """One ``name N C H W O KH KW SH SW PH PW G BD`` line per Convolution layer of the timing net."""
    train_val, deploy = PROTOTXT_DIR / f"{stem}_train_val.prototxt", PROTOTXT_DIR / f"{stem}_deploy.prototxt"
    if not train_val.exists():
        raise UserError(f"no generated prototxt for {stem!r} ({train_val})")
    pb2 = caffe_pb2()
    net = timing_net(train_val, batch, input_chw(deploy, pb2), pb2)
    rows = {r.name: r for r in count_prototxt(net).rows}
    shapes: dict[str, tuple] = {}  # blob -> (C, H, W) per image, as the layers run in order
    lines = []
    for lp in net.layer:
        if lp.name not in rows:
            continue
        if lp.type == "Convolution":
            c, h, w = shapes[lp.bottom[0]]
            if h != w:
                raise UserError(f"layer {lp.name!r}: input {h}x{w} is not square, which onednn_conv.cpp assumes")
            g = conv_geometry(lp.convolution_param)
            if (g.dh, g.dw) != (1, 1):
                raise UserError(f"layer {lp.name!r}: dilated convolutions are not timed")
            lines.append(f"{lp.name} {batch} {c} {h} {w} {lp.convolution_param.num_output} "
                         f"{g.kh} {g.kw} {g.sh} {g.sw} {g.ph} {g.pw} {lp.convolution_param.group or 1} "
                         f"{int(lp.bottom[0] != net.layer[0].top[0])}")
        for top in lp.top:
            shapes[top] = rows[lp.name].shape
    return lines


def main(argv=None):
    nets = {n[1]: n[2] for n in BENCH_NETS}
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("net", help=f"prototxt stem ({', '.join(nets)}, or any generated net with --batch)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the bench batch of the net)")
    args = ap.parse_args(argv)
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be at least 1, not {args.batch}")
    batch = args.batch or nets.get(args.net)
    if batch is None:
        raise UserError(f"{args.net!r} is not a bench net ({', '.join(nets)}): give --batch N")
    sys.stdout.write("".join(line + "\n" for line in conv_lines(args.net, batch)))


if __name__ == "__main__":
    run(main)
