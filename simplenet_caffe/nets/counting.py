"""Parameter, MAC and Netscope-column counts of a Caffe net, per layer and in total.

Shapes are inferred in Python with Caffe's own rules (no pycaffe needed): convolution
``floor((H + 2p - d(k-1) - 1)/s) + 1``; pooling ``ceil((H + 2p - k)/s) + 1``, minus one when
padded and the last window would start in the padding (Caffe's clip); global pooling -> 1x1.
All counts are **per image** (batch 1); the batch of an Input layer is reported, not multiplied.

Parameter conventions (docs/spec.md §0):

* ``learnable`` (a) -- conv W+b, InnerProduct W+b, Scale gamma(+beta): what a solver updates;
* ``weights``   (b) -- conv W + InnerProduct W only (the README's "5.48M");
* ``netscope_params`` (c) -- conv W+b, IP W+b, BatchNorm 2C (mean+var), Scale 0;
* ``bn_stored`` -- BatchNorm blobs, 2C+1 floats per layer (mean, variance, scale factor);
* ``caffemodel`` (d) -- learnable + bn_stored: the floats a .caffemodel holds.

``macs`` = conv + InnerProduct multiply-accumulates (FLOPs ~ 2 x MACs).  The Netscope columns
follow its analyzer (docs/spec.md §10.2): MACC (conv, IP and Scale), COMP (ReLU/Dropout outputs, max-pool
window compares), ADD/DIV (BatchNorm H*W*C each, Softmax C), EXP (Softmax C), activations (every
layer output, in-place layers included, and the data top of a Data/Input *layer* -- a legacy
``input:`` header is not counted; :attr:`NetCount.input_activations` gives the part to subtract)
and SIZE = netscope params x 4 / 2^20 MB.  Netscope's default phase is TRAIN; so is ours.
The README's 6.38M activations for the 6.4M ImageNet net include the 3x227x227 data top
(6,381,611 = 6,227,024 + 154,587), as docs/spec.md §10.2 explains (an earlier reading said
"excluding").
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from ..caffe_env import caffe_pb2
from ..errors import UserError
from ..protoio import in_phase, read_net
from .netbuilder import data_layer_shape

INPUT_TYPES = ("Data", "ImageData", "HDF5Data", "WindowData", "Input")
COUNT_FIELDS = ("learnable", "weights", "bn_stored", "netscope_params", "macs",
                "macc", "comp", "add", "div", "exp", "activations")


@dataclass
class LayerRow:
    name: str
    type: str
    top: str
    shape: tuple            # output shape per image: (C, H, W) or (C,)
    learnable: int = 0
    weights: int = 0
    bn_stored: int = 0
    netscope_params: int = 0
    macs: int = 0
    macc: int = 0
    comp: int = 0
    add: int = 0
    div: int = 0
    exp: int = 0
    activations: int = 0


@dataclass
class NetCount:
    name: str
    phase: str
    input_shape: tuple
    batch: int
    rows: list[LayerRow] = field(default_factory=list)

    def _sum(self, f: str) -> int:
        return sum(getattr(r, f) for r in self.rows)

    learnable = property(lambda s: s._sum("learnable"))
    weights = property(lambda s: s._sum("weights"))
    bn_stored = property(lambda s: s._sum("bn_stored"))
    netscope_params = property(lambda s: s._sum("netscope_params"))
    macs = property(lambda s: s._sum("macs"))
    macc = property(lambda s: s._sum("macc"))
    comp = property(lambda s: s._sum("comp"))
    add = property(lambda s: s._sum("add"))
    div = property(lambda s: s._sum("div"))
    exp = property(lambda s: s._sum("exp"))
    activations = property(lambda s: s._sum("activations"))

    @property
    def input_activations(self) -> int:
        """Activations of the Data/Input layers' data tops (Netscope counts them; a legacy
        ``input:`` header is not a layer and is not counted)."""
        return sum(r.activations for r in self.rows if r.type in INPUT_TYPES)

    @property
    def caffemodel(self) -> int:
        return self.learnable + self.bn_stored

    @property
    def size_mb(self) -> float:
        return self.netscope_params * 4 / 2 ** 20

    def totals(self) -> dict:
        t = {f: getattr(self, f) for f in COUNT_FIELDS}
        t["caffemodel"] = self.caffemodel
        t["input_activations"] = self.input_activations
        t["size_mb"] = round(self.size_mb, 3)
        return t

    def to_dict(self) -> dict:
        return {"name": self.name, "phase": self.phase, "input_shape": list(self.input_shape), "batch": self.batch,
                "per": "image", "totals": self.totals(),
                "layers": [{**asdict(r), "shape": list(r.shape)} for r in self.rows]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        cols = ["name", "type", "top", "shape", *COUNT_FIELDS]
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in self.rows:
            w.writerow([r.name, r.type, r.top, "x".join(map(str, r.shape)), *(getattr(r, f) for f in COUNT_FIELDS)])
        w.writerow(["TOTAL", "", "", "", *(getattr(self, f) for f in COUNT_FIELDS)])
        return buf.getvalue()

    def to_table(self) -> str:
        cols = [("layer", lambda r: r.name), ("type", lambda r: r.type),
                ("output", lambda r: "x".join(map(str, r.shape))),
                ("learnable", lambda r: r.learnable), ("MACs", lambda r: r.macs),
                ("MACC", lambda r: r.macc), ("COMP", lambda r: r.comp), ("ADD", lambda r: r.add),
                ("DIV", lambda r: r.div), ("EXP", lambda r: r.exp), ("act", lambda r: r.activations),
                ("NS params", lambda r: r.netscope_params)]
        cells = [[h for h, _ in cols]]
        for r in self.rows:
            cells.append([f"{v:,}" if isinstance(v, int) else str(v) for v in (fn(r) for _, fn in cols)])
        tot = ["TOTAL", "", ""] + [f"{getattr(self, f):,}" for f in
                                   ("learnable", "macs", "macc", "comp", "add", "div", "exp", "activations",
                                    "netscope_params")]
        cells.append(tot)
        widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
        lines = []
        for k, row in enumerate(cells):
            lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
            if k == 0 or k == len(cells) - 2:
                lines.append("  ".join("-" * w for w in widths))
        t = self.totals()
        lines += ["",
                  f"net {self.name}, phase {self.phase}, input {'x'.join(map(str, self.input_shape))} "
                  f"(counts per image; batch {self.batch})",
                  f"params: full learnable {t['learnable']:,} | weights only {t['weights']:,} | "
                  f"BN stored floats {t['bn_stored']:,} | caffemodel floats {t['caffemodel']:,} | "
                  f"Netscope params {t['netscope_params']:,}",
                  f"MACs (conv+IP) {t['macs']:,} | Netscope: MACC {_si(t['macc'])} COMP {_si(t['comp'])} "
                  f"ADD {_si(t['add'])} DIV {_si(t['div'])} EXP {_si(t['exp'])} activations "
                  f"{_si(t['activations'])} params {_si(t['netscope_params'])} size {self.size_mb:.2f} MB"]
        return "\n".join(lines) + "\n"


def _si(n: int) -> str:
    """Netscope's display: 2 decimals with k/M/G."""
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suf}"
    return str(n)


