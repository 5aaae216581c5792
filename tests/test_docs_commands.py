"""The commands README.md and docs/ tell a user to type, run as written on this (CPU-only) build.

Every command in a fenced shell block of README.md, docs/*.md and prototxt/README.md, and every
inline `make ...`, `caffe train ...`, `.venv/bin/python ...`, `tools/x.py ...` span of README.md, is run as
written -- unless :data:`HOW` says otherwise: run with small-data overrides (the paper's long
schedules), checked at ``--help`` level (synopses with placeholders such as SOLVER or [...]),
or not run here, with the reason. So a command added to the docs is run by default.

Everything runs in a scratch copy of the repository (tracked files + a link to the venv;
``PYTHONPATH`` points the package at the copy, so its ``REPO_ROOT`` is the copy): the user's
data/, logs/, snapshots/ are never touched. The scratch data are small files in the real
formats: a CIFAR-10 python-pickle tarball converted by data_prep/cifar.py, the first MNIST
images, real Caffe logs from ../shared.
"""
from __future__ import annotations

import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from simplenet_caffe.paths import REPO_ROOT, SHARED_DIR

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "prototxt" / "README.md"]
#: README's plain-Caffe command: the paper's CIFAR-10 solver (this Caffe creates its snapshot folder:
#: setup/patches/0015-atomic-snapshots.patch).
LITERAL = "caffe train -solver solvers/cifar10_solver.prototxt"
CIFAR10_NAMES = "airplane automobile bird cat deer dog frog horse ship truck".split()
_COMMAND_START = re.compile(r"(?:time )?make |(?:\.venv/bin/)?python |\.venv/bin/|tools/|data_prep/|bench/|mkdir |caffe |"
                            r"[A-Z]\w*=\S+$")
_INLINE = re.compile(r"`((?:mkdir -p \S+ && )?(?:\.venv/bin/)?caffe train [^`]*|(?:time )?make [a-z][^`]*|"
                     r"\.venv/bin/python [^`]+|(?:tools|data_prep)/\w+\.py [^`]+)`")
#: A synopsis, not a command: [optional] parts, <placeholders>, "…"/"...", or CAPITALISED argument names.
_SYNOPSIS = re.compile(r"\[|<|…|\.\.\.|\b(?:SOLVER|NET|TRAIN_DIR|VAL_DIR|DIR|FILE|N)\b")


def doc_commands() -> dict[str, list[str]]:
    """command -> ["README.md:80", ...]: fenced shell lines (continuations joined, comments
    dropped; a `VAR=value` line is prepended to the later commands of its block) and inline spans."""
    found: dict[str, list[str]] = {}
    for path in DOCS:
        fence, buf, assigns = None, "", []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(REPO_ROOT)}:{n}"
            if line.startswith("```"):
                fence, assigns = (None if fence is not None else line[3:].strip()), []
                continue
            if fence is None:
                if path.name != "README.md":       # elsewhere inline code is prose ("`tools/to_lmdb.py folder`")
                    continue
                for m in _INLINE.finditer(line):
                    found.setdefault(m.group(1), []).append(where)
                continue
            if fence not in ("", "bash", "sh"):
                continue
            buf += re.sub(r"(^|\s+)#.*$", "", line).strip()
            if buf.endswith("\\"):
                buf = buf[:-1].rstrip() + " "
                continue
            cmd, buf = buf, ""
            if not cmd or not _COMMAND_START.match(cmd):
                continue
            if re.fullmatch(r"[A-Z]\w*=\S+", cmd):
                assigns.append(cmd)
                continue
            found.setdefault(" && ".join([*assigns, cmd]), []).append(where)
    return found


@dataclass(frozen=True)
class How:
    """``run``: verbatim (``append`` added, ``subst`` applied); ``help``: the script's --help
    lists every option the command uses; ``skip``: not run here, ``why`` says why."""
    kind: str
    why: str = ""
    append: str = ""
    subst: tuple = ()
    fresh: tuple = ()          # outputs removed first (the docs show alternatives, not a sequence)


