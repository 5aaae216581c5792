"""Exported state_dict files: safetensors / .pt, each carrying the net's plan
and its input preprocessing.

* ``.safetensors``: tensors = the state_dict; metadata (strings) ``format``, ``layout``
  ("simplenet-caffe" = Caffe layer names, "timm" = ``features.N.*``), ``plan`` (JSON),
  ``preprocessing`` (JSON), ``source``.  Written and read with ``safetensors.numpy``: no torch
  needed on either side.
* ``.pt`` / ``.pth``: ``torch.save`` of ``{"state_dict", "layout", "plan", "preprocessing",
  "source"}``; plain state_dicts (and ``{"state_dict": ...}`` checkpoints) are read too.
* ``.onnx``: see :mod:`.onnx_model`.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..errors import UserError
from . import need, torch_model
from .plan import Plan

FORMAT = "simplenet-caffe-export/1"
STATE_SUFFIXES = (".safetensors", ".pt", ".pth")


def _meta(plan: Plan, prep: dict, layout: str, source: str) -> dict[str, str]:
    return {"format": FORMAT, "layout": layout, "plan": plan.to_json(), "preprocessing": json.dumps(prep),
            "source": source}


def save_state(path: str | Path, sd: dict[str, np.ndarray], plan: Plan, prep: dict, layout: str, source: str) -> None:
    """Write a state_dict (numpy arrays) with its plan and preprocessing; format by suffix."""
    path = Path(path)
    meta = _meta(plan, prep, layout, source)
    if path.suffix == ".safetensors":
        st = need("safetensors.numpy")
        data = st.save({k: np.ascontiguousarray(v) for k, v in sd.items()}, metadata=meta)
    elif path.suffix in (".pt", ".pth"):
        torch = need("torch")

        buf = io.BytesIO()
        torch.save({"state_dict": {k: torch.from_numpy(np.array(v)) for k, v in sd.items()},
                    **{k: v for k, v in meta.items() if k != "format"}, "format": FORMAT}, buf)
        data = buf.getvalue()
    else:
        raise UserError(f"{path}: unknown state_dict format (use {', '.join(STATE_SUFFIXES)})")
    write_atomic(path, data)


def load_state(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(state_dict as numpy arrays, metadata) of a .safetensors / .pt / .pth file.

    Metadata is empty for files that were not written by :func:`save_state` (plain state_dicts).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"state_dict file not found: {path}")
    if path.suffix == ".safetensors":
        st = need("safetensors")
        try:
            with st.safe_open(str(path), framework="np") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
            raise UserError(f"{path}: not a readable safetensors file ({e})") from None
    if path.suffix in (".pt", ".pth"):
        torch = need("torch")
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - pickle/zip errors of many kinds
            raise UserError(f"{path}: not a readable PyTorch file ({str(e).splitlines()[0][:200]})") from None
        meta = {}
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            meta = {k: v for k, v in obj.items() if k != "state_dict" and isinstance(v, str)}
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(hasattr(v, "numpy") for v in obj.values()):
            raise UserError(f"{path}: holds no state_dict (a dict of tensors)")
        return {k.removeprefix("module."): v.detach().cpu().numpy() for k, v in obj.items()}, meta
    raise UserError(f"{path}: unknown state_dict format (use {', '.join(STATE_SUFFIXES)})")


def load_module(path: str | Path):
    """(eval-mode twin with weights, plan, preprocessing) from a file written by :func:`save_state`.

    Needs only torch and safetensors: the plan inside the file rebuilds the net.
    """
    sd, meta = load_state(path)
    if meta.get("format") != FORMAT or meta.get("layout") != "simplenet-caffe":
        raise UserError(f"{path}: not a simplenet-caffe export in the Caffe-name layout")
    plan = Plan.from_json(meta["plan"])
    model = torch_model.build(plan)
    load_into(model, sd)
    return model, plan, json.loads(meta.get("preprocessing", "{}"))


def load_into(model, sd: dict[str, np.ndarray]) -> None:
    """Copy a numpy state_dict into the twin (strict: every key and shape must match)."""
    torch = need("torch")
    try:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        raise UserError(f"state_dict does not fit the net: {str(e).splitlines()[0]}") from None
