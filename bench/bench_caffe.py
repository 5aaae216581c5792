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
installed. ``--baseline-caffe`` times a second Caffe build in the same job (before/after). Each timing
runs in its own process (PyTorch too), whose peak resident memory (RSS, MiB) is reported beside
its speed, and ``caffe time``'s per-layer averages are summed by layer type (Convolution,
BatchNorm, Scale...) for every net and build. ``--train-rss`` adds the peak RSS of ``caffe train`` (two iterations of the net's own solver on the
timing net, so with the solver's history blobs) per build. ``--demo VENV`` (repeatable; slow: the whole demo) also times ``tools/demo.py`` with
that venv's build, wall clock, after the table. The CPU's model name heads the output.
Results: bench/results/bench_caffe.{csv,md}.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.atomic import write_atomic
from simplenet_caffe.errors import UserError
from simplenet_caffe.progress import progress
from simplenet_caffe.cli import run
from simplenet_caffe.nets.counting import count_prototxt
from simplenet_caffe.nets.timing import BENCH_NETS, input_chw, timing_net
from simplenet_caffe.paths import PROTOTXT_DIR, REPO_ROOT

import train_pace  # beside this script: bench/ is first on sys.path when it runs

NETS = BENCH_NETS
RESULTS = REPO_ROOT / "bench" / "results"
TYPES_SHOWN = ("Convolution", "BatchNorm", "Scale", "ReLU", "Dropout", "Pooling", "InnerProduct")


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


def copy_gbs(mib: int = 256, seconds: float = 2.0) -> float:
    """Best memory rate of one numpy copy of `mib` MiB (GB/s, bytes read + written; one thread):
    what a layer that streams its blobs through memory (BatchNorm, pooling) can hope for."""
    src = np.ones(mib * 2 ** 18, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, 2 * src.nbytes / (time.perf_counter() - t) / 1e9)
    return best


def cpu_name() -> str:
    """'<model name>, <n> cores, AVX-512|AVX2' from /proc/cpuinfo (Linux), else the platform's word."""
    import platform
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
    isa = ""
    if flags:
        f = flags.group(1).split()
        isa = ", AVX-512" if "avx512f" in f else ", AVX2" if "avx2" in f else ""
    return f"{model.group(1).strip() if model else platform.machine()}, {os.cpu_count()} cores{isa}"


#: Run argv[2:] and write its peak RSS (KiB) to the file argv[1]; exit with its status (128+N on
#: signal N). A process started from this script would report at least this script's own peak
#: (with torch and the SGEMM arrays, about 300 MiB): Linux starts a new process's ``ru_maxrss`` at
#: the peak of the process it was spawned from. This small launcher (``python -S``, about 10 MiB)
#: stands between them.
_LAUNCHER = """import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
"""


def measured(cmd: list[str], env=None, cwd=None) -> tuple[int, str, str, float]:
    """Run ``cmd``: (exit code, stdout, stderr, peak RSS in MiB of that process alone)."""
    import subprocess
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as fr:
        p = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, fr.name, *map(str, cmd)], stdout=fo, stderr=fe,
                           env=env, cwd=cwd)
        fo.seek(0)
        fe.seek(0)
        kib = fr.read().strip()
        return (p.returncode, fo.read().decode(errors="replace"), fe.read().decode(errors="replace"),
                int(kib) / 1024 if kib else 0.0)  # Linux: KiB


def caffe_time(caffe: str, model: Path, iterations: int) -> dict[str, float]:
    """Average forward / backward / forward-backward ms per batch from ``caffe time``, and its peak RSS (MiB)."""
    env = caffe_env.tool_env()  # each build's binary finds its own libcaffe through its RUNPATH
    rc, _, err, rss = measured([caffe, "time", "-model", str(model), "-iterations", str(iterations)], env)
    if rc != 0:
        raise UserError(f"{caffe} time failed on {model.name}: {err.strip()[-600:]}")
    out = {"rss": rss, "layers": {}}
    for name, ms in re.findall(r"\]\s+(\S+)\s+(?:forward|backward): ([\d.]+) ms", err):
        out["layers"][name] = out["layers"].get(name, 0.0) + float(ms)
    for key, pat in (("fwd", "Average Forward pass"), ("bwd", "Average Backward pass"),
                     ("fwdbwd", "Average Forward-Backward")):
        m = re.search(pat + r": ([\d.]+) ms", err)
        if not m:
            raise UserError(f"could not read '{pat}' from caffe time output")
        out[key] = float(m.group(1))
    return out


