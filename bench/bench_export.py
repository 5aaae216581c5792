#!/usr/bin/env python3
"""Benchmark: converting a SimpleNet caffemodel, against Caffe loading the same files, same job.

Net: a generated deploy net (default the 6.4M-parameter ImageNet net,
prototxt/imagenet_6p4m_deploy.prototxt) with random weights written by pycaffe.  Timed, as
whole commands (process start, imports, reading, converting, writing):

  baseline  python -c "caffe.Net(deploy, caffemodel, caffe.TEST)"  -- pycaffe loading it
  pytorch   tools/export.py --to pytorch (.safetensors)
  onnx      tools/export.py --to onnx
  import    tools/import_weights.py (the .safetensors back to a .caffemodel)

One untimed round first (page cache), then --repeat rounds interleaved.  Printed: min and
median seconds per command and the ratio command/baseline (lower is faster).  The goal of
issue 13 is an ONNX conversion of the 6.4M net under 5 s on CPU.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simplenet_caffe import caffe_env
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import REPO_ROOT


def random_weights(model: Path, out: Path) -> int:
    """Random weights for every blob (BatchNorm factor 20, variances positive); returns the parameter count."""
    caffe = caffe_env.import_caffe()
    caffe.set_mode_cpu()
    net = caffe.Net(str(model), caffe.TEST)
    rng = np.random.default_rng(0)
    n = 0
    for name, blobs in net.params.items():
        for i, b in enumerate(blobs):
            b.data[...] = rng.uniform(0.5, 1.5, b.data.shape) if (net.layer_dict[name].type == "BatchNorm" and i) \
                else rng.normal(0, 0.05, b.data.shape)
            n += b.data.size
        if net.layer_dict[name].type == "BatchNorm":
            blobs[2].data[...] = 20.0
    net.save(str(out))
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="prototxt/imagenet_6p4m_deploy.prototxt", help="deploy prototxt")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    a = ap.parse_args(argv)
    model = Path(a.model)
    if not model.is_file():
        raise UserError(f"model not found: {model}")
    if a.repeat < 1:
        raise UserError("--repeat must be at least 1")
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cm = tmp / "w.caffemodel"
        n = random_weights(model, cm)
        print(f"net {model.name}: {n:,} floats in the caffemodel ({cm.stat().st_size / 2**20:.1f} MiB)")
        cmds = {
            "baseline": [py, "-c", "import sys; from simplenet_caffe import caffe_env; c = caffe_env.import_caffe(); "
                         "c.Net(sys.argv[1], sys.argv[2], c.TEST)", str(model), str(cm)],
            "pytorch": [py, "tools/export.py", "--model", str(model), "--weights", str(cm), "--to", "pytorch",
                        "--out", str(tmp / "w.safetensors")],
            "onnx": [py, "tools/export.py", "--model", str(model), "--weights", str(cm), "--to", "onnx",
                     "--out", str(tmp / "w.onnx")],
            "import": [py, "tools/import_weights.py", "--model", str(model), "--state", str(tmp / "w.safetensors"),
                       "--out", str(tmp / "back.caffemodel")],
        }
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for r in range(a.repeat + 1):
            for name, cmd in cmds.items():
                t = time.perf_counter()
                p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=caffe_env.tool_env())
                dt = time.perf_counter() - t
                if p.returncode != 0:
                    raise UserError(f"{name} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
                if r:
                    times[name].append(dt)
            print(f"round {r}{' (untimed)' if not r else ''} done", file=sys.stderr)
    base = statistics.median(times["baseline"])
    print(f"{'command':<10}{'min s':>8}{'median s':>10}{'x baseline':>12}")
    for name, ts in times.items():
        print(f"{name:<10}{min(ts):>8.2f}{statistics.median(ts):>10.2f}{statistics.median(ts) / base:>12.2f}")
    print(f"(baseline = pycaffe loading the same deploy net + caffemodel; {a.repeat} rounds; goal: onnx < 5 s)")
    return 0


if __name__ == "__main__":
    run(main)
