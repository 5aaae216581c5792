"""One builder: a variant (``arch.py``) + data settings -> ``caffe_pb2.NetParameter``.

In the spirit of Caffe's ``net_spec.py``: a net is data, each layer is built from keyword
arguments that map one-to-one onto ``LayerParameter`` fields (through protobuf's own
``json_format.ParseDict``, so a misspelt field fails at build time), and prototxt text comes
from ``text_format`` -- never from string templates.

* :func:`train_val_net` -- Data layers (TRAIN and TEST), the body, ``SoftmaxWithLoss`` and the
  accuracy layers; every BatchNorm written twice with the same name (TRAIN:
  ``use_global_stats false``, TEST: ``true``), ``moving_average_fraction 0.95``.
* :func:`deploy_net` -- ``Input`` (batch 1) + the TEST-phase body + ``Softmax`` ``prob``; no
  data, loss or accuracy layers.  Same layer names, so a caffemodel from train_val loads.
* :func:`train_val_to_inputs` -- swap a train_val net's Data layers for ``Input`` layers of the
  right shape (for pycaffe validation without any LMDB).
"""
from __future__ import annotations

from pathlib import Path

from google.protobuf import json_format

from ..caffe_env import caffe_pb2
from ..data.layout import LAYOUTS
from ..data.lmdbio import read_datums
from ..errors import UserError
from ..paths import REPO_ROOT
from . import arch
from .arch import BatchNorm, Drop, Pool, ReLU


def layer(type: str, name: str, bottom=(), top=(), **fields):
    """A ``LayerParameter`` from keyword arguments (``convolution_param=dict(...)``, ``param=[...]``)."""
    d = {"name": name, "type": type, "bottom": list(bottom), "top": list(top), **fields}
    return json_format.ParseDict(d, caffe_pb2().LayerParameter())


def _filler(kind: str) -> dict:
    return {"type": "gaussian", "std": 0.01} if kind == "gaussian" else {"type": "xavier"}


_BIAS0 = {"type": "constant", "value": 0.0}
_SINGLE = [{"lr_mult": 1}]
_SPLIT = [{"lr_mult": 1, "decay_mult": 1}, {"lr_mult": 2, "decay_mult": 0}]
_CLASSIFIER = [{"lr_mult": 1, "decay_mult": 0}, {"lr_mult": 2, "decay_mult": 0}]
_BN_PARAMS = [{"lr_mult": 0, "decay_mult": 0}] * 3


def body_layers(variant, num_classes: int, bottom: str = "data", phases=("TRAIN", "TEST")) -> list:
    """Conv/BN/Scale/ReLU/Dropout/Pooling layers and the classifier, in order.

    ``phases``: BatchNorm copies to write -- both for train_val, ("TEST",) for deploy (then
    without an ``include``).
    """
    convs, head = arch.expand(variant)
    out = []
    for c in convs:
        conv = {"num_output": c.num_output, "kernel_size": [c.kernel], "weight_filler": _filler(c.filler),
                "bias_filler": _BIAS0}
        if c.pad:
            conv["pad"] = [c.pad]
        if c.stride != 1:
            conv["stride"] = [c.stride]
        out.append(layer("Convolution", c.name, [bottom], [c.name], param=_SPLIT if c.split_bias else _SINGLE,
                         convolution_param=conv))
        t = c.name
        for op in c.post:
            if isinstance(op, Pool):
                pp = {"pool": "MAX", "global_pooling": True} if op.global_pool else {"pool": "MAX", "kernel_size": 2, "stride": 2}
                out.append(layer("Pooling", op.name, [t], [op.name], pooling_param=pp))
                t = op.name
            elif isinstance(op, BatchNorm):
                for ph in phases:
                    extra = {"include": [{"phase": ph}]} if len(phases) > 1 else {}
                    out.append(layer("BatchNorm", op.name, [t], [t], param=_BN_PARAMS,
                                     batch_norm_param={"use_global_stats": ph == "TEST",
                                                       "moving_average_fraction": 0.95}, **extra))
                out.append(layer("Scale", op.scale, [t], [t], scale_param={"bias_term": True}))
            elif isinstance(op, ReLU):
                out.append(layer("ReLU", op.name, [t], [t]))
            elif isinstance(op, Drop):
                out.append(layer("Dropout", op.name, [t], [t], dropout_param={"dropout_ratio": op.ratio}))
        bottom = t
    out.append(layer("InnerProduct", head.name, [bottom], [head.name], param=_CLASSIFIER,
                     inner_product_param={"num_output": num_classes, "weight_filler": _filler(head.filler),
                                          "bias_filler": _BIAS0}))
    return out