def train_rss(caffe: str, stem: str, model: Path, tmp: Path) -> float:
    """Peak RSS (MiB) of ``caffe train``: two iterations of ``stem``'s own solver (its type, so its
    history blobs) on the timing net ``model`` (TRAIN layers only: no TEST net, no data reader)."""
    solver = protoio.read_solver(REPO_ROOT / "solvers" / f"{stem}_solver.prototxt")
    solver.net = str(model)
    for field in ("test_iter", "test_interval", "test_initialization"):
        solver.ClearField(field)
    solver.max_iter, solver.display, solver.snapshot = 2, 1, 0
    solver.snapshot_after_train = False
    solver.snapshot_prefix = str(tmp / "snap")
    solver.solver_mode = solver.CPU
    path = tmp / f"{stem}_train_solver.prototxt"
    protoio.write_text(path, solver)
    rc, _, err, rss = measured([caffe, "train", "-solver", str(path)], caffe_env.tool_env())
    if rc != 0:
        raise UserError(f"{caffe} train on {model.name} failed: {err.strip()[-600:]}")
    return rss


def torch_time_process(stem: str, batch: int, iterations: int, layout: str) -> tuple[float, float]:
    """(ms per batch, peak RSS MiB) of :func:`torch_time` run in a fresh process (``--torch-worker``)."""
    rc, out, err, rss = measured([sys.executable, __file__, "--torch-worker", stem, str(batch), str(iterations), layout])
    m = re.search(r"^torch_ms=([\d.]+)$", out, re.M)
    if rc != 0 or not m:
        raise UserError(f"PyTorch timing of {stem} ({layout}) failed: {err.strip()[-600:]}")
    return float(m.group(1)), rss


def torch_worker(stem: str, batch: int, iterations: int, layout: str) -> None:
    pb2 = caffe_env.caffe_pb2()
    chw = input_chw(PROTOTXT_DIR / f"{stem}_deploy.prototxt", pb2)
    net = timing_net(PROTOTXT_DIR / f"{stem}_train_val.prototxt", batch, chw, pb2)
    if iterations == 0:  # the training loop over the net's LMDB (bench/train_pace.py)
        print(f"torch_img_s={train_pace.torch_train_pace(net, chw, stem, layout == 'cl'):.3f}")
        return
    print(f"torch_ms={torch_time(net, chw, batch, iterations, layout == 'cl'):.3f}")


def torch_train_process(stem: str, layout: str) -> float:
    """Images/s of bench/train_pace.py's PyTorch training loop, run in a fresh process."""
    rc, out, err, _ = measured([sys.executable, __file__, "--torch-worker", stem, "100", "0", layout])
    m = re.search(r"^torch_img_s=([\d.]+)$", out, re.M)
    if rc != 0 or not m:
        raise UserError(f"PyTorch training loop of {stem} ({layout}) failed: {err.strip()[-600:]}")
    return float(m.group(1))


def demo_wall_time(venv: Path) -> tuple[float, str]:
    """(seconds, last lines of its output) of ``tools/demo.py`` run with ``venv``'s Python and Caffe build."""
    py = venv / "bin" / "python"
    env = dict(os.environ, SIMPLENET_VENV=str(venv.resolve()))
    t = time.perf_counter()
    rc, out, err, _ = measured([str(py), str(REPO_ROOT / "tools" / "demo.py")], env)
    if rc != 0:
        raise UserError(f"demo with {venv} failed: {err.strip()[-600:]}")
    return time.perf_counter() - t, out.strip()


def torch_time(net, chw, batch: int, iterations: int, channels_last: bool) -> float:
    """ms per forward + backward (zero_grad included, no optimizer step) of the torch twin."""
    import torch
    import torch_net  # beside this script: bench/ is first on sys.path when it runs
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


