#!/usr/bin/env python3
"""Benchmark: Caffe CPU training speed vs the machine's SGEMM rate and PyTorch, same job.

For each net (A5M CIFAR-10, S300-A MNIST, ImageNet 5m_m2) the generated train_val prototxt is
turned into a timing net (TRAIN-phase layers, the Data layer replaced by an Input of the same
shape, so BatchNorm uses batch statistics and Dropout is active) and run with
``caffe time`` (forward + backward per batch, no weight update). Reported per net:
images/s and effective GFLOP/s, with training FLOPs per image = 3 x 2 x MACs (forward, plus
backward to data and to weights; MACs from simplenet_caffe.nets.counting, conv + InnerProduct).
Beside it: numpy's float32 GEMM rate measured in this job, and PyTorch CPU (NCHW and
channels_last, forward + backward, no optimizer step) on the same architecture when torch is
installed. ``--baseline-caffe`` times a second Caffe build in the same job (before/after).
Results: bench/results/bench_caffe.{csv,md}.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.errors import UserError
from simplenet_caffe.progress import progress
from simplenet_caffe.cli import run
from simplenet_caffe.paths import PROTOTXT_DIR, REPO_ROOT

# name, prototxt stem, batch, caffe iterations, torch iterations
NETS = [
    ("A5M CIFAR-10", "cifar10_a5m_zeropad", 100, 3, 3),
    ("S300-A MNIST", "mnist_s300a", 100, 5, 5),
    ("ImageNet 5m_m2 @224", "imagenet_5m_m2", 8, 2, 2),
]
RESULTS = REPO_ROOT / "bench" / "results"


def sgemm_gflops(n: int = 2048, seconds: float = 3.0) -> float:
    """Best float32 GEMM rate (GFLOP/s, 2 n^3 per product) numpy reaches on this machine."""
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def input_chw(deploy: Path, pb2) -> tuple[int, int, int]:
    net = protoio.read_net(deploy)
    for l in net.layer:
        if l.type == "Input":
            return tuple(l.input_param.shape[0].dim[1:4])
    raise UserError(f"{deploy}: no Input layer")


def timing_net(train_val: Path, batch: int, chw, pb2):
    """TRAIN-phase layers of ``train_val`` with the Data layer replaced by Input (data, label)."""
    src = protoio.read_net(train_val)
    net = pb2.NetParameter(name=src.name)
    data = net.layer.add(name="data", type="Input", top=["data", "label"])
    data.input_param.shape.add(dim=[batch, *chw])
    data.input_param.shape.add(dim=[batch])
    for l in src.layer:
        if l.type in ("Data", "ImageData", "Input"):
            continue
        if any(r.HasField("phase") and r.phase != pb2.TRAIN for r in l.include):
            continue
        net.layer.add().CopyFrom(l)
    return net


def caffe_time(caffe: str, model: Path, iterations: int) -> dict[str, float]:
    """Average forward / backward / forward-backward ms per batch from ``caffe time``."""
    import subprocess
    env = caffe_env.tool_env()  # each build's binary finds its own libcaffe through its RUNPATH
    p = subprocess.run([caffe, "time", "-model", str(model), "-iterations", str(iterations)],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise UserError(f"{caffe} time failed on {model.name}: {p.stderr.strip()[-600:]}")
    out = {}
    for key, pat in (("fwd", "Average Forward pass"), ("bwd", "Average Backward pass"),
                     ("fwdbwd", "Average Forward-Backward")):
        m = re.search(pat + r": ([\d.]+) ms", p.stderr)
        if not m:
            raise UserError(f"could not read '{pat}' from caffe time output")
        out[key] = float(m.group(1))
    return out


def torch_time(net, chw, batch: int, iterations: int, channels_last: bool) -> float:
    """ms per forward + backward (zero_grad included, no optimizer step) of the torch twin."""
    import torch
    from bench import torch_net
    torch.set_num_threads(os.cpu_count() or 1)
    model, loss_fn = torch_net.build(torch, net, chw)
    x = torch.randn(batch, *chw)
    y = torch.zeros(batch, dtype=torch.long)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    for it in range(iterations + 1):  # first is warm-up
        t = time.perf_counter()
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        times.append((time.perf_counter() - t) * 1e3)
    return sum(times[1:]) / iterations


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--nets", default=",".join(n[1] for n in NETS),
                    help="comma-separated prototxt stems (default: %(default)s)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts (min 1 each)")
    ap.add_argument("--caffe", default=None, help="caffe binary to time (default: this venv's)")
    ap.add_argument("--baseline-caffe", default=None,
                    help="a second caffe binary timed in the same job (e.g. the stock build)")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    args = ap.parse_args(argv)
    caffe = args.caffe or str(caffe_env.caffe_tool("caffe"))
    builds = [("caffe", caffe)] + ([("baseline", args.baseline_caffe)] if args.baseline_caffe else [])
    for _, b in builds:
        if not Path(b).exists():
            raise UserError(f"no caffe binary at {b}")
    wanted = args.nets.split(",")
    nets = [n for n in NETS if n[1] in wanted]
    if not nets:
        raise UserError(f"--nets: none of {wanted} is one of {[n[1] for n in NETS]}")
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        print("torch not installed: PyTorch columns left empty (pip install torch==2.13.0)")
    from simplenet_caffe.nets.counting import count_prototxt
    pb2 = caffe_env.caffe_pb2()

    gemm = sgemm_gflops()
    print(f"numpy SGEMM (2048^3, float32, {os.cpu_count()} cores): {gemm:.0f} GFLOP/s")
    rows = []
    steps = [(n, b) for n in nets for b in builds] + ([(n, t) for n in nets for t in ("nchw", "cl")]
                                                       if have_torch else [])
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for (title, stem, batch, cit, tit), what in progress(steps, total=len(steps), desc="bench", unit="run"):
            train_val, deploy = PROTOTXT_DIR / f"{stem}_train_val.prototxt", PROTOTXT_DIR / f"{stem}_deploy.prototxt"
            chw = input_chw(deploy, pb2)
            net = timing_net(train_val, batch, chw, pb2)
            if isinstance(what, tuple):
                model = Path(tmp) / f"{stem}_time.prototxt"
                protoio.write_text(model, net)
                res[stem, what[0]] = caffe_time(what[1], model, max(1, round(cit * args.scale)))["fwdbwd"]
            else:
                res[stem, what] = torch_time(net, chw, batch, max(1, round(tit * args.scale)), what == "cl")
    for title, stem, batch, _, _ in nets:
        macs = count_prototxt(PROTOTXT_DIR / f"{stem}_deploy.prototxt").macs
        flop_img = 6 * macs
        ms = res[stem, "caffe"]
        row = {"net": title, "batch": batch, "train_GFLOP_per_image": round(flop_img / 1e9, 3),
               "caffe_ms": round(ms, 1), "caffe_img_s": round(batch / ms * 1e3, 1),
               "caffe_GFLOP_s": round(flop_img * batch / ms / 1e6, 1), "sgemm_GFLOP_s": round(gemm, 1),
               "caffe_pct_sgemm": round(100 * flop_img * batch / ms / 1e6 / gemm, 1)}
        if ("baseline", args.baseline_caffe) in builds:
            b = res[stem, "baseline"]
            row.update(baseline_ms=round(b, 1), baseline_img_s=round(batch / b * 1e3, 1),
                       speedup_vs_baseline=round(b / ms, 2))
        if have_torch:
            for t in ("nchw", "cl"):
                row[f"torch_{t}_ms"] = round(res[stem, t], 1)
                row[f"caffe_vs_torch_{t}"] = round(res[stem, t] / ms, 2)
        rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    tmpcsv = RESULTS / "bench_caffe.csv.part"
    with open(tmpcsv, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    tmpcsv.replace(RESULTS / "bench_caffe.csv")
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    header = (f"caffe: {caffe}\n\nnumpy SGEMM {gemm:.0f} GFLOP/s; training FLOPs/image = 6 x MACs; "
              f"ms = forward+backward per batch (no update); ratios > 1 mean Caffe is faster.\n\n")
    (RESULTS / "bench_caffe.md.part").write_text(header + "\n".join(md) + "\n")
    (RESULTS / "bench_caffe.md.part").replace(RESULTS / "bench_caffe.md")
    print()
    for r in rows:
        line = (f"{r['net']:22s} batch {r['batch']:3d}: caffe {r['caffe_ms']:8.1f} ms = {r['caffe_img_s']:6.1f} img/s"
                f" = {r['caffe_GFLOP_s']:6.1f} GFLOP/s = {r['caffe_pct_sgemm']:5.1f}% of SGEMM")
        if "baseline_ms" in r:
            line += f" | baseline {r['baseline_img_s']:6.1f} img/s, speedup {r['speedup_vs_baseline']:.2f}x"
        if have_torch:
            line += (f" | torch NCHW {r['torch_nchw_ms']:.0f} ms ({r['caffe_vs_torch_nchw']:.2f}x),"
                     f" channels_last {r['torch_cl_ms']:.0f} ms ({r['caffe_vs_torch_cl']:.2f}x)")
        print(line)
    print(f"\nwrote {RESULTS / 'bench_caffe.csv'} and {RESULTS / 'bench_caffe.md'}")


if __name__ == "__main__":
    run(main)
