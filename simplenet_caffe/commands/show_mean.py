"""Print a mean file's shape and per-channel values (.binaryproto, .npy or mean.json).

Answers the recurring "how do I get the per-channel mean out of mean.binaryproto" question
(BVLC/caffe #290, #808, #3794). With -o X.npy, also converts it to a C×H×W float32 .npy.

  show_mean.py data/cifar10/mean.binaryproto
  show_mean.py data/cifar10/mean.binaryproto -o mean.npy --order RGB
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from simplenet_caffe import protoio
from simplenet_caffe.atomic import write_atomic
from simplenet_caffe.cli import run
from simplenet_caffe.data import stats
from simplenet_caffe.errors import UserError


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mean_file", help="mean.binaryproto, mean.npy or mean.json")
    ap.add_argument("--order", help="channel names, e.g. BGR or RGB (default: from mean.json/preprocess.json beside it)")
    ap.add_argument("-o", "--out", metavar="PATH", help="also save the mean as a CxHxW float32 .npy")
    ap.add_argument("--json", action="store_true", help="print the per-channel means as JSON")
    a = ap.parse_args(argv)
    p = Path(a.mean_file)
    if p.suffix == ".npy":
        try:
            mean = np.load(p, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError, EOFError) as e:
            raise UserError(f"{p}: not a .npy array ({e})") from e
        while mean.ndim > 3 and mean.shape[0] == 1:
            mean = mean[0]
        mean = mean[None] if mean.ndim == 2 else mean
        if mean.ndim != 3 or not mean.size:
            raise UserError(f"{p}: a mean image is CxHxW (or HxW), got shape {mean.shape}")
    elif p.suffix == ".json":
        info = _read_json(p)
        print(json.dumps(info, indent=2))
        return 0
    else:
        mean = protoio.read_binaryproto(p)
    order = a.order
    for side in (p.with_suffix(".json"), p.parent / "preprocess.json"):
        if order is None and side.is_file():
            order = _read_json(side).get("channel_order")
    if a.json:
        print(json.dumps({"shape": list(mean.shape), "channel_order": order,
                          "channel_mean": [float(c.mean()) for c in mean.reshape(mean.shape[0], -1)]}))
    else:
        print(f"{p}:")
        print("\n".join(stats.describe_mean(mean, order if order != "gray" else None)))
    if a.out:
        if not a.out.endswith(".npy"):
            raise UserError(f"-o {a.out}: the mean is saved as .npy (name the file X.npy)")
        write_atomic(a.out, lambda f: np.save(f, mean))
        print(f"wrote {a.out}")


def _read_json(path: Path) -> dict:
    """A mean.json / preprocess.json as a dict; a missing or damaged file is one line."""
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable JSON file ({e})") from e
    if not isinstance(info, dict):
        raise UserError(f"{path}: expected a JSON object")
    return info


def entry() -> None:
    """The ``simplenet-show-mean`` command (also ``tools/show_mean.py``)."""
    run(main)
