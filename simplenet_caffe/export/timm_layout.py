"""The SimpleNet_Pytorch / timm ``simplenet.py`` key layout (docs/spec.md §9.1-9.3; docs/export.md).

That builder emits one ``nn.Sequential`` ``features``: every conv entry is four modules
(Conv2d, BatchNorm2d, ReLU, Dropout2d -- the ImageNet configs give every entry a dropout
rate, 0.0, so the Dropout2d is always there) and every pool entry two (MaxPool2d, Dropout2d);
the global max pool is in ``forward``; the classifier is ``classifier`` (a Linear).  So conv
entry k sits at ``features.{i}`` and its BatchNorm at ``features.{i+1}``, with ``i`` counting
4 per conv entry and 2 per pool entry before it.  Only the ImageNet family (``pt_*`` variants,
the ``imagenet_5m_m1`` ... ``imagenet_small_m2_075`` deploy nets) has this structure: conv,
BN, ReLU, with the pools after the ReLU and a global max pool before the classifier.

Input convention: those weights take RGB images scaled to 0-1 and standardised with
``TIMM_MEAN`` / ``TIMM_STD`` per channel; the Caffe rebuilds take BGR 0-255 minus
``mean_value`` (the same means x 255, BGR order) times one ``scale``.  The two differ only
by a per-input-channel factor and the channel order, so :func:`first_conv_to_caffe` folds
them into conv1's weights -- exactly, zero padding included, because a zero stays zero.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from .plan import Plan

#: timm's ImageNet normalisation (RGB, 0-1 units): spec of SimpleNet_Pytorch's ImageNet models.
TIMM_MEAN = (0.485, 0.456, 0.406)
TIMM_STD = (0.229, 0.224, 0.225)


def key_map(plan: Plan) -> dict[str, str]:
    """Twin state_dict key -> timm key, for a plan with the timm structure (else UserError)."""
    steps = [s for s in plan.steps if s.kind not in ("relu", "drop", "softmax")]
    why = f"net {plan.name!r} has no SimpleNet_Pytorch counterpart (only the ImageNet family pt_*: " \
          "conv, BN, ReLU, pools after the ReLU, global max pool, classifier)"
    out: dict[str, str] = {}
    idx = 0
    i = 0
    while i < len(steps):
        s = steps[i]
        if s.kind == "conv":
            bn = steps[i + 1] if i + 1 < len(steps) else None
            if bn is None or bn.kind != "bn" or not bn.scale:
                raise UserError(why + f"; {s.name} is not followed by BatchNorm+Scale")
            for k in ("weight", "bias"):
                out[f"{s.name}.{k}"] = f"features.{idx}.{k}"
            for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                out[f"{bn.name}.{k}"] = f"features.{idx + 1}.{k}"
            idx += 4
            i += 2
        elif s.kind == "pool" and not s.global_pool and s.method == "max":
            idx += 2
            i += 1
        elif s.kind == "pool" and s.global_pool and s.method == "max" and i + 2 == len(steps) \
                and steps[i + 1].kind == "ip":
            ip = steps[i + 1]
            out[f"{ip.name}.weight"], out[f"{ip.name}.bias"] = "classifier.weight", "classifier.bias"
            return out
        else:
            raise UserError(why + f"; step {s.name} ({s.kind}) does not fit")
    raise UserError(why + "; no global max pool + classifier at the end")


def is_timm(sd: dict) -> bool:
    """True for a state_dict in the timm layout (``features.N.*`` / ``classifier.*`` keys)."""
    return any(k.startswith("features.") for k in sd) and "classifier.weight" in sd


def first_conv(plan: Plan) -> str:
    return next(s.name for s in plan.steps if s.kind == "conv")


def _factors(prep: dict) -> np.ndarray:
    """Per RGB channel c: x_timm[c] = x_caffe[BGR index of c] * factor[c]."""
    t = prep.get("data_layer_transform") or {}
    mean, scale = t.get("mean_value"), t.get("scale")
    if prep.get("channel_order") != "BGR" or not mean or scale is None or len(mean) != 3:
        raise UserError(f"experiment {prep.get('experiment')}: input is not BGR with mean values and a scale, "
                        "cannot fold timm's RGB mean/std into conv1 (use --keep-input to copy the weights as they are)")
    want = [255 * m for m in TIMM_MEAN[::-1]]
    if not np.allclose(mean, want, atol=0.01):
        raise UserError(f"the Caffe net's mean values {mean} are not timm's ImageNet means x 255 (BGR) {want}")
    return np.array([1.0 / (255.0 * scale * s) for s in TIMM_STD], np.float64)


def first_conv_to_caffe(w_timm: np.ndarray, prep: dict) -> np.ndarray:
    """conv1 weights (out, 3, kh, kw) for RGB/std input -> for the Caffe net's BGR/scale input."""
    f = _factors(prep)
    w = w_timm.astype(np.float64) * f[None, :, None, None]
    return np.ascontiguousarray(w[:, ::-1]).astype(np.float32)


def first_conv_to_timm(w_caffe: np.ndarray, prep: dict) -> np.ndarray:
    """The inverse of :func:`first_conv_to_caffe`."""
    f = _factors(prep)
    w = w_caffe.astype(np.float64)[:, ::-1] / f[None, :, None, None]
    return np.ascontiguousarray(w).astype(np.float32)


def to_timm(plan: Plan, sd: dict, prep: dict | None) -> dict:
    """Twin state_dict -> timm layout (``prep``: fold the input convention into conv1; None: copy as is)."""
    km = key_map(plan)
    out = {km[k]: v for k, v in sd.items() if k in km}
    if prep is not None:
        k = km[f"{first_conv(plan)}.weight"]
        out[k] = first_conv_to_timm(np.asarray(out[k]), prep)
    return out


def from_timm(plan: Plan, sd: dict, prep: dict | None) -> dict:
    """timm-layout state_dict -> twin keys (the inverse of :func:`to_timm`)."""
    km = key_map(plan)
    inv = {v: k for k, v in km.items()}
    unknown = sorted(k for k in sd if k not in inv)
    if unknown:
        raise UserError(f"keys not in the SimpleNet_Pytorch layout of {plan.name!r}: {', '.join(unknown[:5])}"
                        + (" ..." if len(unknown) > 5 else ""))
    out = {inv[k]: v for k, v in sd.items()}
    if prep is not None:
        k = f"{first_conv(plan)}.weight"
        if k in out:
            out[k] = first_conv_to_caffe(np.asarray(out[k]), prep)
    return out
