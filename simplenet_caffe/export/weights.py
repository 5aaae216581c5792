"""Caffe blobs <-> the PyTorch twin's ``state_dict``, as numpy float32 arrays (no torch needed).

Blob layouts (Caffe) and keys (twin, module names = Caffe layer names):

=============  ==========================================  ============================================
layer          Caffe blobs                                 state_dict keys
=============  ==========================================  ============================================
Convolution    W (out, in/group, kh, kw), b (out)          ``<conv>.weight``, ``<conv>.bias``
BatchNorm      mean*f (C), var*f (C), f (1)                ``<bn>.running_mean`` = mean*f * (1/f),
                                                           ``<bn>.running_var`` likewise (0 when f = 0),
                                                           ``<bn>.caffe_mean/var/factor`` = the blobs
Scale          gamma (C), beta (C, with bias_term)         ``<bn>.weight``, ``<bn>.bias``
InnerProduct   W (out, in), b (out)                        ``<ip>.weight``, ``<ip>.bias``
=============  ==========================================  ============================================

``f`` is Caffe's moving-average normaliser (the third BatchNorm blob).  The running stats are
computed in float32 exactly as Caffe's BatchNorm does at test time (``1/f`` first, then one
multiply), so the twin normalises with the very numbers Caffe uses.  Back to Caffe,
``caffe_*`` are written unchanged when they still produce the running stats (bit-identical
round trip); after training in PyTorch (running stats changed) or for weights from elsewhere
the blobs are the running stats with ``f = 1``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import protoio
from ..caffe_env import caffe_pb2
from ..errors import UserError
from .plan import Plan

F32 = np.float32


def read_caffemodel(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> its blobs (float32, shaped as stored) of a binary .caffemodel."""
    msg = protoio.read_caffemodel(path)
    layers = list(msg.layer) or list(msg.layers)   # V2 or the V1 `layers` field
    out = {}
    for lp in layers:
        if len(lp.blobs):
            out[lp.name] = [_blob_array(b) for b in lp.blobs]
    if not out:
        raise UserError(f"{path} holds no weights: not a trained Caffe .caffemodel")
    return out


def _blob_array(b) -> np.ndarray:
    shape = tuple(b.shape.dim) if b.HasField("shape") else (b.num, b.channels, b.height, b.width)
    data = np.array(b.double_data, np.float64).astype(F32) if len(b.double_data) and not len(b.data) else \
        np.array(b.data, F32)
    return data.reshape(shape)


def _take(blobs: dict, layer: str, i: int, shape: tuple, problems: list) -> np.ndarray | None:
    got = blobs.get(layer)
    if got is None or len(got) <= i:
        problems.append(f"{layer}: blob {i} missing")
        return None
    a = got[i]
    if a.size != int(np.prod(shape)) or tuple(d for d in a.shape if d != 1) != tuple(d for d in shape if d != 1):
        problems.append(f"{layer}: blob {i} has shape {a.shape}, the net expects {shape}")
        return None
    return a.reshape(shape)