def _rep(values, default, i=0):
    return values[i] if len(values) > i else (values[0] if len(values) else default)


class ConvGeometry(NamedTuple):
    """Kernel, stride, pad and dilation of a Convolution layer as (height, width) values."""
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int


def conv_geometry(cp) -> ConvGeometry:
    """Caffe's reading of a ``ConvolutionParameter``: ``kernel_h/w`` (etc.) override the repeated
    ``kernel_size``/``stride``/``pad``/``dilation`` fields, whose one value serves both axes."""
    return ConvGeometry(
        cp.kernel_h or _rep(cp.kernel_size, 1, 0), cp.kernel_w or _rep(cp.kernel_size, 1, 1),
        cp.stride_h or _rep(cp.stride, 1, 0), cp.stride_w or _rep(cp.stride, 1, 1),
        cp.pad_h if cp.HasField("pad_h") else _rep(cp.pad, 0, 0),
        cp.pad_w if cp.HasField("pad_w") else _rep(cp.pad, 0, 1),
        _rep(cp.dilation, 1, 0), _rep(cp.dilation, 1, 1))


def conv_out(h, k, p, s, d=1):
    """Caffe's convolution output size along one axis."""
    return (h + 2 * p - (d * (k - 1) + 1)) // s + 1


def pool_out(h, k, p, s):
    """Caffe's pooling output size along one axis: ceil rounding, minus one when the last window
    would start in the padding."""
    out = int(math.ceil((h + 2 * p - k) / s)) + 1
    if p and (out - 1) * s >= h + p:
        out -= 1
    return out