def _measure(nets, builds, have_torch: bool, args, pb2) -> tuple[dict, dict, dict]:
    """Time every (net, build or PyTorch layout): ms per batch, peak RSS (MiB), and ms by layer type."""
    # Each net's Caffe and PyTorch runs back to back, so that both sides see the same load on a
    # shared machine; with --rounds N every run is repeated N times and the fastest kept.
    steps = [(n, w) for _ in range(args.rounds) for n in nets
             for w in builds + (["nchw", "cl"] if have_torch else [])]
    if args.train_rss:
        steps += [(n, ("train",) + b) for n in nets for b in builds]
    paced = train_nets(nets, args)
    steps += [(n, w) for _ in range(args.rounds) for n in paced
              for w in [("pace", tests) + b for b in builds for tests in (False, True)]
              + ([("tloop", "nchw"), ("tloop", "cl")] if have_torch else [])]
    res: dict = {}
    rss: dict = {}
    by_type: dict = {}  # (stem, build, layer type) -> ms forward + backward per batch
    with tempfile.TemporaryDirectory() as tmp:
        for (title, stem, batch, cit, tit), what in progress(steps, total=len(steps), desc="bench", unit="run"):
            train_val, deploy = PROTOTXT_DIR / f"{stem}_train_val.prototxt", PROTOTXT_DIR / f"{stem}_deploy.prototxt"
            chw = input_chw(deploy, pb2)
            net = timing_net(train_val, batch, chw, pb2)
            if isinstance(what, tuple) and what[0] not in ("pace", "tloop"):  # (label, binary) or ("train", label, binary)
                model = Path(tmp) / f"{stem}_time.prototxt"
                protoio.write_text(model, net)
            if isinstance(what, tuple) and what[0] in ("pace", "tloop"):
                if what[0] == "pace":  # ("pace", with tests, build label, binary)
                    key, ips = (stem, "pace", what[1], what[2]), train_pace.caffe_train_pace(measured, what[3], stem, what[1])[0]
                else:
                    key, ips = (stem, "tloop", what[1]), torch_train_process(stem, what[1])
                res[key] = max(res.get(key, 0.0), ips)
            elif isinstance(what, tuple) and what[0] == "train":
                rss[stem, "train", what[1]] = train_rss(what[2], stem, model, Path(tmp))
            elif isinstance(what, tuple):
                t = caffe_time(what[1], model, max(1, round(cit * args.scale)))
                if (stem, what[0]) in res and res[stem, what[0]] <= t["fwdbwd"]:
                    continue
                res[stem, what[0]], rss[stem, what[0]] = t["fwdbwd"], t["rss"]
                kinds = {l.name: l.type for l in net.layer}
                for k in [k for k in by_type if k[:2] == (stem, what[0])]:
                    del by_type[k]
                for name, ms in t["layers"].items():
                    key = (stem, what[0], kinds.get(name, "?"))
                    by_type[key] = by_type.get(key, 0.0) + ms
            else:
                ms, mem = torch_time_process(stem, batch, max(1, round(tit * args.scale)), what)
                if (stem, what) not in res or ms < res[stem, what]:
                    res[stem, what], rss[stem, what] = ms, mem
    return res, rss, by_type


def train_nets(nets, args) -> list:
    """The nets of ``--train-nets`` among ``nets`` whose training LMDB exists (a note for the others)."""
    wanted = [s for s in args.train_nets.split(",") if s]
    out = []
    for n in nets:
        if n[1] not in wanted:
            continue
        source, batch = train_pace.train_source(n[1])
        if batch != n[2]:
            raise UserError(f"{n[1]}: its train_val batch ({batch}) differs from the bench batch ({n[2]})")
        if (source / "data.mdb").is_file():
            out.append(n)
        else:
            print(f"caffe train pace of {n[0]} skipped: no LMDB at {source} (make it with data_prep/, e.g. "
                  f".venv/bin/python data_prep/mnist.py)")
    return out