#: Smoke-test overrides for the full schedules (tools/train.py, reproduce.py); the docs' commands
#: are alternatives sharing one scratch copy, so a fresh run may replace an earlier one's logs.
_SMOKE = "--max-iter 2 --test-interval 2 --test-iter 1 --snapshot 2"
_RESUMED = _SMOKE.replace("--max-iter 2", "--max-iter 4")
#: regex (full match) -> How. Order matters only for readability: exactly one must match.
HOW: list[tuple[str, How]] = [
    (r"make setup", How("skip", "builds Caffe: the first step of CI itself")),
    (r"make test", How("skip", "this test suite")),
    (r"(time )?make demo( DATASET=fashion-mnist)?", How("skip", "1.3 min (default build) to 9 min (stock) of training; tests/test_end_to_end.py runs "
                                                          "the same pipeline on a shortened schedule")),
    (r"make gpu-(bundle|check)", How("skip", "builds CUDA Caffe / needs a GPU; tests/test_gpu_check.py runs "
                                            "`make gpu-check DRY_RUN=1`")),
    (r"\.venv/bin/python bench/.*", How("skip", "a benchmark run (minutes, often against other builds/venvs)")),
    (r"make bench(-[a-z]+)?", How("skip", "benchmarks take minutes; run by hand (docs/speed.md)")),
    (r"(\.venv/bin/)?pip install .*", How("skip", "downloads from PyPI")),
    (r"make reproduce EXP=\S+", How("reproduce", append=f' OVERWRITE=1 ARGS="{_SMOKE}"')),
    (r"make reproduce EXP=\S+ RESUME=1", How("reproduce", append=f' ARGS="{_RESUMED}"')),
    (re.escape(LITERAL), How("literal")),
    (re.escape(LITERAL.replace("caffe train", ".venv/bin/caffe train")), How("literal")),
    (r"\.venv/bin/python tools/train\.py solvers/\S+", How("train", append=f" --overwrite {_SMOKE}")),
    (r"\.venv/bin/python tools/train\.py solvers/\S+ --resume", How("train", append=f" {_RESUMED}")),
    (r"\.venv/bin/python tools/(evaluate|classify)\.py .*_iter_N\.caffemodel.*",
     How("run", subst=(("_iter_N.", "_iter_600."),))),
    (r".*--state simplenetv1_5m_m2\.pth.*", How("skip", "needs the SimpleNet_Pytorch release checkpoint (a download)")),
    (r"\.venv/bin/python tools/zoo\.py get .*", How("skip", "downloads the authors' files (no network in CI); "
                                                           "tests/test_zoo.py fetches from a file:// mirror")),
    (r"\.venv/bin/python tools/evaluate\.py .*--weights \$W", How("skip", "evaluates a model fetched by tools/zoo.py get")),
    (r"\.venv/bin/python tools/sweep\.py .*--slurm.*", How("skip", "needs a Slurm cluster; tests/test_sweep.py submits "
                                                                 "to a real single-node Slurm")),
    (r"\.venv/bin/python tools/to_lmdb\.py mnist data/raw/mnist -o data/mnist --download",
     How("skip", "downloads from the internet (CI has no network; ../shared's MNIST is recompressed, so its MD5s "
                 "differ from the official files' and a download would be tried)")),
    (r"\.venv/bin/python tools/to_lmdb\.py mnist \.\./shared/data/mnist -o data/mnist", How("run", fresh=("data/mnist",))),
    (r"data_prep/mnist\.py --dataset fashion-mnist", How("fashion", append=" --limit-train 300 --limit-test 100 --force")),
    (r'make reproduce .* ARGS=".*"', How("run")),        # a smoke run as written
    (r"(time )?make .*", How("dry")),   # another make target: `make -n` (it exists, its recipe expands)
    (r".*", How("run")),        # everything else: verbatim
]


def how(cmd: str) -> How:
    h = next(h for pattern, h in HOW if re.fullmatch(pattern, cmd))
    if h.kind != "skip" and _SYNOPSIS.search(cmd.replace("_iter_N.", "")) and not cmd.startswith(("make ", "time make ")):
        return How("help")
    return h


COMMANDS = doc_commands()


