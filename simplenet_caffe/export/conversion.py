"""The two conversions as the commands run them: caffemodel -> PyTorch/ONNX, and state_dict -> caffemodel.

Both verify before they write when asked (``verify=N`` random inputs, ``data=LMDB``): Caffe,
the PyTorch twin and onnxruntime must agree within :data:`.verify.REL_TOL` of the largest
logit, else nothing is written.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..errors import UserError
from ..nets.experiments import EXPERIMENTS
from ..protoio import read_net, write_binary
from . import onnx_model, plan as planmod, preprocessing, torch_model, weights
from .files import load_into, load_state, save_state
from .timm_layout import from_timm, is_timm, to_timm
from .verify import REL_TOL, Agreement, Runners, check_data, check_random


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Loaded:
    net: object           # NetParameter of the deploy prototxt
    plan: planmod.Plan
    prep: dict


def load_model(model: str | Path, experiment: str | None = None) -> Loaded:
    net = read_net(model)
    return Loaded(net, planmod.from_net(net, "TEST"), preprocessing.for_model(model, experiment))


def twin_with(plan, sd):

    model = torch_model.build(plan)
    load_into(model, sd)
    return model


def verify(model, caffemodel, m: Loaded, sd, onnx_bytes: bytes | None, n_random: int, data: str | None,
           batch: int, limit: int | None, tol: float = REL_TOL) -> list[Agreement]:
    """Compare the three implementations; raise UserError when they disagree beyond ``tol``."""
    twin = twin_with(m.plan, sd)
    onnx_bytes = onnx_bytes or onnx_model.build(m.plan, sd, m.prep, Path(caffemodel).name)
    r = Runners(model, caffemodel, m.plan, twin, onnx_bytes, batch=batch)
    results = []
    if n_random:
        _log(f"verify: {n_random} random inputs (standard normal) through Caffe, PyTorch, onnxruntime")
        results.append(check_random(r, n_random))
    if data:
        _log(f"verify: {data} through Caffe, PyTorch, onnxruntime")
        results.append(check_data(r, data, _data_transform(m), batch=batch, limit=limit))
    for a in results:
        if not a.ok(tol):
            for line in a.lines():
                _log("  " + line)
            raise UserError(f"Caffe, PyTorch and onnxruntime disagree: relative logit difference "
                            f"{max(a.rel_torch, a.rel_onnx):.3g} > {tol:g}; nothing written")
    return results


def _data_transform(m: Loaded) -> dict:
    t = dict((m.prep.get("data_layer_transform") or {}))
    if m.prep.get("experiment") is None:
        raise UserError("--check-data needs the net's data transform: give --experiment for a net that is not generated")
    return t


def default_data(m: Loaded) -> str | None:
    """The TEST LMDB of the net's experiment (None when unknown)."""
    exp = EXPERIMENTS.get(m.prep.get("experiment") or "")
    return exp.layout.test_lmdb if exp else None


def check_finite_weights(blobs: dict, where) -> None:
    """Refuse weights holding NaN or Inf (a diverged training): nothing is converted from them."""
    for name, arrays in blobs.items():
        for i, a in enumerate(arrays):
            bad = int(a.size - np.isfinite(a).sum()) if np.issubdtype(a.dtype, np.floating) else 0
            if bad:
                raise UserError(f"{where}: layer {name!r} blob {i} holds {bad} NaN/Inf value(s) of {a.size}; "
                                "weights must be finite (a diverged training?); nothing written")


def export(model, caffemodel, to: str, out, layout: str = "simplenet-caffe", experiment: str | None = None,
           n_random: int = 0, data: str | None = None, batch: int = 100, limit: int | None = None,
           keep_input: bool = False) -> dict:
    """caffemodel -> ``out`` (.safetensors/.pt state_dict or .onnx); returns timings and checks."""
    t0 = time.perf_counter()
    m = load_model(model, experiment)
    blobs = weights.read_caffemodel(caffemodel)
    check_finite_weights(blobs, caffemodel)
    sd = weights.to_state_dict(m.plan, blobs)
    unused = sorted(set(blobs) - {s.name for s in m.plan.steps} - {s.scale for s in m.plan.steps if s.scale})
    if unused:
        _log(f"note: weights of layers not in the net are ignored: {', '.join(unused)}")
    t_read = time.perf_counter() - t0
    onnx_bytes = onnx_model.build(m.plan, sd, m.prep, Path(caffemodel).name) if to == "onnx" else None
    t_convert = time.perf_counter() - t0
    checks = verify(model, caffemodel, m, sd, onnx_bytes, n_random, data, batch, limit) if (n_random or data) else []
    source = Path(caffemodel).name
    if to == "onnx":
        write_atomic(out, onnx_bytes)
    elif layout == "timm":
        save_state(out, to_timm(m.plan, sd, None if keep_input else m.prep), m.plan, m.prep, "timm", source)
    else:
        save_state(out, sd, m.plan, m.prep, "simplenet-caffe", source)
    return {"plan": m.plan, "prep": m.prep, "read_s": t_read, "convert_s": t_convert,
            "total_s": time.perf_counter() - t0, "checks": checks,
            "params": sum(int(v.size) for k, v in sd.items() if not k.rsplit(".", 1)[1].startswith(("caffe_", "running",
                                                                                                      "num_batches")))}


def import_weights(model, state, out, experiment: str | None = None, layout: str = "auto", keep_input: bool = False,
                   n_random: int = 0, data: str | None = None, batch: int = 100, limit: int | None = None) -> dict:
    """A PyTorch SimpleNet state_dict (twin or timm layout) -> a caffemodel for the deploy net ``model``."""

    m = load_model(model, experiment)
    sd, meta = load_state(state)
    if layout == "auto":
        layout = meta.get("layout") or ("timm" if is_timm(sd) else "simplenet-caffe")
    if meta.get("plan"):
        theirs = planmod.Plan.from_json(meta["plan"])
        if [(s.kind, s.out, s.kernel) for s in theirs.steps] != [(s.kind, s.out, s.kernel) for s in m.plan.steps]:
            raise UserError(f"{state} was exported from net {theirs.name!r}, which differs from {model}")
    if layout == "timm":
        sd = from_timm(m.plan, sd, None if keep_input else m.prep)
    blobs = weights.from_state_dict(m.plan, sd)
    check_finite_weights(blobs, state)
    caffemodel = weights.caffemodel(m.net, blobs)
    checks = []
    if n_random or data:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = write_binary(Path(tmp) / "imported.caffemodel", caffemodel)
            full = weights.to_state_dict(m.plan, blobs)
            full.update({k: v for k, v in sd.items() if k in full})   # the twin runs the given weights
            checks = verify(model, tmp, m, full, None, n_random, data, batch, limit)
    write_binary(out, caffemodel)
    return {"plan": m.plan, "layout": layout, "checks": checks, "prep": m.prep}