def _rows(nets, builds, res: dict, rss: dict, gemm: float, args, have_torch: bool, by_type: dict) -> list[dict]:
    """One result row per net: Caffe's speed, its share of SGEMM, the baseline and PyTorch beside it.
    ``caffe_vs_torch_conv_ceiling``: the better PyTorch layout's ms over Caffe's Convolution layers'
    ms alone, the ratio Caffe would reach if everything else took no time (both run oneDNN's
    convolution kernels, so this bounds what work outside the convolutions can gain)."""
    rows = []
    for title, stem, batch, _, _ in nets:
        macs = count_prototxt(PROTOTXT_DIR / f"{stem}_deploy.prototxt").macs
        flop_img = 6 * macs
        ms = res[stem, "caffe"]
        row = {"net": title, "batch": batch, "train_GFLOP_per_image": round(flop_img / 1e9, 3),
               "caffe_ms": round(ms, 1), "caffe_img_s": round(batch / ms * 1e3, 1),
               "caffe_GFLOP_s": round(flop_img * batch / ms / 1e6, 1), "sgemm_GFLOP_s": round(gemm, 1),
               "caffe_pct_sgemm": round(100 * flop_img * batch / ms / 1e6 / gemm, 1),
               "caffe_rss_MiB": round(rss[stem, "caffe"])}
        if args.train_rss:
            row["caffe_train_rss_MiB"] = round(rss[stem, "train", "caffe"])
        if ("baseline", args.baseline_caffe) in builds:
            b = res[stem, "baseline"]
            row.update(baseline_ms=round(b, 1), baseline_img_s=round(batch / b * 1e3, 1),
                       baseline_rss_MiB=round(rss[stem, "baseline"]), speedup_vs_baseline=round(b / ms, 2))
            if args.train_rss:
                row["baseline_train_rss_MiB"] = round(rss[stem, "train", "baseline"])
        if have_torch:
            for t in ("nchw", "cl"):
                row[f"torch_{t}_ms"] = round(res[stem, t], 1)
                row[f"torch_{t}_rss_MiB"] = round(rss[stem, t])
                row[f"caffe_vs_torch_{t}"] = round(res[stem, t] / ms, 2)
            conv = by_type.get((stem, "caffe", "Convolution"))
            if conv:
                row["caffe_conv_ms"] = round(conv, 1)
                row["caffe_vs_torch_conv_ceiling"] = round(min(res[stem, "nchw"], res[stem, "cl"]) / conv, 2)
        if (stem, "pace", False, "caffe") in res:
            for label, _ in builds:
                time_ips = batch / res[stem, label] * 1e3
                for tests, name in ((False, "train"), (True, "train_test")):
                    ips = res[stem, "pace", tests, label]
                    row[f"{label}_{name}_img_s"] = round(ips, 1)
                    row[f"{label}_{name}_vs_time"] = round(ips / time_ips, 3)
            if ("baseline", args.baseline_caffe) in builds:
                row["train_speedup_vs_baseline"] = round(res[stem, "pace", False, "caffe"] / res[stem, "pace", False, "baseline"], 3)
            if have_torch:
                for t in ("nchw", "cl"):
                    row[f"torch_train_{t}_img_s"] = round(res[stem, "tloop", t], 1)
                    row[f"caffe_train_vs_torch_train_{t}"] = round(res[stem, "pace", False, "caffe"] / res[stem, "tloop", t], 2)
        rows.append(row)
    return rows