def _data_layer(exp, phase: str):
    d, lay = exp.data, exp.layout
    tp = {}
    if (d.train_mirror if phase == "TRAIN" else d.test_mirror):
        tp["mirror"] = True
    if d.crop:
        tp["crop_size"] = d.crop
    if d.mean_file:
        if not lay.mean_file:
            raise ValueError(f"{exp.name}: layout {lay.name} has no mean file")
        tp["mean_file"] = lay.mean_file
    if d.mean_value:
        tp["mean_value"] = list(d.mean_value)
    if d.scale is not None:
        tp["scale"] = d.scale
    src = lay.train_lmdb if phase == "TRAIN" else lay.test_lmdb
    batch = d.train_batch if phase == "TRAIN" else d.test_batch
    fields = {"include": [{"phase": phase}], "data_param": {"source": src, "batch_size": batch, "backend": "LMDB"}}
    if tp:
        fields["transform_param"] = tp
    return layer("Data", "data", [], ["data", d.label], **fields)


def train_val_net(exp):
    """The train_val NetParameter of an ``experiments.Experiment``."""
    net = caffe_pb2().NetParameter()
    net.name = exp.net_name or exp.name
    label, head = exp.data.label, arch.VARIANTS[exp.variant].classifier
    layers = [_data_layer(exp, "TRAIN"), _data_layer(exp, "TEST")]
    layers += body_layers(exp.variant, exp.num_classes)
    layers.append(layer("SoftmaxWithLoss", "loss", [head, label], ["loss"]))
    layers.append(layer("Accuracy", "accuracy", [head, label], ["accuracy"], include=[{"phase": "TEST"}]))
    if exp.top5:
        layers.append(layer("Accuracy", "accuracy_top5", [head, label], ["accuracy_top5"],
                            include=[{"phase": "TEST"}], accuracy_param={"top_k": 5}))
    if exp.accuracy_training:
        layers.append(layer("Accuracy", "accuracy_training", [head, label], ["accuracy_training"],
                            include=[{"phase": "TRAIN"}]))
    net.layer.extend(layers)
    return net


def deploy_net(exp, batch: int = 1):
    """The deploy NetParameter: Input (batch x C x H x W) -> body (TEST BN) -> Softmax `prob`."""
    net = caffe_pb2().NetParameter()
    net.name = exp.net_name or exp.name
    head = arch.VARIANTS[exp.variant].classifier
    layers = [layer("Input", "data", [], ["data"],
                    input_param={"shape": [{"dim": [batch, *exp.input_shape]}]})]
    layers += body_layers(exp.variant, exp.num_classes, phases=("TEST",))
    layers.append(layer("Softmax", "prob", [head], ["prob"]))
    net.layer.extend(layers)
    return net


def data_layer_shape(lp) -> tuple[int, int, int]:
    """C, H, W of the `data` top of a Data layer, from LAYOUTS (by source path) and the crop.

    Falls back to the first record of the LMDB when the source is not a known layout.
    """
    src = lp.data_param.source
    for lay in LAYOUTS.values():
        if src in (lay.train_lmdb, lay.test_lmdb):
            c, h, w = lay.channels, lay.height, lay.width
            break
    else:
        c, h, w = _first_datum_shape(src, lp.name)
    crop = lp.transform_param.crop_size
    return (c, crop, crop) if crop else (c, h, w)


def _first_datum_shape(src: str, name: str) -> tuple[int, int, int]:
    path = Path(src) if Path(src).is_absolute() else REPO_ROOT / src
    if not path.exists():
        raise UserError(f"data layer {name!r}: source {src} is not a known layout and does not exist; "
                        "give the input shape explicitly")

    first = next(read_datums(path, limit=1), None)
    if first is None:
        raise UserError(f"data layer {name!r}: {src} is empty")
    datum = first[1]
    return datum.channels, datum.height, datum.width


DATA_LAYER_TYPES = ("Data", "ImageData", "HDF5Data", "WindowData")


def train_val_to_inputs(net_param, batch: int = 1, shapes: dict | None = None):
    """A copy of a train_val net whose Data layers are replaced by one ``Input`` layer per phase.

    The data top gets ``batch x C x H x W`` (from :func:`data_layer_shape`, or ``shapes[top]``
    as C, H, W), the label top gets ``batch`` (Caffe's Data layer label shape).  Phase
    ``include`` rules are kept, so ``caffe.Net(path, caffe.TRAIN/TEST)`` picks the right one.
    """
    out = caffe_pb2().NetParameter()
    out.CopyFrom(net_param)
    del out.layer[:]
    for lp in net_param.layer:
        if lp.type not in DATA_LAYER_TYPES:
            out.layer.add().CopyFrom(lp)
            continue
        inp = out.layer.add()
        inp.name, inp.type = lp.name, "Input"
        inp.include.extend(lp.include)
        inp.exclude.extend(lp.exclude)
        for i, top in enumerate(lp.top):
            inp.top.append(top)
            if i == 0:
                chw = (shapes or {}).get(top) or data_layer_shape(lp)
                dims = [batch, *chw]
            else:
                dims = [batch]
            inp.input_param.shape.add().dim.extend(dims)
    return out
