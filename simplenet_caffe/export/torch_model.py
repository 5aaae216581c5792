"""The PyTorch twin of a Caffe SimpleNet: an ``nn.Sequential`` built from a :class:`~.plan.Plan`.

Module names are the Caffe layer names, so ``state_dict`` keys read ``conv1.weight``,
``bn1.running_mean``, ``ip1.bias``.  Input: N x C x H x W float32, the same array the Caffe
deploy net's ``data`` blob takes (see the plan's preprocessing record).  Output: the logits
(the classifier's output); the deploy net's final Softmax is left to the caller.

Caffe semantics kept exactly:

* BatchNorm + its Scale = one affine ``BatchNorm2d`` (eps from the prototxt); a BatchNorm
  without a Scale is non-affine;  the Caffe blobs it came from are kept as buffers
  ``caffe_mean`` / ``caffe_var`` / ``caffe_factor`` so that the way back is bit-identical
  (:mod:`.weights`);
* pooling with ``ceil_mode=True`` (PyTorch applies Caffe's rounding and clip rule), global
  pooling over the map;
* Dropout is the identity in ``eval()``, as in Caffe's TEST phase (Caffe scales at train time,
  as ``nn.Dropout`` does);
* InnerProduct flattens C x H x W in that order before the matrix product.
"""
from __future__ import annotations

from collections import OrderedDict

from . import need
from .plan import Plan


def _classes(torch):
    nn = torch.nn

    class CaffeBatchNorm2d(nn.BatchNorm2d):
        """BatchNorm2d (+ the Scale's gamma/beta) that also keeps Caffe's three BN blobs.

        The running stats are what Caffe computes at test time (blob / factor, 0 when the
        factor is 0); ``caffe_*`` hold the blobs as read, for an exact export back.
        """

        def __init__(self, channels, eps, momentum, affine):
            super().__init__(channels, eps=eps, momentum=momentum, affine=affine)
            self.register_buffer("caffe_mean", torch.zeros(channels))
            self.register_buffer("caffe_var", torch.ones(channels))
            self.register_buffer("caffe_factor", torch.ones(1))

    class InnerProduct(nn.Linear):
        """Caffe's InnerProduct (axis 1): flatten C x H x W, then ``x W^T + b``."""

        def forward(self, x):
            return super().forward(x.flatten(1))

    return CaffeBatchNorm2d, InnerProduct


def build(plan: Plan, for_training: bool = False):
    """The ``nn.Sequential`` for ``plan`` in eval mode (train mode with ``for_training``).

    Parameters keep PyTorch's default initialisation; load weights with :mod:`.weights`.
    """
    torch = need("torch")
    nn = torch.nn
    CaffeBatchNorm2d, InnerProduct = _classes(torch)

    mods = OrderedDict()
    for s in plan.steps:
        if s.kind == "conv":
            m = nn.Conv2d(s.channels, s.out, s.kernel, s.stride, s.pad, s.dilation, groups=s.group, bias=s.bias)
        elif s.kind == "bn":
            m = CaffeBatchNorm2d(s.channels, s.eps, s.momentum, affine=bool(s.scale))
            if s.scale and not s.bias:
                m.bias.requires_grad_(False)   # Scale without bias_term: beta stays 0
        elif s.kind == "relu":
            m = nn.LeakyReLU(s.slope, inplace=True) if s.slope else nn.ReLU(inplace=True)
        elif s.kind == "drop":
            m = nn.Dropout(s.ratio)
        elif s.kind == "pool":
            if s.global_pool:
                m = nn.AdaptiveMaxPool2d(1) if s.method == "max" else nn.AdaptiveAvgPool2d(1)
            elif s.method == "max":
                m = nn.MaxPool2d(s.kernel, s.stride, s.pad, ceil_mode=True)
            else:
                m = nn.AvgPool2d(s.kernel, s.stride, s.pad, ceil_mode=True, count_include_pad=True)
        elif s.kind == "ip":
            m = InnerProduct(s.channels, s.out, bias=s.bias)
        elif s.kind == "softmax":
            continue
        else:
            raise ValueError(f"unknown step kind {s.kind}")
        mods[s.name] = m
    model = nn.Sequential(mods)
    return model.train(for_training)