def _report(rows: list[dict], nets, builds, by_type: dict, about: str, args, have_torch: bool) -> str:
    """Print the rows and write bench/results/bench_caffe.{csv,md}; returns the Markdown."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, cols)
    w.writeheader()
    w.writerows(rows)
    write_atomic(RESULTS / "bench_caffe.csv", buf.getvalue())
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    header = (f"{about}; training FLOPs/image = 6 x MACs; "
              f"ms = forward+backward per batch (no update); ratios > 1 mean Caffe is faster; "
              f"rss = peak resident memory of the timing process.\n\n")
    md_text = header + "\n".join(md) + "\n"
    print()
    for r in rows:
        line = (f"{r['net']:22s} batch {r['batch']:3d}: caffe {r['caffe_ms']:8.1f} ms = {r['caffe_img_s']:6.1f} img/s"
                f" = {r['caffe_GFLOP_s']:6.1f} GFLOP/s = {r['caffe_pct_sgemm']:5.1f}% of SGEMM, {r['caffe_rss_MiB']} MiB")
        if "baseline_ms" in r:
            line += (f" | baseline {r['baseline_img_s']:6.1f} img/s, {r['baseline_rss_MiB']} MiB,"
                     f" speedup {r['speedup_vs_baseline']:.2f}x")
        if have_torch:
            line += (f" | torch NCHW {r['torch_nchw_ms']:.0f} ms ({r['caffe_vs_torch_nchw']:.2f}x),"
                     f" channels_last {r['torch_cl_ms']:.0f} ms ({r['caffe_vs_torch_cl']:.2f}x), {r['torch_cl_rss_MiB']} MiB")
            if "caffe_vs_torch_conv_ceiling" in r:
                line += (f"; Convolution {r['caffe_conv_ms']:.0f} ms: with nothing else, "
                         f"{r['caffe_vs_torch_conv_ceiling']:.2f}x the better PyTorch")
        if args.train_rss:
            line += f" | caffe train peak RSS {r['caffe_train_rss_MiB']} MiB" + (
                f", baseline {r['baseline_train_rss_MiB']} MiB ({r['caffe_train_rss_MiB'] / r['baseline_train_rss_MiB']:.2f}x)"
                if "baseline_train_rss_MiB" in r else "")
        print(line)
        if "caffe_train_img_s" in r:
            line = f"{'':22s} caffe train (the net's LMDB and solver, from the log's pace):"
            for label, _ in builds:
                line += (f" {label} {r[f'{label}_train_img_s']:.1f} img/s = {r[f'{label}_train_vs_time']:.3f} of its caffe time,"
                         f" with test passes {r[f'{label}_train_test_img_s']:.1f} img/s = {r[f'{label}_train_test_vs_time']:.3f};")
            if "train_speedup_vs_baseline" in r:
                line += f" speedup {r['train_speedup_vs_baseline']:.2f}x;"
            if have_torch:
                line += (f" torch training loop NCHW {r['torch_train_nchw_img_s']:.1f} img/s ({r['caffe_train_vs_torch_train_nchw']:.2f}x),"
                         f" channels_last {r['torch_train_cl_img_s']:.1f} img/s ({r['caffe_train_vs_torch_train_cl']:.2f}x)")
            print(line.rstrip(";"))
    type_md = ["", "ms per batch by layer type (forward + backward, `caffe time`):", "",
               "| net | build | " + " | ".join(TYPES_SHOWN) + " | other |", "|---|---|" + "---|" * (len(TYPES_SHOWN) + 1)]
    for title, stem, *_ in nets:
        for b, _ in builds:
            ms = {t: v for (st, bb, t), v in by_type.items() if st == stem and bb == b}
            cells = [f"{ms.get(t, 0):.0f}" for t in TYPES_SHOWN]
            other = sum(v for t, v in ms.items() if t not in TYPES_SHOWN)
            type_md.append(f"| {title} | {b} | " + " | ".join(cells) + f" | {other:.0f} |")
            print(f"{title:22s} {b:8s} ms by layer type: " + ", ".join(
                f"{t} {c}" for t, c in zip(TYPES_SHOWN, cells)) + f", other {other:.0f}")
    md_text += "\n".join(type_md) + "\n"
    write_atomic(RESULTS / "bench_caffe.md", md_text)
    return md_text


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
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat every run this many times and keep the fastest (a shared machine)")
    ap.add_argument("--demo", action="append", default=[], metavar="VENV",
                    help="also time `tools/demo.py` (minutes) with this venv's build; repeatable (e.g. --demo .venv)")
    ap.add_argument("--train-rss", action="store_true",
                    help="also measure each build's peak RSS of `caffe train` (2 iterations of the net's own solver)")
    ap.add_argument("--train-nets", default="mnist_s300a",
                    help="comma-separated stems whose real `caffe train` pace (their LMDB and solver) and PyTorch "
                         "training loop are measured too, if their LMDB exists; '' for none (default: %(default)s)")
    ap.add_argument("--torch-worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        raise UserError("--rounds must be at least 1")
    for venv in args.demo:
        if not (Path(venv) / "bin" / "python").is_file():
            raise UserError(f"--demo: no {Path(venv) / 'bin' / 'python'}")
    if args.torch_worker:
        stem, batch, iterations, layout = args.torch_worker
        return torch_worker(stem, int(batch), int(iterations), layout)
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
    pb2 = caffe_env.caffe_pb2()

    cpu = cpu_name()
    print(f"CPU: {cpu}")
    gemm = sgemm_gflops()
    print(f"numpy SGEMM (2048^3, float32, {os.cpu_count()} cores): {gemm:.0f} GFLOP/s")
    copy = copy_gbs()
    print(f"numpy copy of 256 MiB (one thread, read + write): {copy:.1f} GB/s")
    res, rss, by_type = _measure(nets, builds, have_torch, args, pb2)
    rows = _rows(nets, builds, res, rss, gemm, args, have_torch, by_type)
    md_text = _report(rows, nets, builds, by_type, f"CPU: {cpu}\n\ncaffe: {caffe}\n\nnumpy SGEMM {gemm:.0f} GFLOP/s, "
                      f"copy {copy:.1f} GB/s",
                      args, have_torch)
    demo_md = []
    for venv in args.demo:
        print(f"\ndemo with {venv} (tools/demo.py, minutes)...", flush=True)
        secs, out = demo_wall_time(Path(venv))
        prefix = (Path(venv) / ".caffe-prefix").read_text().strip() if (Path(venv) / ".caffe-prefix").is_file() else venv
        print(f"demo with {venv}: {secs:.0f} s wall ({prefix})\n" + "\n".join(out.splitlines()[-3:]))
        demo_md.append(f"| {prefix} | {secs:.0f} s |")
    if demo_md:
        md_text += "\n| demo build (tools/demo.py) | wall time |\n|---|---|\n" + "\n".join(demo_md) + "\n"
        write_atomic(RESULTS / "bench_caffe.md", md_text)
    print(f"\nwrote {RESULTS / 'bench_caffe.csv'} and {RESULTS / 'bench_caffe.md'}")


if __name__ == "__main__":
    run(main)