def _conv(lp, bshape, row) -> None:
    cp = lp.convolution_param
    c, h, w = bshape[0]
    kh, kw, sh, sw, ph, pw, dh, dw = conv_geometry(cp)
    g = cp.group or 1
    oh, ow = conv_out(h, kh, ph, sh, dh), conv_out(w, kw, pw, sw, dw)
    n = cp.num_output
    wcount = kh * kw * (c // g) * n
    bias = n if cp.bias_term else 0
    row.shape = (n, oh, ow)
    row.weights, row.learnable, row.netscope_params = wcount, wcount + bias, wcount + bias
    row.macs = row.macc = wcount * oh * ow


def _inner_product(lp, bshape, row) -> None:
    n_in = math.prod(bshape[0])
    n = lp.inner_product_param.num_output
    bias = n if lp.inner_product_param.bias_term else 0
    row.shape = (n,)
    row.weights = n_in * n
    row.learnable = row.netscope_params = n_in * n + bias
    row.macs = row.macc = n_in * n


def _pooling(lp, bshape, row) -> None:
    pp = lp.pooling_param
    c, h, w = bshape[0]
    if pp.global_pooling:
        oh, ow = 1, 1
        window = h * w * c
    else:
        kh = pp.kernel_h or pp.kernel_size
        kw = pp.kernel_w or pp.kernel_size
        ph, pw = pp.pad_h or pp.pad, pp.pad_w or pp.pad
        sh, sw = pp.stride_h or pp.stride, pp.stride_w or pp.stride
        oh, ow = pool_out(h, kh, ph, sh), pool_out(w, kw, pw, sw)
        window = oh * ow * kh * kw * c
    row.shape = (c, oh, ow)
    if pp.pool == caffe_pb2().PoolingParameter.MAX:
        row.comp = window
    else:
        row.add = window


def _batchnorm(lp, bshape, row) -> None:
    row.shape = bshape[0]
    c = row.shape[0]
    row.bn_stored = 2 * c + 1
    row.netscope_params = 2 * c
    row.add = row.div = math.prod(row.shape)


def _scale(lp, bshape, row) -> None:
    row.shape = bshape[0]
    if len(lp.bottom) == 1:
        c = row.shape[0]
        row.learnable = c + (c if lp.scale_param.bias_term else 0)
    row.macc = math.prod(row.shape)


def _pointwise(lp, bshape, row) -> None:
    row.shape = bshape[0]
    row.comp = math.prod(bshape[0])


def _softmax(lp, bshape, row) -> None:
    n = math.prod(bshape[0])
    row.shape = bshape[0] if lp.type == "Softmax" else ()
    row.add = row.div = row.exp = n


def _eltwise(lp, bshape, row) -> None:
    row.shape = bshape[0]
    n = math.prod(bshape[0]) * (len(bshape) - 1)
    op = lp.eltwise_param.operation
    if op == caffe_pb2().EltwiseParameter.MAX:
        row.comp = n
    elif op == caffe_pb2().EltwiseParameter.PROD:
        row.macc = n
    else:
        row.add = n


def _no_output(lp, bshape, row) -> None:
    row.shape = ()


def _flatten(lp, bshape, row) -> None:
    row.shape = (math.prod(bshape[0]),)


def _concat(lp, bshape, row) -> None:
    row.shape = (sum(s[0] for s in bshape), *bshape[0][1:])


#: layer type -> how it is counted: sets the row's output shape and its params / operations
COUNTERS = {
    "Convolution": _conv, "InnerProduct": _inner_product, "Pooling": _pooling, "BatchNorm": _batchnorm,
    "Scale": _scale, "Eltwise": _eltwise, "Flatten": _flatten, "Concat": _concat,
    "Softmax": _softmax, "SoftmaxWithLoss": _softmax, "Accuracy": _no_output,
    **dict.fromkeys(("ReLU", "Dropout", "PReLU", "ELU", "TanH", "Sigmoid"), _pointwise),
}


def _input_layer(lp, input_shape, res: NetCount, shapes: dict) -> None:
    """The shapes of a Data/Input layer's tops (``input_shape`` overrides the first)."""
    for i, top in enumerate(lp.top):
        if lp.type == "Input":
            sh = lp.input_param.shape[i if len(lp.input_param.shape) > i else 0]
            dims = list(sh.dim)
            res.batch = dims[0] if dims else 1
            s = tuple(dims[1:])
        elif i == 0:
            s = data_layer_shape(lp)
            res.batch = lp.data_param.batch_size or 1
        else:
            s = ()
        s = tuple(input_shape) if (i == 0 and input_shape) else s
        if any(d < 1 for d in s):
            raise UserError(f"layer {lp.name!r}: input shape {s} has a size below 1")
        shapes[top] = s
    if lp.top:
        res.input_shape = res.input_shape or shapes[lp.top[0]]
        s0 = shapes[lp.top[0]]
        res.rows.append(LayerRow(lp.name, lp.type, lp.top[0], s0, activations=math.prod(s0)))


def count_prototxt(path_or_netparameter, phase: str = "TRAIN", input_shape: tuple | None = None) -> NetCount:
    """Count a net (prototxt path or NetParameter) in ``phase``.

    ``input_shape`` (C, H, W) overrides the shape of data-layer tops; by default Data layers are
    resolved through ``layout.LAYOUTS`` (their ``source``) and crop_size, Input layers by their
    ``input_param.shape``.
    """
    net = read_net(path_or_netparameter)
    phase = phase.upper()
    if phase not in ("TRAIN", "TEST"):
        raise UserError(f"phase must be TRAIN or TEST, not {phase}")
    shapes: dict[str, tuple] = {}
    res = NetCount(net.name, phase, (), 1)
    # legacy `input:` + input_shape / input_dim header
    for i, top in enumerate(net.input):
        if len(net.input_shape) > i:
            dims = list(net.input_shape[i].dim)
        else:
            dims = list(net.input_dim[4 * i:4 * i + 4])
        shapes[top] = tuple(input_shape) if (input_shape and i == 0) else tuple(dims[1:])
        res.batch = dims[0] if dims else 1
        res.input_shape = res.input_shape or shapes[top]
    for lp in net.layer:
        if not in_phase(lp, phase):
            continue
        if lp.type in INPUT_TYPES:
            _input_layer(lp, input_shape, res, shapes)
            continue
        try:
            bshape = [shapes[b] for b in lp.bottom]
        except KeyError as e:
            raise UserError(f"layer {lp.name!r}: bottom blob {e.args[0]!r} is not produced by any earlier layer "
                            f"in phase {phase}") from None
        if lp.type not in COUNTERS:
            raise UserError(f"layer {lp.name!r}: layer type {lp.type} is not supported by the counter")
        row = LayerRow(lp.name, lp.type, lp.top[0] if lp.top else "", ())
        COUNTERS[lp.type](lp, bshape, row)
        if any(d < 1 for d in row.shape):
            raise UserError(f"layer {lp.name!r} ({lp.type}): its output would be {'x'.join(map(str, row.shape))}, "
                            f"a size below 1, from an input of {'x'.join(map(str, bshape[0]))} (a kernel or window "
                            "larger than its padded input, or num_output 0); Caffe cannot build this net")
        if lp.type == "SoftmaxWithLoss":
            row.activations = math.prod(bshape[0])
        elif lp.type != "Accuracy":
            row.activations = math.prod(row.shape) if row.shape else 0
        for top in lp.top:
            shapes[top] = row.shape
        res.rows.append(row)
    if not res.input_shape:
        raise UserError("the net has no Data/Input layer and no `input:` header")
    return res