def test_the_docs_have_the_commands_this_test_knows():
    assert LITERAL in COMMANDS and "README.md" in COMMANDS[LITERAL][0]
    assert len(COMMANDS) >= 40, sorted(COMMANDS)
    kinds = {how(c).kind for c in COMMANDS}
    assert {"run", "help", "skip", "literal"} <= kinds


# ---------------------------------------------------------------------------- scratch repository

def _copy_repo(dst: Path) -> None:
    top_level_outputs = {".git", ".venv", "data", "logs", "plots", "snapshots", "build", "dist"}

    def ignore(folder, names):
        skip = {n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".egg-info")}
        return skip | (top_level_outputs & set(names) if Path(folder) == REPO_ROOT else set())

    shutil.copytree(REPO_ROOT, dst, ignore=ignore, symlinks=True)


def write_cifar10_targz(path: Path, n_per_batch: int = 20, seed: int = 0) -> None:
    """A CIFAR-10 python-version tarball in the official layout (cifar-10-batches-py/ with five
    data batches, test_batch and batches.meta): pickled dicts with bytes keys, uint8 RGB rows."""
    from _data_helpers import write_cifar_python
    from simplenet_caffe.data.cifar import FILES

    src = path.parent / "cifar-10-batches-py"
    src.mkdir(parents=True)
    r = np.random.default_rng(seed)
    for name in FILES[("cifar10", "python")]["train"] + FILES[("cifar10", "python")]["test"]:
        write_cifar_python(src / name, r.integers(0, 256, (n_per_batch, 3, 32, 32), dtype=np.uint8),
                           {"labels": np.arange(n_per_batch) % 10})
    meta = {b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_cases_per_batch": n_per_batch, b"num_vis": 3072}
    (src / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    shutil.rmtree(src)


def write_cifar100_targz(path: Path, n: int = 30, seed: int = 1) -> None:
    from _data_helpers import write_cifar_python

    src = path.parent / "cifar-100-python"
    src.mkdir(parents=True)
    r = np.random.default_rng(seed)
    for name in ("train", "test"):
        write_cifar_python(src / name, r.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
                           {"fine_labels": np.arange(n) % 100, "coarse_labels": np.arange(n) % 20})
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    shutil.rmtree(src)


@dataclass
class Scratch:
    repo: Path
    env: dict

    def sh(self, cmd: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", cmd], cwd=self.repo, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, cmd: str, timeout: float = 900) -> subprocess.CompletedProcess:
        cp = self.sh(cmd, timeout)
        assert cp.returncode == 0, f"{cmd}\nrc={cp.returncode}\n{cp.stdout[-2000:]}\n{cp.stderr[-3000:]}"
        return cp


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, mnist_dir, caffe) -> Scratch:
    need(SHARED_DIR.is_dir(), f"{SHARED_DIR} (real Caffe logs) not found")
    top = tmp_path_factory.mktemp("verbatim")
    repo = top / "repo"
    _copy_repo(repo)
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (top / "shared").symlink_to(SHARED_DIR)           # ../shared/... as the docs write it
    env = dict(os.environ, PYTHONPATH=str(repo), PATH=f"{repo / '.venv' / 'bin'}:{os.environ['PATH']}",
               MNIST_DIR=str(mnist_dir), MPLBACKEND="Agg")
    s = Scratch(repo, env)
    root = s.ok(".venv/bin/python -c 'from simplenet_caffe.paths import REPO_ROOT; print(REPO_ROOT)'").stdout.strip()
    assert Path(root) == repo, f"the scratch copy's package resolves to {root}"

    # data the commands read, in the real formats
    write_cifar10_targz(top / "cifar-10-python.tar.gz")
    s.ok("data_prep/cifar.py --src ../cifar-10-python.tar.gz --setup both --no-download")
    s.ok("data_prep/mnist.py --limit-train 400 --limit-test 200")
    write_cifar100_targz(repo / "cifar-100-python.tar.gz")
    from _data_helpers import write_svhn_mat
    (repo / "data" / "raw" / "svhn").mkdir(parents=True)
    for name, n in [("train", 12), ("extra", 8), ("test", 10)]:
        r = np.random.default_rng(len(name))
        write_svhn_mat(repo / "data" / "raw" / "svhn" / f"{name}_32x32.mat",
                       r.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), np.arange(n) % 10 + 1)
    shutil.copytree(mnist_dir, repo / "data" / "raw" / "mnist")
    s.ok("data_prep/svhn.py --no-download")
    s.ok("data_prep/cifar.py --dataset cifar100 --src cifar-100-python.tar.gz --setup zeropad --no-download")
    import cv2
    r = np.random.default_rng(2)
    for folder in ("photos", "images"):
        for c in ("cat", "dog"):
            (repo / folder / c).mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(repo / folder / c / f"{i}.png"), r.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    s.ok("data_prep/imagenet.py photos images --size 256")
    (repo / "val.txt").write_text("".join(f"{c}/{i}.png {k}\n" for k, c in enumerate(("cat", "dog")) for i in range(3)))
    cv2.imwrite(str(repo / "digit.png"), r.integers(0, 256, (28, 28), dtype=np.uint8))
    # a caffemodel of the demo net (random weights; evaluate/classify only need a valid one)
    snap = repo / "snapshots" / "mnist_s300a_demo"
    snap.mkdir(parents=True)
    caffe.Net(str(repo / "prototxt" / "mnist_s300a_demo_deploy.prototxt"), caffe.TEST).save(
        str(snap / "mnist_s300a_demo_iter_600.caffemodel"))        # the name of the demo's last snapshot
    # real Caffe logs under the names the docs use
    logs = SHARED_DIR / "data" / "caffe_logs"
    for rel, src in [("logs/myrun/caffe.log", "mnist_finetune_99.75.log"), ("logs/run1/caffe.log", "mnist_finetune_99.75.log"),
                     ("logs/run2/caffe.log", "cifar10_zeropad_95.32.log"),
                     ("logs/cifar10_a5m_zeropad/caffe.log", "cifar10_zeropad_95.32.log"),
                     ("logs/s300_seed1/caffe.log", "mnist_finetune_99.75.log"),
                     ("logs/s300_seed2/caffe.log", "mnist_finetune_99.75.log"),
                     ("caffe.log", "cifar100_misc_caffe.log"), ("caffe_resumed1.log", "cifar100_misc_caffe_resumed1.log"),
                     ("a.log", "mnist_finetune_99.75.log"), ("b.log", "cifar10_zeropad_95.32.log")]:
        need((logs / src).is_file(), f"real Caffe log {logs / src} not found")
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(logs / src, repo / rel)
    return s


# ---------------------------------------------------------------------------- the commands

def _help_level(s: Scratch, cmd: str) -> None:
    """A synopsis: its script's --help works and lists every --option the synopsis uses."""
    script = next(w for w in cmd.split() if w.endswith(".py"))
    out = s.ok(f".venv/bin/python {script} --help").stdout
    missing = [o for o in re.findall(r"(?<!\S)(--[a-z][\w-]*)", cmd.split(" -- ")[0]) if o not in out]
    assert not missing, f"{cmd}: {script} --help does not list {missing}"


@pytest.mark.parametrize("cmd", sorted(COMMANDS), ids=lambda c: c[:60])
def test_doc_command(scratch, cmd):
    h = how(cmd)
    where = ", ".join(COMMANDS[cmd])
    if h.kind == "skip":
        pytest.skip(f"{where}: {h.why}")
    if h.kind == "literal":
        pytest.skip(f"{where}: run by test_readme_caffe_train_literal (the same command)")
    if h.kind == "help":
        return _help_level(scratch, cmd)
    run = cmd
    for a, b in h.subst:
        run = run.replace(a, b)
    for rel in h.fresh:
        shutil.rmtree(scratch.repo / rel, ignore_errors=True)
    if h.kind == "reproduce":
        if "$(ARGS)" not in (scratch.repo / "Makefile").read_text():   # before the smoke-test overrides existed
            out = scratch.ok(f"make -n {cmd[5:]}").stdout
            return _help_level(scratch, out.strip().splitlines()[-1].replace(" --help", "") + " --help")
    if h.kind == "train":
        if "--max-iter" not in scratch.ok(".venv/bin/python tools/train.py --help").stdout:
            return _help_level(scratch, cmd)
    if h.kind == "dry":
        scratch.ok("make -n " + cmd.split("make ", 1)[1])
        return
    if h.kind == "fashion":
        need(Path("/usr/share/datasets/fashion-mnist").is_dir(), "Debian's dataset-fashion-mnist not installed")
    cp = scratch.sh(run + h.append)
    assert cp.returncode == 0, f"{where}: {run + h.append}\nrc={cp.returncode}\n{cp.stdout[-2000:]}\n{cp.stderr[-3000:]}"
    assert "Traceback" not in cp.stderr


# ---------------------------------------------------------------------------- docs/api.md

def test_api_examples_run_as_written(scratch):
    """docs/api.md's Python blocks, in order, as one script in the scratch repository."""
    blocks = re.findall(r"^```python\n(.*?)^```", (REPO_ROOT / "docs" / "api.md").read_text(), re.M | re.S)
    assert len(blocks) >= 6
    (scratch.repo / "api_examples.py").write_text("\n".join(blocks))
    out = scratch.ok(".venv/bin/python api_examples.py").stdout
    assert re.search(r"^best test accuracy 0\.99\d+ at iteration [\d,]+$", out, re.M), out
    assert re.search(r"^top-1 [01]\.\d{4} on 200 images of data/mnist_norm/test_lmdb$", out, re.M), out
    assert re.search(r"^digit_from_lmdb\.png label \d -> \[\('\d', ", out, re.M), out
    assert (scratch.repo / "plots" / "api").is_dir() and (scratch.repo / "s300a_api.onnx").is_file()
    assert "same top-1 as Caffe: pytorch 2/2, onnxruntime 2/2" in out, out
    assert re.search(r"^mnist_s300a: (start|(done|resume) at iteration [\d,]+)$", out, re.M), out


# ---------------------------------------------------------------------------- the literal solver

_LOSS = re.compile(r"Iteration (\d+)(?: \([^)]*\))?, loss = ([-\d.e+]+|nan|inf)")


def _snapshot_dir(solver: Path) -> str:
    prefix = re.search(r'^snapshot_prefix: "(.*)"$', solver.read_text(), re.M).group(1)
    return os.path.dirname(prefix)


def test_every_solver_header_names_a_command_that_fits_the_solver():
    """Each solver's "Run from the repo root:" line names a solver that exists, with a net that
    exists (Caffe creates the snapshot folder: no mkdir); the README's literal command is one."""
    solvers = sorted((REPO_ROOT / "solvers").glob("*_solver.prototxt"))
    assert len(solvers) >= 20
    for solver in solvers:
        m = re.search(r"^# Run from the repo root: (caffe train -solver (solvers/\S+))$", solver.read_text(), re.M)
        assert m, f"{solver.name}: no run command in the header"
        named = REPO_ROOT / m.group(2)
        assert named.is_file(), (solver.name, m.group(1))
        net = re.search(r'^net: "(.*)"$', named.read_text(), re.M).group(1)
        assert (REPO_ROOT / net).is_file(), (solver.name, net)
    assert LITERAL in COMMANDS and f"# Run from the repo root: {LITERAL}" in \
        (REPO_ROOT / "solvers" / "cifar10_solver.prototxt").read_text()


def _caffe_until(s: Scratch, cmd: str, stop: re.Pattern, signum: int, timeout: float) -> tuple[str, bool, int]:
    """Run ``cmd`` (bash, in the scratch repo) until a line matches ``stop``; then send
    ``signum`` to its process group. Returns (output, matched, returncode)."""
    proc = subprocess.Popen(["bash", "-c", cmd], cwd=s.repo, env=s.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    watchdog = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))   # a hung Caffe fails, not hangs CI
    watchdog.start()
    lines, matched = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            if stop.search(line):
                matched = True
                os.killpg(proc.pid, signum)
                break
        lines.append(proc.communicate(timeout=900)[0])
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return "".join(lines), matched, proc.returncode


