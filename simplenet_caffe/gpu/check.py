#!/usr/bin/env python3
"""GPU check: prove a CUDA Caffe build on the machine it runs on, in minutes, with one report.

Runs from an unpacked GPU bundle (``make gpu-bundle``; this file is its ``gpu_check.py``) on a
machine with an NVIDIA GPU, its driver and PyPI's CUDA wheels (nvidia-cudnn-cu13,
nvidia-nccl-cu13, nvidia-cublas, nvidia-curand), and nothing else of Caffe's: standard library
only, plus PyTorch when importable. Steps, each with its own timeout, in this order:

1. libraries: every shared library of the bundle's ``caffe`` resolves (bundle's lib/ + the wheels);
2. ``caffe --version`` and ``caffe device_query -gpu 0``;
3. numerics: one forward/backward of a fixed net (``net_pass``) against the CPU build's numbers,
   tolerance as tests/test_numerics.py (max error < 2e-4 of the array's largest value, floor 1e-3);
4. training: ``caffe train`` of S300-A on the bundled MNIST subset, 200 iterations, loss must fall;
5. ``caffe time -gpu 0`` of A5M CIFAR-10, S300-A MNIST and 5m_m2 with cuDNN and with ``engine: CAFFE``,
   and ``caffe train`` of each (cuDNN) on DummyData with its experiment's solver: images/s with
   the update, without Caffe's per-layer timers;
6. PyTorch on the same nets and GPU (forward + backward), when torch imports.

Any failure stops the run with one line ``gpu-check: FAILED at <step>: <why>`` (exit 1); the
report written so far is kept and says FAILED. Goals are printed against the measurement
(A5M >= 11,300 img/s, cuDNN >= 2x engine CAFFE, Caffe >= PyTorch), not enforced.
``--dry-run`` walks every step on a CPU-only build (no -gpu, small batches, few iterations).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

TOTAL_BUDGET_S = 240          # the whole run, on a 16-core GPU machine
TOL, FLOOR = 2e-4, 1e-3       # tests/test_numerics.py
GOAL_A5M_IMG_S = 11300        # 20x the authors' GTX 980 (565 img/s)
GOAL_CUDNN_VS_CAFFE = 2.0
GOAL_CAFFE_VS_TORCH = 1.0
# Training must bring the loss (mean of the last third of the displayed values) below this
# fraction of the first one: 200 GPU iterations reach ~0.1 of it; the dry run's 12 CPU ones ~0.85.
LOSS_FALL, LOSS_FALL_DRY = 0.5, 0.95
DISPLAY_RE = re.compile(r"Iteration (\d+) \((\S+) iter/s[^)]*\), loss = (\S+)")
TIME_RE = re.compile(r"Average Forward-Backward: ([\d.]+) ms")
TEST_ACC_RE = re.compile(r"Test net output #\d+: accuracy = ([\d.]+)")


class CheckFailed(Exception):
    pass


def rate(x: float) -> str:
    """Images/s for the report: thousands separated, one decimal below 100 (the dry run's CPU)."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def read_arrays(path: str | os.PathLike) -> dict[str, list[float]]:
    """``net_pass`` output: one line ``name count v1 v2 ...`` per array."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            name, n, vals = parts[0], int(parts[1]), parts[2:]
            if len(vals) != n:
                raise ValueError(f"{path}: {name} has {len(vals)} values, header says {n}")
            out[name] = [float(v) for v in vals]
    return out


def compare_arrays(got: dict, want: dict) -> list[tuple[str, float]]:
    """(name, max |got - want| / max(max |want|, 1e-3)) for every array of ``want``."""
    rows = []
    for k, w in want.items():
        g = got.get(k)
        if g is None or len(g) != len(w):
            rows.append((k, float("inf")))
            continue
        scale = max(max((abs(v) for v in w), default=0.0), FLOOR)
        err = max((abs(a - b) for a, b in zip(g, w)), default=0.0)
        rows.append((k, err / scale))
    return rows


class Check:
    def __init__(self, bundle: Path, dry_run: bool, gpu: int, out: Path, tools_dir: Path | None,
                 budget: float = TOTAL_BUDGET_S):
        self.bundle, self.dry, self.gpu, self.out = bundle, dry_run, gpu, out
        self.tools_dir = tools_dir
        self.t0 = time.monotonic()
        self.budget = budget
        self.manifest = json.loads((bundle / "bundle.json").read_text())
        self.md: list[str] = []
        self.results: dict = {}
        self.work = bundle / "work"
        self.work.mkdir(exist_ok=True)

    # ------------------------------------------------------------------ helpers
    def tool(self, name: str) -> list[str]:
        if self.tools_dir is not None:
            return [str(self.tools_dir / name)]
        return [str(self.bundle / "run"), name]

    def gpu_flag(self) -> list[str]:
        return [] if self.dry else ["-gpu", str(self.gpu)]

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.t0)

    def run(self, step: str, cmd: list[str], timeout: float, cwd: Path | None = None) -> str:
        """Run ``cmd``; its stdout+stderr as text. Non-zero exit or timeout -> CheckFailed."""
        timeout = min(timeout, self.left())
        if timeout <= 1:
            raise CheckFailed(f"{step}: no time left of the {self.budget:.0f} s budget")
        env = dict(os.environ, GLOG_logtostderr="1")
        try:
            proc = subprocess.Popen(cmd, cwd=cwd or self.bundle, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
        except OSError as e:
            raise CheckFailed(f"{step}: cannot run {cmd[0]}: {e.strerror}") from None
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise CheckFailed(f"{step}: timed out after {timeout:.0f} s ({' '.join(cmd[-6:])})") from None
        (self.work / (re.sub(r"\W+", "_", step) + ".log")).write_text(out)
        if proc.returncode != 0:
            # glog's fatal/error lines say why (dates MMDD or YYYYMMDD); a stack trace may follow them
            why = [l.split("] ", 1)[-1] for l in out.splitlines() if re.match(r"[FE](?:\d{8}|\d{4}) \d", l)]
            why = why or [l for l in out.strip().splitlines() if l.strip()][-1:] or ["(no output)"]
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
            raise CheckFailed(f"{step}: {how}: {why[-1].strip()[-300:]}")
        return out

    def section(self, title: str, lines: list[str]) -> None:
        self.md += [f"## {title}", ""] + lines + [""]
        print(f"[gpu-check {time.monotonic() - self.t0:5.1f}s] {title}: done", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ steps
    def step_libraries(self) -> None:
        if self.tools_dir is not None:
            self.section("Libraries", [f"dry run: the CPU build's own tools in `{self.tools_dir}`."])
            return
        env_out = self.run("libraries", [str(self.bundle / "run"), "--ldd", "caffe"], 30)
        missing = sorted({l.split()[0] for l in env_out.splitlines() if "=> not found" in l})
        version = [l.strip() for l in env_out.splitlines() if "version `" in l and "not found" in l]
        if version:
            raise CheckFailed(f"libraries: this machine's system libraries are too old: {version[0][-200:]}")
        if missing:
            raise CheckFailed("libraries: not found: " + ", ".join(missing) +
                              " (pip install nvidia-cudnn-cu13 nvidia-nccl-cu13 nvidia-cublas nvidia-curand,"
                              " or set CAFFE_GPU_LIBS=dir1:dir2)")
        need = self.manifest.get("glibc_needed")
        have = platform.libc_ver()[1]
        if need and have and tuple(map(int, have.split("."))) < tuple(map(int, need.split("."))):
            raise CheckFailed(f"libraries: the bundle needs glibc {need}, this machine has {have}")
        wheel_libs = [l.split("=>")[1].split()[0] for l in env_out.splitlines()
                      if "=>" in l and re.search(r"lib(cudnn|nccl|cublas|curand|cuda)\b", l)]
        versions = []
        for p in wheel_libs:
            name = Path(p).name
            fn = ("cudnnGetVersion" if name.startswith("libcudnn.so") else
                  "ncclGetVersion" if name.startswith("libnccl.so") else None)
            if fn:
                try:
                    import ctypes  # noqa: PLC0415
                    lib = ctypes.CDLL(p)
                    if fn == "cudnnGetVersion":
                        lib.cudnnGetVersion.restype = ctypes.c_size_t
                        versions.append(f"cuDNN {lib.cudnnGetVersion()}")
                    else:
                        v = ctypes.c_int()
                        lib.ncclGetVersion(ctypes.byref(v))
                        versions.append(f"NCCL {v.value}")
                except OSError as e:
                    versions.append(f"{name}: not loadable ({e})")
        self.results["versions"] = ", ".join(versions)
        self.section("Libraries", [f"glibc {have} (bundle needs {need}, and GLIBCXX_{self.manifest.get('glibcxx_needed')} "
                                   f"of the system's libstdc++); {self.results['versions']}; from outside the bundle:", ""] +
                     [f"- `{p}`" for p in wheel_libs])

    def step_device(self) -> None:
        ver = self.run("caffe --version", self.tool("caffe") + ["--version"], 30).strip().splitlines()[-1]
        q = self.run("device_query", self.tool("caffe") + ["device_query"] + self.gpu_flag(), 60)
        keep = ("Device id", "Major revision", "Minor revision", "Name", "Total global memory",
                "Number of multiprocessors", "Clock rate")
        lines = [re.sub(r"^.*\] ", "", l).strip() for l in q.splitlines() if any(k in l for k in keep)]
        name = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("Name")), None)
        self.results["gpu_name"] = name or ("CPU (dry run)" if self.dry else "?")
        if not self.dry and not name:
            raise CheckFailed("device_query: Caffe printed no device (is the NVIDIA driver loaded?)")
        self.section("Device", [f"`{ver}`", ""] + [f"- {l}" for l in lines] +
                     (["- dry run: no device queried (CPU-only build)"] if self.dry else []))

    def step_numerics(self) -> None:
        d = self.bundle / "numerics"
        out = self.work / "numerics_out.txt"
        self.run("numerics", self.tool("net_pass") + [f"-model={d / 'model.prototxt'}", f"-weights={d / 'weights.caffemodel'}",
                                                      f"-inputs={d / 'inputs.binaryproto'}", f"-out={out}"]
                 + ([] if self.dry else [f"-gpu={self.gpu}"]), 60)
        rows = compare_arrays(read_arrays(out), read_arrays(d / "cpu_reference.txt"))
        worst = max(rows, key=lambda r: r[1])
        self.results["numerics_worst"] = worst
        lines = [f"One forward/backward (TRAIN) of the fixed net of tests/test_numerics.py without Dropout, "
                 f"{len(rows)} arrays (every blob and parameter, data and diff) against the CPU build "
                 f"(`{self.manifest.get('cpu_reference_build', '?')}`).",
                 "", f"Largest error: `{worst[0]}` {worst[1]:.2e} of its largest value (limit {TOL:.0e})."]
        bad = [r for r in rows if not r[1] < TOL]
        self.section("Numerics against the CPU build", lines)
        if bad:
            raise CheckFailed(f"numerics: {len(bad)} arrays differ from the CPU build, e.g. {bad[0][0]} "
                              f"{bad[0][1]:.2e} of its largest value (limit {TOL:.0e})")

    def step_train(self) -> None:
        t = self.manifest["train"]
        iters = t["dry_iters"] if self.dry else t["iters"]
        solver = self.work / "train_solver.prototxt"
        # The solver file says solver_mode: GPU, as the generated ones do; the dry run's CPU-only
        # build trains it on the CPU (setup/patches/0005).
        text = (self.bundle / t["solver"]).read_text()
        text = re.sub(r"(?m)^max_iter: \d+", f"max_iter: {iters}", text)
        text = re.sub(r"(?m)^test_interval: \d+", f"test_interval: {iters}", text)
        text = re.sub(r"(?m)^display: \d+", f"display: {max(1, iters // 10)}", text)
        solver.write_text(text)
        out = self.run("train", self.tool("caffe") + ["train", f"-solver={solver}"] + self.gpu_flag(),
                       120 if not self.dry else 90)
        pts = [(int(m.group(1)), float(m.group(2)), float(m.group(3))) for m in DISPLAY_RE.finditer(out)]
        if len(pts) < 4:
            raise CheckFailed(f"train: only {len(pts)} display lines in the log")
        first = pts[0][2]
        tail = [p[2] for p in pts[-max(2, len(pts) // 3):]]
        last = sum(tail) / len(tail)
        rates = [p[1] for p in pts[1:] if p[1] > 0]
        img_s = t["batch"] * sum(rates) / len(rates) if rates else float("nan")
        acc = [float(a) for a in TEST_ACC_RE.findall(out)]
        self.results["train"] = {"first": first, "last": last, "img_s": img_s, "acc": acc[-1] if acc else None}
        self.section("Training", [
            f"`caffe train` of {t['net']} on the bundled MNIST subset ({t['train_images']} training images, "
            f"{t['test_images']} test images), batch {t['batch']}, {iters} iterations.", "",
            f"- loss at iteration {pts[0][0]}: {first:.4f}; mean of the last {len(tail)} displayed: {last:.4f}",
            f"- {rate(img_s)} images/s (solver update included, from Caffe's iter/s)",
            f"- test accuracy at the end: {acc[-1]:.4f}" if acc else "- no test pass"])
        if not last < (LOSS_FALL_DRY if self.dry else LOSS_FALL) * first:
            raise CheckFailed(f"train: loss did not fall ({first:.4f} at the start, {last:.4f} at the end)")

    def step_time(self) -> None:
        rows = []
        for n in self.manifest["nets"]:
            r = {"net": n["title"], "batch": n["dry_batch"] if self.dry else n["batch"]}
            for engine in ("cudnn", "caffe"):
                model = self.bundle / n["models"][engine + ("_dry" if self.dry else "")]
                iters = 1 if self.dry else n["iterations"]
                out = self.run(f"time {n['stem']} {engine}", self.tool("caffe") + [
                    "time", f"-model={model}", f"-iterations={iters}"] + self.gpu_flag(), 90)
                m = TIME_RE.search(out)
                if not m:
                    raise CheckFailed(f"time {n['stem']} {engine}: no 'Average Forward-Backward' line")
                ms = float(m.group(1))
                r[engine + "_ms"] = ms
                r[engine + "_img_s"] = r["batch"] / ms * 1e3 if ms > 0 else float("inf")
            r["gflop_img"] = n["train_gflop_per_image"]
            solver = self.bundle / n["models"]["train_dry_solver" if self.dry else "train_solver"]
            out = self.run(f"train speed {n['stem']}", self.tool("caffe") + ["train", f"-solver={solver}"]
                           + self.gpu_flag(), 120)
            rates = [float(m.group(2)) for m in DISPLAY_RE.finditer(out)][1:]  # iteration 0 has no rate
            if not rates or not rates[-1] > 0:
                raise CheckFailed(f"train speed {n['stem']}: no iter/s in Caffe's display lines")
            r["train_img_s"] = rates[-1] * r["batch"]
            rows.append(r)
        self.results["time"] = rows
        lines = ["`caffe time` (forward + backward per batch, no weight update, Caffe's per-layer timers "
                 "synchronising; TRAIN-phase layers, Data replaced by Input) with cuDNN and with `engine: CAFFE`; "
                 "training: `caffe train` of the cuDNN net on DummyData with the experiment's solver "
                 "(update included; Caffe's iter/s over the last third of the run). TFLOP/s = training "
                 "images/s x 6 x MACs per image.", "",
                 "| net | batch | cuDNN ms | cuDNN img/s | engine CAFFE ms | CAFFE img/s | cuDNN / CAFFE "
                 "| training img/s | TFLOP/s |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            tflops = r["train_img_s"] * r["gflop_img"] / 1e3
            lines.append(f"| {r['net']} | {r['batch']} | {r['cudnn_ms']:.2f} | {rate(r['cudnn_img_s'])} | "
                         f"{r['caffe_ms']:.2f} | {rate(r['caffe_img_s'])} | {r['caffe_ms'] / r['cudnn_ms']:.2f} | "
                         f"{rate(r['train_img_s'])} | {tflops:.2f} |")
        self.section("Caffe speed", lines)

    def step_torch(self) -> None:
        try:
            import torch  # noqa: PLC0415
        except Exception as e:  # noqa: BLE001
            self.section("PyTorch", [f"not run: torch does not import here ({type(e).__name__})."])
            return
        if not self.dry and not torch.cuda.is_available():
            raise CheckFailed("torch: torch imports but sees no CUDA device")
        sys.path.insert(0, str(self.bundle / "py"))
        os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        from google.protobuf import text_format  # noqa: PLC0415
        import caffe_pb2  # noqa: PLC0415
        import torch_net  # noqa: PLC0415
        dev = torch.device("cpu" if self.dry else f"cuda:{self.gpu}")
        # Same arithmetic as Caffe's (FP32 FMA, no TF32); cuDNN autotuning on, as PyTorch users run it.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        rows = []
        for n, r in zip(self.manifest["nets"], self.results["time"]):
            if self.left() < 15:
                raise CheckFailed(f"torch: no time left of the {self.budget:.0f} s budget")
            net = text_format.Parse((self.bundle / n["models"]["cudnn" + ("_dry" if self.dry else "")]).read_text(),
                                    caffe_pb2.NetParameter())
            chw = tuple(net.layer[0].input_param.shape[0].dim[1:4])
            batch = r["batch"]
            res = {}
            for fmt in ("nchw", "cl"):
                model, loss_fn = torch_net.build(torch, net, chw)
                model = model.to(dev)
                x = torch.randn(batch, *chw, device=dev)
                y = torch.zeros(batch, dtype=torch.long, device=dev)
                if fmt == "cl":
                    model = model.to(memory_format=torch.channels_last)
                    x = x.contiguous(memory_format=torch.channels_last)
                warm, iters = (0, 1) if self.dry else (10, n["iterations"])
                for i in range(warm + iters):
                    if i == warm:
                        if dev.type == "cuda":
                            torch.cuda.synchronize(dev)
                        t0 = time.perf_counter()
                    model.zero_grad(set_to_none=True)
                    loss_fn(model(x), y).backward()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                res[fmt] = (time.perf_counter() - t0) * 1e3 / iters
            best = min(res.values())
            rows.append({"net": r["net"], "nchw_ms": res["nchw"], "cl_ms": res["cl"], "best_ms": best,
                         "caffe_vs_torch": best / r["cudnn_ms"]})
        self.results["torch"] = rows
        lines = [f"PyTorch {torch.__version__} on {dev}, the same nets (bench/torch_net.py), forward + backward, "
                 "FP32 without TF32, cudnn.benchmark on.", "",
                 "| net | NCHW ms | channels_last ms | Caffe cuDNN ms | Caffe speed / PyTorch (best) |", "|---|---|---|---|---|"]
        for r, t in zip(rows, self.results["time"]):
            lines.append(f"| {r['net']} | {r['nchw_ms']:.2f} | {r['cl_ms']:.2f} | {t['cudnn_ms']:.2f} | "
                         f"{r['caffe_vs_torch']:.2f} |")
        self.section("PyTorch", lines)

    def goals(self) -> None:
        t = {r["net"]: r for r in self.results.get("time", [])}
        a5m = next((r for r in t.values() if r["net"].startswith("A5M")), None)
        lines = ["| goal | measured | verdict |", "|---|---|---|"]

        def verdict(ok):
            return "dry run: not judged" if self.dry else ("MET" if ok else "MISSED")
        if a5m:
            lines.append(f"| A5M CIFAR-10 training >= {GOAL_A5M_IMG_S:,} img/s (20x GTX 980's 565) | "
                         f"{rate(a5m['train_img_s'])} img/s ({a5m['train_img_s'] / 565:.1f}x) | "
                         f"{verdict(a5m['train_img_s'] >= GOAL_A5M_IMG_S)} |")
        for r in t.values():
            ratio = r["caffe_ms"] / r["cudnn_ms"]
            lines.append(f"| {r['net']}: cuDNN >= {GOAL_CUDNN_VS_CAFFE:g}x engine CAFFE | {ratio:.2f}x | "
                         f"{verdict(ratio >= GOAL_CUDNN_VS_CAFFE)} |")
        for r in self.results.get("torch", []):
            lines.append(f"| {r['net']}: Caffe >= PyTorch | {r['caffe_vs_torch']:.2f}x | "
                         f"{verdict(r['caffe_vs_torch'] >= GOAL_CAFFE_VS_TORCH)} |")
        self.section("Goals", lines)

    # ------------------------------------------------------------------ report
    def write(self, status: str) -> None:
        m = self.manifest
        head = [f"# GPU check: {status}", "",
                f"- date (UTC): {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}; host {platform.node()}, "
                f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
                f"- GPU: {self.results.get('gpu_name', '?')}" + (f"; {self.results['versions']}" if self.results.get("versions") else ""),
                f"- bundle: {m.get('caffe_build', '?')}" + (" (dry run: the CPU build's tools)" if self.dry else ""),
                f"- command: `{' '.join(sys.argv)}`; wall time {time.monotonic() - self.t0:.1f} s", ""]
        text = "\n".join(head + self.md) + "\n"
        tmp = self.out.with_name(self.out.name + ".part")
        tmp.write_text(text)
        os.replace(tmp, self.out)

    def main(self) -> int:
        steps = [self.step_libraries, self.step_device, self.step_numerics, self.step_train,
                 self.step_time, self.step_torch, self.goals]
        try:
            for s in steps:
                s()
        except CheckFailed as e:
            self.write(f"FAILED ({e})")
            print(f"gpu-check: FAILED at {e} (report so far: {self.out})", file=sys.stderr)
            return 1
        self.write("dry run passed (CPU build)" if self.dry else "passed")
        sys.stdout.write(self.out.read_text())
        print(f"\ngpu-check: report written to {self.out}", file=sys.stderr)
        return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=str(Path(__file__).resolve().parent),
                    help="unpacked bundle folder (default: this file's folder)")
    ap.add_argument("--dry-run", action="store_true", help="walk every step on a CPU-only build (no GPU)")
    ap.add_argument("--tools-dir", default=None,
                    help="run caffe/net_pass from this folder instead of the bundle's launcher (the dry run)")
    ap.add_argument("--gpu", type=int, default=0, help="device id (default 0)")
    ap.add_argument("-o", "--out", default=None, help="report file (default: <bundle>/gpu_check_report.md)")
    ap.add_argument("--budget", type=float, default=TOTAL_BUDGET_S, help="seconds for the whole run (default %(default)s)")
    args = ap.parse_args(argv)
    bundle = Path(args.bundle).resolve()
    if not (bundle / "bundle.json").is_file():
        print(f"gpu-check: {bundle} is not a GPU bundle (no bundle.json); make gpu-bundle makes one", file=sys.stderr)
        return 2
    if args.dry_run and not args.tools_dir:
        print("gpu-check: --dry-run needs --tools-dir (the CPU build's caffe and net_pass)", file=sys.stderr)
        return 2
    tools_dir = Path(args.tools_dir).resolve() if args.tools_dir else None
    for t in ("caffe", "net_pass") if tools_dir else ():
        if not os.access(tools_dir / t, os.X_OK):
            print(f"gpu-check: no {t} in {tools_dir} (make setup builds it)", file=sys.stderr)
            return 2
    out = Path(args.out) if args.out else bundle / "gpu_check_report.md"
    try:
        return Check(bundle, args.dry_run, args.gpu, out, tools_dir, args.budget).main()
    except KeyboardInterrupt:
        print("gpu-check: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
