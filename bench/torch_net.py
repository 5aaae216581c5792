"""PyTorch twin of a Caffe training net, for bench_caffe.py: the export package's twin
(``simplenet_caffe.export``, docs/export.md) built from the net's TRAIN phase.

Layers SimpleNet uses: Convolution, BatchNorm (+ the Scale that follows it, one affine
``BatchNorm2d``), ReLU, Pooling (MAX/AVE, Caffe's ceil rounding, global), Dropout, InnerProduct;
the chain stops at SoftmaxWithLoss, whose PyTorch counterpart is the returned loss.  Input is
NCHW float32; torch is imported lazily by the caller, as it is an optional extra
(``pip install ".[export]"``).
"""
from __future__ import annotations

from simplenet_caffe.export import plan, torch_model


def build(torch, net, input_chw: tuple[int, int, int]):
    """(model in train mode, loss_fn) for a NetParameter ``net`` whose data layer gives ``input_chw`` images."""
    model = torch_model.build(plan.from_net(net, "TRAIN", input_shape=tuple(input_chw)), for_training=True)
    return model, torch.nn.CrossEntropyLoss()
