"""SimpleNet out of Caffe and back: PyTorch twin, caffemodel <-> state_dict, ONNX (docs/export.md).

Modules:

* :mod:`.plan`     -- a net as a plain chain of steps (conv, bn, relu, drop, pool, ip, softmax),
  read from a Caffe ``NetParameter`` or expanded from the variant table; JSON-serialisable,
  no torch and no Caffe needed to hold one.
* :mod:`.torch_model` -- the ``nn.Module`` built from a plan (Caffe semantics: ceil pooling,
  BatchNorm+Scale as one affine BatchNorm2d, Dropout identity in eval).
* :mod:`.weights`  -- caffemodel blobs <-> the module's ``state_dict`` (exact, both ways).
* :mod:`.timm_layout` -- the SimpleNet_Pytorch / timm ``features.N.*`` / ``classifier.*`` keys.
* :mod:`.preprocessing` -- what the net's input must be (channel order, units, mean/std).
* :mod:`.files`    -- safetensors / .pt files with the plan and the preprocessing inside;
* :mod:`.onnx_model` -- the ONNX graph written from the plan (no torch), same records as metadata.
* :mod:`.verify`   -- Caffe vs PyTorch vs onnxruntime logits, on random inputs or an LMDB;
* :mod:`.conversion` -- the two conversions as the ``simplenet-export`` /
  ``simplenet-import-weights`` commands run them (verify first, then write).

May import the top level of simplenet_caffe, ``data``, ``nets`` and ``runs`` (pycaffe
evaluation for the checks) -- never commands.

torch, onnx, onnxruntime and safetensors are the optional ``[export]`` extra: they are imported
only inside functions, through :func:`need`, so the rest of the toolkit works without them.
"""
from __future__ import annotations

import importlib

from ..errors import UserError

INSTALL_HINT = 'pip install ".[export]"'


def need(module: str):
    """Import an optional export dependency, or fail with one line saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise UserError(f"{module.split('.')[0]} is not installed ({e.msg}): {INSTALL_HINT}") from None
