"""Exported files: safetensors / .pt state_dicts and ONNX models, each carrying the net's plan
and its input preprocessing, and caffemodels written back.

* ``.safetensors``: tensors = the state_dict; metadata (strings) ``format``, ``layout``
  ("simplenet-caffe" = Caffe layer names, "timm" = ``features.N.*``), ``plan`` (JSON),
  ``preprocessing`` (JSON), ``source``.  Written and read with ``safetensors.numpy``: no torch
  needed on either side.
* ``.pt`` / ``.pth``: ``torch.save`` of ``{"state_dict", "layout", "plan", "preprocessing",
  "source"}``; plain state_dicts (and ``{"state_dict": ...}`` checkpoints) are read too.
* ``.onnx``: opset :data:`OPSET`, input ``data`` (N x C x H x W, N dynamic), outputs ``logits``
  and ``prob``; ``metadata_props`` hold ``simplenet.preprocessing`` (JSON), ``simplenet.input``
  (one line), ``simplenet.channel_order``, ``simplenet.plan`` and ``simplenet.source``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..errors import UserError
from . import need
from .plan import Plan

FORMAT = "simplenet-caffe-export/1"
OPSET = 17
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
        import io

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
    from . import torch_model

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


def onnx_bytes(model, plan: Plan, prep: dict, source: str, batch: int = 1) -> bytes:
    """The twin (eval mode, weights loaded) as an ONNX model with logits + prob outputs and metadata."""
    torch = need("torch")
    onnx = need("onnx")
    import io

    from .torch_model import with_softmax

    net = with_softmax(model)
    x = torch.zeros(batch, *plan.input_shape)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of the dynamo one (which needs
        # onnxscript); it is what torch==2.13 exports these plain convnets with fastest.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), buf, opset_version=OPSET, dynamo=False, input_names=[plan.input_name],
                          output_names=["logits", "prob"],
                          dynamic_axes={plan.input_name: {0: "N"}, "logits": {0: "N"}, "prob": {0: "N"}},
                          do_constant_folding=True)
    m = onnx.load_from_string(buf.getvalue())
    m.doc_string = f"SimpleNet {plan.name} exported from Caffe by simplenet-caffe ({source})"
    props = {"simplenet.format": FORMAT, "simplenet.preprocessing": json.dumps(prep),
             "simplenet.input": prep.get("summary", ""), "simplenet.channel_order": str(prep.get("channel_order", "")),
             "simplenet.plan": plan.to_json(), "simplenet.source": source}
    del m.metadata_props[:]
    for k, v in props.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    return m.SerializeToString()