def bn_running_stats(mean: np.ndarray, var: np.ndarray, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Caffe's test-time statistics from the three BatchNorm blobs (float32, as BatchNormLayer computes them)."""
    f = F32(factor.reshape(-1)[0])
    sf = F32(0) if f == 0 else F32(1) / f
    return (mean.astype(F32) * sf).astype(F32), (var.astype(F32) * sf).astype(F32)


def expected_shapes(plan: Plan) -> dict[str, tuple]:
    """state_dict key -> shape for every tensor the twin of ``plan`` holds."""
    out = {}
    for s in plan.steps:
        if s.kind == "conv":
            out[f"{s.name}.weight"] = (s.out, s.channels // s.group, *s.kernel)
            if s.bias:
                out[f"{s.name}.bias"] = (s.out,)
        elif s.kind == "bn":
            c = (s.channels,)
            if s.scale:
                out[f"{s.name}.weight"] = out[f"{s.name}.bias"] = c
            out.update({f"{s.name}.running_mean": c, f"{s.name}.running_var": c, f"{s.name}.num_batches_tracked": (),
                        f"{s.name}.caffe_mean": c, f"{s.name}.caffe_var": c, f"{s.name}.caffe_factor": (1,)})
        elif s.kind == "ip":
            out[f"{s.name}.weight"] = (s.out, s.channels)
            if s.bias:
                out[f"{s.name}.bias"] = (s.out,)
    return out


def to_state_dict(plan: Plan, blobs: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """The twin's state_dict (numpy) from Caffe blobs; every layer of the plan must be there."""
    sd: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for s in plan.steps:
        if s.kind in ("conv", "ip"):
            wshape = (s.out, s.channels // s.group, *s.kernel) if s.kind == "conv" else (s.out, s.channels)
            sd[f"{s.name}.weight"] = _take(blobs, s.name, 0, wshape, problems)
            if s.bias:
                sd[f"{s.name}.bias"] = _take(blobs, s.name, 1, (s.out,), problems)
        elif s.kind == "bn":
            c = (s.channels,)
            mean, var, f = (_take(blobs, s.name, i, sh, problems) for i, sh in enumerate((c, c, (1,))))
            if mean is not None and var is not None and f is not None:
                sd[f"{s.name}.running_mean"], sd[f"{s.name}.running_var"] = bn_running_stats(mean, var, f)
                sd[f"{s.name}.caffe_mean"], sd[f"{s.name}.caffe_var"], sd[f"{s.name}.caffe_factor"] = mean, var, f
            sd[f"{s.name}.num_batches_tracked"] = np.array(0, np.int64)
            if s.scale:
                sd[f"{s.name}.weight"] = _take(blobs, s.scale, 0, c, problems)
                sd[f"{s.name}.bias"] = (_take(blobs, s.scale, 1, c, problems) if s.bias else np.zeros(c, F32))
    if problems:
        raise UserError(f"the weights do not fit the net ({len(problems)} problem(s)): " + "; ".join(problems[:6])
                        + (" ..." if len(problems) > 6 else ""))
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def from_state_dict(plan: Plan, sd: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Caffe blobs (layer name -> list, Caffe shapes) from a twin state_dict (numpy float32).

    ``caffe_*`` and ``num_batches_tracked`` may be absent (weights trained in PyTorch).
    """
    want = expected_shapes(plan)
    optional = {k for k in want if k.rsplit(".", 1)[1] in ("caffe_mean", "caffe_var", "caffe_factor",
                                                           "num_batches_tracked")}
    missing = sorted(set(want) - set(sd) - optional)
    unknown = sorted(set(sd) - set(want))
    bad = [f"{k} {tuple(np.shape(sd[k]))} != {want[k]}" for k in want
           if k in sd and k not in optional and tuple(np.shape(sd[k])) != want[k]]
    if missing or unknown or bad:
        parts = ([f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"] if missing else []) + \
                ([f"not in the net {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}"] if unknown else []) + \
                ([f"wrong shape {'; '.join(bad[:5])}"] if bad else [])
        raise UserError(f"state_dict does not fit net {plan.name!r}: " + " | ".join(parts))
    f32 = {k: np.asarray(v, F32) for k, v in sd.items() if k in want and not k.endswith("num_batches_tracked")}
    out: dict[str, list[np.ndarray]] = {}
    for s in plan.steps:
        if s.kind in ("conv", "ip"):
            out[s.name] = [f32[f"{s.name}.weight"]] + ([f32[f"{s.name}.bias"]] if s.bias else [])
        elif s.kind == "bn":
            out[s.name] = _bn_blobs(s.name, f32)
            if s.scale:
                gamma, beta = f32[f"{s.name}.weight"], f32[f"{s.name}.bias"]
                if not s.bias and np.any(beta != 0):
                    raise UserError(f"{s.name}.bias is not zero but Scale layer {s.scale!r} has no bias_term")
                out[s.scale] = [gamma] + ([beta] if s.bias else [])
    return out


def _bn_blobs(name: str, f32: dict) -> list[np.ndarray]:
    rm, rv = f32[f"{name}.running_mean"], f32[f"{name}.running_var"]
    raw = [f32.get(f"{name}.caffe_{k}") for k in ("mean", "var", "factor")]
    if all(r is not None for r in raw):
        m, v = bn_running_stats(*raw)
        if np.array_equal(m.view(np.uint32), rm.view(np.uint32)) and np.array_equal(v.view(np.uint32), rv.view(np.uint32)):
            return raw
    return [rm, rv, np.ones(1, F32)]


def caffemodel(net, blobs: dict[str, list[np.ndarray]]):
    """A caffemodel (NetParameter): ``net`` (e.g. the deploy net) with ``blobs`` attached by layer name;
    write it with ``protoio.write_binary``."""
    out = caffe_pb2().NetParameter()
    out.CopyFrom(net)
    names = {lp.name for lp in out.layer}
    lost = sorted(set(blobs) - names)
    if lost:
        raise UserError(f"layers {', '.join(lost)} have weights but are not in net {net.name!r}")
    for lp in out.layer:
        del lp.blobs[:]
        for a in blobs.get(lp.name, ()):
            b = lp.blobs.add()
            b.shape.dim.extend(a.shape)
            b.data.extend(np.asarray(a, F32).ravel().tolist())   # a list: 3x faster than extending from the array
    return out
