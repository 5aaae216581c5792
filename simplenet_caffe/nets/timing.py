"""Timing nets: a net's TRAIN-phase layers fed by an Input layer, for ``caffe time`` and
``caffe train`` speed runs without a dataset (bench/bench_caffe.py, the GPU bundle).

Blob convention as Caffe's: data N x C x H x W (float, the net's own preprocessing already
applied), label N.
"""
from __future__ import annotations

from pathlib import Path

from .. import protoio
from ..errors import UserError

# name, prototxt stem, CPU batch, caffe iterations, torch iterations (the three benchmark nets)
BENCH_NETS = [
    ("A5M CIFAR-10", "cifar10_a5m_zeropad", 100, 3, 3),
    ("S300-A MNIST", "mnist_s300a", 100, 5, 5),
    ("ImageNet 5m_m2 @224", "imagenet_5m_m2", 8, 2, 2),
]


def input_chw(deploy: Path, pb2) -> tuple[int, int, int]:
    """(C, H, W) of the deploy net's Input layer."""
    net = protoio.read_net(deploy)
    for l in net.layer:
        if l.type == "Input":
            return tuple(l.input_param.shape[0].dim[1:4])
    raise UserError(f"{deploy}: no Input layer")


def timing_net(train_val: Path, batch: int, chw, pb2):
    """TRAIN-phase layers of ``train_val`` with the Data layer replaced by Input (data, label)."""
    src = protoio.read_net(train_val)
    net = pb2.NetParameter(name=src.name)
    data = net.layer.add(name="data", type="Input", top=["data", "label"])
    data.input_param.shape.add(dim=[batch, *chw])
    data.input_param.shape.add(dim=[batch])
    for l in src.layer:
        if l.type in ("Data", "ImageData", "Input"):
            continue
        if any(r.HasField("phase") and r.phase != pb2.TRAIN for r in l.include):
            continue
        net.layer.add().CopyFrom(l)
    return net
