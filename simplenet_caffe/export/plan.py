"""A SimpleNet as a plain chain of steps, the one description the PyTorch twin is built from.

A :class:`Plan` is read from a Caffe ``NetParameter`` (:func:`from_net`: any plain-chain net of
Convolution / BatchNorm (+ Scale) / ReLU / Dropout / Pooling / InnerProduct / Softmax layers,
in one phase) or expanded from the variant table (:func:`from_variant`, through
``arch.expand``: no Caffe needed).  For every generated deploy net both give the same plan
(tests/test_export.py checks all of them).

Conventions:

* step names are the Caffe layer names; a BatchNorm step carries the name of the Scale layer
  that follows it (Caffe's BN has no affine part; the Scale supplies gamma/beta), so the two
  become one affine ``BatchNorm2d`` in PyTorch;
* shapes are per image, C x H x W; kernels/strides/pads are (height, width) pairs;
* pooling uses Caffe's rounding: ``ceil((H + 2p - k) / s) + 1``, minus one when the last
  window would start in the padding (PyTorch's ``ceil_mode=True`` applies the same rule);
  ``global_pool`` takes the whole map;
* ``eps`` is the BatchNorm layer's ``batch_norm_param.eps`` (Caffe's default 1e-5);
  ``momentum`` is PyTorch's, ``1 - moving_average_fraction`` (only matters for training).

A plan is JSON data (:meth:`Plan.to_json` / :meth:`Plan.from_json`); it travels inside the
exported safetensors/.pt/ONNX files so that loading them needs neither Caffe nor a prototxt.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..caffe_env import caffe_pb2
from ..errors import UserError
from ..nets import arch
from ..nets.counting import conv_geometry, conv_out, count_prototxt, in_phase, pool_out
from ..protoio import read_net

PLAN_VERSION = 1


@dataclass(frozen=True)
class Step:
    """One layer of the chain.  ``kind`` picks the fields that matter:

    * ``conv``: ``channels`` (in), ``out``, ``kernel``, ``stride``, ``pad``, ``dilation``, ``group``, ``bias``;
    * ``bn``: ``channels``, ``eps``, ``momentum``, ``scale`` (Scale layer name or ""), ``bias``
      (the Scale's bias_term);
    * ``relu``: ``slope`` (Caffe's negative_slope);  ``drop``: ``ratio``;
    * ``pool``: ``method`` ("max" | "ave"), ``kernel``, ``stride``, ``pad``, ``global_pool``;
    * ``ip``: ``channels`` (flattened inputs), ``out``, ``bias``;  ``softmax``: nothing.
    """

    kind: str
    name: str
    channels: int = 0
    out: int = 0
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    pad: tuple = (0, 0)
    dilation: tuple = (1, 1)
    group: int = 1
    bias: bool = True
    eps: float = 1e-5
    momentum: float = 0.1
    scale: str = ""
    slope: float = 0.0
    ratio: float = 0.0
    method: str = "max"
    global_pool: bool = False


@dataclass(frozen=True)
class Plan:
    name: str                       # NetParameter.name
    input_name: str                 # the data blob ("data")
    input_shape: tuple              # C, H, W per image
    steps: tuple = field(default_factory=tuple)

    @property
    def logits(self) -> str:
        """Name of the layer whose output are the class scores before any Softmax."""
        return next(s.name for s in reversed(self.steps) if s.kind != "softmax")

    @property
    def num_classes(self) -> int:
        return next(s.out for s in reversed(self.steps) if s.kind == "ip")

    def to_json(self) -> str:
        d = asdict(self)
        d["version"] = PLAN_VERSION
        d["steps"] = [_compact(s) for s in self.steps]
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        try:
            d = json.loads(text)
            if d.pop("version", None) != PLAN_VERSION:
                raise ValueError(f"plan version is not {PLAN_VERSION}")
            steps = tuple(Step(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.items()})
                          for s in d.pop("steps"))
            return cls(d["name"], d["input_name"], tuple(d["input_shape"]), steps)
        except (ValueError, TypeError, KeyError) as e:
            raise UserError(f"not a SimpleNet export plan ({e})") from None


_DEFAULT = Step("", "")


def _compact(s: Step) -> dict:
    """The step without fields left at their defaults (shorter JSON, same meaning)."""
    return {k: v for k, v in asdict(s).items() if k in ("kind", "name") or v != getattr(_DEFAULT, k)}


# ----------------------------------------------------------------------------- from a Caffe net

_SKIP = ("Accuracy", "Silence")
_INPUTS = ("Input", "Data", "ImageData", "HDF5Data", "WindowData")


def _f(x: float) -> float:
    """A float32 field of a caffe.proto message as the shortest decimal that gives it back (0.2, not 0.2000000030)."""
    return float(repr(np.float32(x)).removeprefix("np.float32(").removesuffix(")"))


def _pair(a, b) -> tuple:
    return (int(a), int(b))


def from_net(net, phase: str = "TEST", input_shape: tuple | None = None) -> Plan:
    """The plan of a NetParameter (path or message) in ``phase``; refuses what is not a plain chain.

    ``input_shape`` (C, H, W) overrides the data layer's shape (see ``counting.count_prototxt``).
    """

    net = read_net(net)
    pb2 = caffe_pb2()
    layers = [lp for lp in net.layer if in_phase(lp, phase)]
    rows = count_prototxt(net, phase, input_shape).rows
    if len(net.input):
        raise UserError(f"net {net.name!r}: legacy `input:` header; use an Input layer (the generated deploy nets do)")
    steps: list[Step] = []
    cur = data = None
    chw = None
    i = 0
    while i < len(layers):
        lp, t = layers[i], layers[i].type
        if t in _INPUTS:
            if data is not None:
                raise UserError(f"layer {lp.name!r}: a second data layer; only single-input chains are exported")
            data = cur = lp.top[0]
            chw = tuple(rows[i].shape)
            i += 1
            continue
        if t in _SKIP:
            i += 1
            continue
        if cur is None:
            raise UserError(f"layer {lp.name!r} comes before any Input/Data layer")
        if t == "SoftmaxWithLoss":
            break
        if list(lp.bottom) != [cur] or len(lp.top) != 1:
            raise UserError(f"layer {lp.name!r} ({t}) is not part of a plain chain from {cur!r} "
                            f"(bottoms {list(lp.bottom)}, tops {list(lp.top)}); only chains are exported")
        c_in = int(_shape_before(rows, i, chw)[0])
        if t == "Convolution":
            p = lp.convolution_param
            g = conv_geometry(p)
            steps.append(Step("conv", lp.name, c_in, int(p.num_output), _pair(g.kh, g.kw), _pair(g.sh, g.sw),
                              _pair(g.ph, g.pw), _pair(g.dh, g.dw), int(p.group or 1), bool(p.bias_term)))
        elif t == "BatchNorm":
            bp = lp.batch_norm_param
            if phase == "TEST" and bp.HasField("use_global_stats") and not bp.use_global_stats:
                raise UserError(f"BatchNorm {lp.name!r} normalises with batch statistics in TEST "
                                "(use_global_stats: false); only nets that use the stored statistics are exported")
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            scale = nxt if (nxt is not None and nxt.type == "Scale" and list(nxt.bottom) == list(lp.top)
                            and list(nxt.top) == list(lp.top)) else None
            if scale is not None and (scale.scale_param.axis != 1 or scale.scale_param.num_axes != 1):
                raise UserError(f"Scale layer {scale.name!r}: only per-channel scales (axis 1, num_axes 1) are exported")
            steps.append(Step("bn", lp.name, c_in, eps=_f(bp.eps), momentum=_f(1 - _f(bp.moving_average_fraction)),
                              scale=scale.name if scale else "", bias=bool(scale and scale.scale_param.bias_term)))
            if scale is not None:
                i += 1
        elif t == "ReLU":
            steps.append(Step("relu", lp.name, c_in, slope=_f(lp.relu_param.negative_slope)))
        elif t == "Dropout":
            steps.append(Step("drop", lp.name, c_in, ratio=_f(lp.dropout_param.dropout_ratio)))
        elif t == "Pooling":
            p = lp.pooling_param
            if p.pool not in (pb2.PoolingParameter.MAX, pb2.PoolingParameter.AVE):
                raise UserError(f"Pooling layer {lp.name!r}: only MAX and AVE pooling are exported")
            method = "max" if p.pool == pb2.PoolingParameter.MAX else "ave"
            if p.global_pooling:
                steps.append(Step("pool", lp.name, c_in, method=method, global_pool=True))
            else:
                steps.append(Step("pool", lp.name, c_in,
                                  kernel=_pair(p.kernel_h or p.kernel_size, p.kernel_w or p.kernel_size),
                                  stride=_pair(p.stride_h or p.stride, p.stride_w or p.stride),
                                  pad=_pair(p.pad_h or p.pad, p.pad_w or p.pad), method=method))
        elif t == "InnerProduct":
            p = lp.inner_product_param
            if p.axis != 1 or p.transpose:
                raise UserError(f"InnerProduct {lp.name!r}: only axis 1 without transpose is exported")
            n_in = 1
            for d in _shape_before(rows, i, chw):
                n_in *= d
            steps.append(Step("ip", lp.name, n_in, int(p.num_output), bias=bool(p.bias_term)))
        elif t == "Softmax":
            steps.append(Step("softmax", lp.name))
        else:
            raise UserError(f"layer {lp.name!r}: type {t} is not supported by the export")
        if "." in lp.name or not lp.name:
            raise UserError(f"layer name {lp.name!r} cannot be a PyTorch module name")
        cur = lp.top[0] if t != "BatchNorm" or scale is None else scale.top[0]
        i += 1
    if chw is None:
        raise UserError(f"net {net.name!r} has no Input/Data layer")
    if not any(s.kind == "ip" for s in steps):
        raise UserError(f"net {net.name!r} has no InnerProduct classifier")
    return Plan(net.name, data, chw, tuple(steps))


def _shape_before(rows, i: int, chw) -> tuple:
    return tuple(rows[i - 1].shape) if i else tuple(chw)


# ----------------------------------------------------------------------------- from the variant table

def from_experiment(exp) -> Plan:
    """The plan of an experiment's deploy net, expanded from ``arch.VARIANTS`` (no Caffe needed).

    Mirrors ``netbuilder.deploy_net``: Input ``data`` -> the TEST-phase body -> Softmax ``prob``;
    BatchNorm eps is Caffe's default 1e-5, moving_average_fraction 0.95.
    """

    convs, head = arch.expand(exp.variant)
    c, h, w = exp.input_shape
    steps: list[Step] = []
    for cv in convs:
        steps.append(Step("conv", cv.name, c, cv.num_output, (cv.kernel,) * 2, (cv.stride,) * 2, (cv.pad,) * 2))
        c = cv.num_output
        h, w = conv_out(h, cv.kernel, cv.pad, cv.stride), conv_out(w, cv.kernel, cv.pad, cv.stride)
        for op in cv.post:
            if isinstance(op, arch.Pool):
                g = op.global_pool
                steps.append(Step("pool", op.name, c, kernel=(1, 1) if g else (2, 2), stride=(1, 1) if g else (2, 2),
                                  global_pool=g))
                h, w = (1, 1) if g else (pool_out(h, 2, 0, 2), pool_out(w, 2, 0, 2))
            elif isinstance(op, arch.BatchNorm):
                steps.append(Step("bn", op.name, c, eps=1e-5, momentum=0.05, scale=op.scale, bias=True))
            elif isinstance(op, arch.ReLU):
                steps.append(Step("relu", op.name, c))
            elif isinstance(op, arch.Drop):
                steps.append(Step("drop", op.name, c, ratio=op.ratio))
    steps.append(Step("ip", head.name, c * h * w, exp.num_classes))
    steps.append(Step("softmax", "prob"))
    return Plan(exp.net_name or exp.name, "data", tuple(exp.input_shape), tuple(steps))