_NO_PATCH = ("this CPU-only Caffe lacks setup/patches/0005 (solver_mode: GPU from a solver file trains on the CPU): "
             "run make setup")


@pytest.mark.parametrize("solver", sorted(p.name for p in (REPO_ROOT / "solvers").glob("*_solver.prototxt")))
def test_solver_header_command_starts_caffe(scratch, caffe, solver):
    """Each solver header's command, run as written on small data of the right layout, gets
    Caffe through building both nets to "Solving" (then it is killed: the schedules are the
    paper's). A fine-tuning step starts from the previous step's snapshot (its header says
    which): a caffemodel of that net stands in for it. Fashion-MNIST needs Debian's
    dataset-fashion-mnist."""
    path = scratch.repo / "solvers" / solver
    cmd = re.search(r"^# Run from the repo root: (.*)$", path.read_text(), re.M).group(1)
    named = (scratch.repo / cmd.split(" -solver ")[1]).read_text()
    start = re.search(r'^weights: "(.*)"$', named, re.M)
    if start and not (scratch.repo / start.group(1)).is_file():
        deploy = re.search(r'^net: "(.*)"$', named, re.M).group(1).replace("_train_val.", "_deploy.")
        (scratch.repo / start.group(1)).parent.mkdir(parents=True, exist_ok=True)
        caffe.Net(str(scratch.repo / deploy), caffe.TEST).save(str(scratch.repo / start.group(1)))
    if "fashion" in solver:
        need(Path("/usr/share/datasets/fashion-mnist").is_dir(), "Debian's dataset-fashion-mnist not installed")
        if not (scratch.repo / "data" / "fashion_mnist_norm").is_dir():
            scratch.ok("data_prep/mnist.py --dataset fashion-mnist --limit-train 300 --limit-test 100")
    log, matched, _ = _caffe_until(scratch, cmd, re.compile(r"\] Solving "), signal.SIGKILL, 600)
    assert "Cannot use GPU in CPU-only Caffe" not in log, _NO_PATCH
    assert matched, f"{cmd}: Caffe did not get to Solving:\n{log[-3000:]}"
    if "solver_mode: GPU" in named and "Using GPUs" not in log:
        assert f"solver_mode: GPU in {cmd.split(' -solver ')[1]} ignored" in log, log[-3000:]


