"""Caffe vs the PyTorch twin vs onnxruntime on the same inputs.

The agreement measure is the one the export promises: ``max |logits_x - logits_caffe|``
divided by ``max |logits_caffe|`` (relative to the largest logit), default bound
:data:`REL_TOL`.  Logits are the classifier's output (the deploy net's blob before Softmax).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.lmdbio import count_lmdb, read_lmdb
from ..data.preprocess import caffe_transform
from ..errors import UserError
from ..progress import progress
from ..runs import evaluation
from ..runs.evaluation import data_path
from . import need
from .plan import Plan

REL_TOL = 1e-4


class Runners:
    """The three implementations of one net with the same weights, fed N x C x H x W float32."""

    def __init__(self, model: str | Path, weights: str | Path, plan: Plan, twin, onnx_model: bytes, batch: int):
        self.plan = plan
        self.caffe = evaluation.load_eval_net(model, weights, batch=batch).net
        self.twin = twin
        ort = need("onnxruntime")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.ort = ort.InferenceSession(onnx_model, opts, providers=["CPUExecutionProvider"])
        if plan.logits not in self.caffe.top_names:
            raise UserError(f"{model} has no layer {plan.logits!r}")
        self.caffe_blob = self.caffe.top_names[plan.logits][0]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        torch = need("torch")
        n = len(x)
        blob = self.caffe.blobs[self.plan.input_name]
        if blob.data.shape[0] != n:
            blob.reshape(n, *blob.data.shape[1:])
            self.caffe.reshape()
        blob.data[...] = x
        self.caffe.forward()
        c = self.caffe.blobs[self.caffe_blob].data.reshape(n, -1).copy()
        with torch.no_grad():
            t = self.twin(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
        o = self.ort.run(["logits"], {self.plan.input_name: np.ascontiguousarray(x, np.float32)})[0]
        return c, t, o


def rel_diff(ref: np.ndarray, other: np.ndarray) -> float:
    """max |other - ref| / max |ref| (0 when both are all zero; inf when either holds NaN or Inf)."""
    if not (np.isfinite(ref).all() and np.isfinite(other).all()):
        return float("inf")
    scale = float(np.abs(ref).max())
    d = float(np.abs(other.astype(np.float64) - ref).max())
    return d / scale if scale else d


@dataclass
class Agreement:
    images: int = 0
    max_abs_logit: float = 0.0
    max_diff_torch: float = 0.0        # max |torch - caffe|
    max_diff_onnx: float = 0.0         # max |onnxruntime - caffe|
    correct: dict = field(default_factory=lambda: {"caffe": 0, "pytorch": 0, "onnxruntime": 0})
    same_top1: dict = field(default_factory=lambda: {"pytorch": 0, "onnxruntime": 0})
    labelled: bool = False

    def add(self, c, t, o, labels=None) -> None:
        """Score one batch of logits (Caffe, PyTorch, onnxruntime); NaN or Inf in any of them is
        refused (Python's max() would drop a NaN and report agreement)."""
        bad = {name: int((~np.isfinite(x)).sum()) for name, x in (("Caffe", c), ("PyTorch", t), ("onnxruntime", o))}
        if any(bad.values()):
            raise UserError("non-finite logits (NaN or Inf): " + ", ".join(f"{k} {v}" for k, v in bad.items() if v)
                            + f" of {c.size} values; the weights or the inputs are not finite; nothing written")
        self.images += len(c)
        self.max_abs_logit = max(self.max_abs_logit, float(np.abs(c).max()))
        self.max_diff_torch = max(self.max_diff_torch, float(np.abs(t.astype(np.float64) - c).max()))
        self.max_diff_onnx = max(self.max_diff_onnx, float(np.abs(o.astype(np.float64) - c).max()))
        pc = c.argmax(1)
        for name, s in (("pytorch", t), ("onnxruntime", o)):
            self.same_top1[name] += int((s.argmax(1) == pc).sum())
        if labels is not None:
            self.labelled = True
            for name, s in (("caffe", c), ("pytorch", t), ("onnxruntime", o)):
                self.correct[name] += int((s.argmax(1) == labels).sum())

    @property
    def rel_torch(self) -> float:
        return self.max_diff_torch / self.max_abs_logit if self.max_abs_logit else self.max_diff_torch

    @property
    def rel_onnx(self) -> float:
        return self.max_diff_onnx / self.max_abs_logit if self.max_abs_logit else self.max_diff_onnx

    def ok(self, tol: float = REL_TOL) -> bool:
        return self.rel_torch <= tol and self.rel_onnx <= tol

    def lines(self) -> list[str]:
        out = [f"images            {self.images}"]
        if self.labelled:
            for name in ("caffe", "pytorch", "onnxruntime"):
                out.append(f"top-1 {name:<12}{self.correct[name] / self.images:.6f}  ({self.correct[name]} correct)")
        out += [f"same top-1 as Caffe: pytorch {self.same_top1['pytorch']}/{self.images}, "
                f"onnxruntime {self.same_top1['onnxruntime']}/{self.images}",
                f"largest |logit| (Caffe) {self.max_abs_logit:.6g}",
                f"max |logit diff| pytorch {self.max_diff_torch:.3g} (relative {self.rel_torch:.3g}), "
                f"onnxruntime {self.max_diff_onnx:.3g} (relative {self.rel_onnx:.3g})"]
        return out


def random_inputs(plan: Plan, n: int, seed: int = 0) -> np.ndarray:
    """Standard-normal inputs (the scale of standardised data) for a plan's input shape."""
    return np.random.default_rng(seed).standard_normal((n, *plan.input_shape)).astype(np.float32)


def check_random(r: Runners, n: int, seed: int = 0) -> Agreement:
    a = Agreement()
    a.add(*r.run(random_inputs(r.plan, n, seed)))
    return a


def check_data(r: Runners, source: str | Path, transform: dict, batch: int, limit: int | None = None,
               desc: str = "verify") -> Agreement:
    """Every record of an LMDB through Caffe's TEST transform, then the three nets; labels scored."""

    path = data_path(source)
    if not path.exists():
        raise UserError(f"LMDB not found: {path}")
    n = count_lmdb(path)
    n = min(n, limit) if limit else n
    if n == 0:
        raise UserError(f"{path} holds no records")
    a = Agreement()
    xs, ys = [], []

    def flush():
        a.add(*r.run(np.stack(xs)), labels=np.array(ys))
        xs.clear()
        ys.clear()

    for _, arr, label in progress(read_lmdb(path, limit=n), total=n, desc=desc, unit="img"):
        x = caffe_transform(arr, transform)
        if tuple(x.shape) != tuple(r.plan.input_shape):
            raise UserError(f"records give {x.shape} after the transform, the net takes {tuple(r.plan.input_shape)}")
        xs.append(x)
        ys.append(label)
        if len(xs) == batch:
            flush()
    if xs:
        flush()
    return a