def test_readme_caffe_train_literal(scratch):
    """Issue 15 acceptance: README's `caffe train -solver solvers/cifar10_solver.prototxt` -- the
    committed solver file, `solver_mode: GPU` and all -- starts training on this build. It is
    stopped with SIGINT (Caffe's snapshot-and-stop) after the first `Iteration N, loss` line; the
    first line comes after the iteration-0 test pass (400 batches of 25, as the authors logged)."""
    assert "solver_mode: GPU" in (scratch.repo / "solvers" / "cifar10_solver.prototxt").read_text()
    snap_dir = _snapshot_dir(scratch.repo / "solvers" / "cifar10_solver.prototxt")
    real_snapshots = REPO_ROOT / snap_dir
    existed = real_snapshots.exists()
    shutil.rmtree(scratch.repo / snap_dir, ignore_errors=True)     # Caffe creates it (no mkdir)
    log, _, rc = _caffe_until(scratch, LITERAL, _LOSS, signal.SIGINT, 1800)
    m = _LOSS.search(log)
    loss = (int(m.group(1)), float(m.group(2))) if m else None
    assert "Cannot use GPU in CPU-only Caffe" not in log, _NO_PATCH
    assert loss is not None, f"no `Iteration N, loss` line:\n{log[-3000:]}"
    assert loss[0] == 0 and np.isfinite(loss[1]) and 0 < loss[1] < 20, loss
    assert "Solving CIFAR10_full" in log and "Iteration 0, Testing net (#0)" in log
    if "Using GPUs" not in log:               # CPU-only build: one warning, then CPU training
        warnings = [ln for ln in log.splitlines() if "solver_mode: GPU in solvers/cifar10_solver.prototxt ignored" in ln]
        assert len(warnings) == 1 and warnings[0].startswith("W"), warnings
    assert rc == 0, f"rc {rc} after SIGINT:\n{log[-2000:]}"
    assert "Optimization stopped early" in log
    assert sorted((scratch.repo / snap_dir).glob("*_iter_*.caffemodel")), "SIGINT should snapshot before stopping"
    assert real_snapshots.exists() == existed, "the test wrote into the user's snapshots/"
