"""Run the real ``caffe train`` for one run: whole log to ``logs/<run>/``, a progress line, resume.

* The log: everything Caffe prints goes to ``logs/<run>/caffe.log``; a resumed session writes
  ``caffe.1.log``, ``caffe.2.log``... beside it, and :func:`simplenet_caffe.runs.caffelog.parse`
  of the folder stitches them into one run with no gap. The first line of each file records
  the command (``# simplenet-caffe: caffe train ...``; not a glog line, so parsers skip it).
* Progress: iteration / max_iter, smoothed loss, last test accuracy and ETA on stderr (a tqdm
  bar on a terminal; otherwise one line per test pass).
* Ctrl-C: Caffe runs in its own process group and gets SIGINT forwarded, with
  ``-sigint_effect stop``: it finishes the iteration, snapshots (``snapshot_after_train``)
  and exits. A second Ctrl-C is forwarded too; the third kills Caffe.
* ``resume=True`` takes the newest ``.solverstate`` of the run: the snapshots named in the
  run's earlier logs and those matching the solver's ``snapshot_prefix``.
* Paths in solvers are relative to the repo root, so Caffe runs there (``cwd``). The folder of
  ``snapshot_prefix`` is created (Caffe does not create it and only fails at the first snapshot).
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from ..caffe_env import caffe_tool, tool_env
from .caffelog import LogReader, expand_log_paths, run_logs, session_log_name
from ..errors import UserError
from ..paths import LOGS_DIR, REPO_ROOT
from ..protoio import read_solver, write_text
from ..progress import enabled as progress_enabled, progress

_STATE_RE = re.compile(r"_iter_(\d+)\.solverstate(?:\.h5)?\Z")


def default_run_name(solver: str | os.PathLike) -> str:
    stem = Path(solver).stem
    for suffix in ("_solver", ".solver", "-solver"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _state_iter(p: Path) -> int:
    m = _STATE_RE.search(p.name)
    return int(m.group(1)) if m else -1


def find_solverstates(solver_param, log_dir: str | os.PathLike, cwd: str | os.PathLike = REPO_ROOT) -> list[Path]:
    """Existing .solverstate files of this run, oldest iteration first."""
    cwd = Path(cwd)
    cands: set[Path] = set()
    prefix = solver_param.snapshot_prefix
    if prefix:
        pp = Path(prefix) if Path(prefix).is_absolute() else cwd / prefix
        if pp.parent.is_dir():
            for q in pp.parent.glob(pp.name + "_iter_*.solverstate*"):
                cands.add(q.resolve())
    logs = run_logs(log_dir)
    for log in logs:
        for ln in log.read_text(errors="replace").splitlines():
            i = ln.find("Snapshotting solver state to ")
            if i >= 0:
                q = Path(ln.rsplit(" ", 1)[-1].strip())
                q = q if q.is_absolute() else cwd / q
                if q.is_file():
                    cands.add(q.resolve())
    d = Path(log_dir)
    if d.is_dir():
        cands.update(q.resolve() for q in d.glob("*.solverstate*"))
    states = [q for q in cands if q.is_file() and _STATE_RE.search(q.name)]
    return sorted(states, key=lambda q: (_state_iter(q), q.stat().st_mtime))


def _has_gpu() -> bool:
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl"))


class _TrainStatus:
    """The live line: iteration, loss, last test accuracy, ETA -- a :func:`progress` bar on a
    terminal, otherwise one line per test pass."""

    def __init__(self, run: str, max_iter: int, enabled: bool):
        self.run, self.max_iter, self.enabled = run, max_iter, enabled
        self.tty = progress_enabled()
        self.bar = None
        self.start_iter: int | None = None
        self.t0 = time.monotonic()
        self.t_first: float | None = None
        self.last_iter = None
        self.last_test_iter = None

    def _eta(self, it: int) -> str:
        if self.start_iter is None or self.t_first is None or it <= self.start_iter:
            return "?"
        rate = (time.monotonic() - self.t_first) / (it - self.start_iter)
        left = max(0.0, (self.max_iter - it) * rate)
        h, rem = divmod(int(left), 3600)
        return f"{h}:{rem // 60:02d}:{rem % 60:02d}"

    def update(self, reader: LogReader) -> None:
        if not self.enabled or reader.iteration is None:
            return
        it = reader.iteration
        if self.start_iter is None:
            self.start_iter, self.t_first = it, time.monotonic()
        acc = reader.last_test.get("accuracy")
        acc_s = f"{acc:.4f}@{reader.last_test_iteration}" if acc is not None else "-"
        loss_s = f"{reader.smoothed_loss:.4g}" if reader.smoothed_loss is not None else "-"
        if self.tty:
            if self.bar is None:
                self.bar = progress(total=self.max_iter, initial=it, desc=self.run, unit="it")
            if it != self.last_iter:
                self.bar.update(max(0, it - self.bar.n))
                self.bar.set_postfix_str(f"loss {loss_s}, test acc {acc_s}")
        elif reader.last_test_iteration is not None and reader.last_test_iteration != self.last_test_iter \
                and reader.iteration >= reader.last_test_iteration:
            self.last_test_iter = reader.last_test_iteration
            print(f"{self.run}: iteration {it}/{self.max_iter}, loss {loss_s}, test acc {acc_s}, "
                  f"ETA {self._eta(it)}", file=sys.stderr, flush=True)
        self.last_iter = it

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train(solver: str | os.PathLike, run_name: str | None = None, gpu: str | int | None = None,
          resume: bool | str | os.PathLike | None = None, weights: str | Sequence[str] | None = None,
          extra_args: Sequence[str] = (), log_dir: str | os.PathLike | None = None, cpu: bool = False,
          overwrite: bool = False, cwd: str | os.PathLike = REPO_ROOT, show_progress: bool = True,
          echo: bool = False) -> int:
    """Run ``caffe train`` and return Caffe's exit status (128+N when killed by signal N).

    `gpu`: device id(s) for ``-gpu`` ("0", "0,1", "all"); None runs as the solver says, except
    that a GPU solver falls back to CPU on a machine without an NVIDIA device. `cpu=True`
    forces CPU (a copy of the solver with ``solver_mode: CPU`` is written to the log folder).
    `resume`: True for the run's newest .solverstate, or a path. `weights`: caffemodel(s) to
    fine-tune from (not with `resume`). `log_dir` defaults to ``logs/<run>``; a fresh run into a
    folder that already has logs is refused unless `overwrite` (which deletes them).
    """
    solver = Path(solver)
    cwd = Path(cwd)
    sp = read_solver(solver, net_root=cwd)
    run_name = run_name or default_run_name(solver)
    log_dir = Path(log_dir) if log_dir is not None else LOGS_DIR / run_name
    if resume and weights:
        raise UserError("--resume and --weights cannot be combined (caffe train takes -snapshot or -weights)")
    if cpu and gpu is not None:
        raise UserError("choose either --cpu or --gpu")
    if not sp.net and not sp.train_net and not sp.HasField("net_param") and not sp.HasField("train_net_param"):
        raise UserError(f"{solver}: the solver names no net")
    net_path = sp.net or sp.train_net
    if net_path and not (Path(net_path) if Path(net_path).is_absolute() else cwd / net_path).is_file():
        raise UserError(f"{solver}: net {net_path} not found (paths are relative to {cwd})")
    log_dir.mkdir(parents=True, exist_ok=True)
    existing = run_logs(log_dir)

    state: Path | None = None
    if resume:
        if resume is True or resume == "latest":
            states = find_solverstates(sp, log_dir, cwd)
            if not states:
                raise UserError(f"no .solverstate found for run {run_name} (prefix {sp.snapshot_prefix!r}, logs in {log_dir})")
            state = states[-1]
        else:
            state = Path(resume)
            if not state.is_file():
                raise UserError(f"solverstate not found: {state}")
        log_path = log_dir / session_log_name(len(existing))
    else:
        if existing and not overwrite:
            raise UserError(f"{log_dir} already holds a run ({existing[0].name}); use --resume to continue it, "
                            f"--name for a new run, or --overwrite")
        for p in existing:
            p.unlink()
        log_path = log_dir / session_log_name(0)
    ws = [weights] if isinstance(weights, (str, os.PathLike)) else list(weights or [])
    for w in ws:
        if not Path(w).is_file() and not (cwd / w).is_file():
            raise UserError(f"weights not found: {w}")

    # Caffe does not create the snapshot folder; create it (relative to cwd, like Caffe reads it)
    if sp.snapshot_prefix:
        pp = Path(sp.snapshot_prefix)
        (pp if pp.is_absolute() else cwd / pp).parent.mkdir(parents=True, exist_ok=True)

    solver_used = solver
    use_cpu = cpu or (gpu is None and sp.solver_mode == sp.GPU and not _has_gpu())
    if use_cpu and sp.solver_mode != sp.CPU:
        sp.solver_mode = sp.CPU
        solver_used = log_dir / "solver.cpu.prototxt"
        write_text(solver_used, sp)
        if not cpu:
            print(f"train: no NVIDIA GPU here; running {solver} in CPU mode ({solver_used})", file=sys.stderr)

    cmd = [str(caffe_tool("caffe")), "train", f"-solver={Path(solver_used).resolve()}", "-sigint_effect=stop"]
    if state is not None:
        cmd.append(f"-snapshot={state}")
    if ws:
        cmd.append("-weights=" + ",".join(str(w) for w in ws))
    if gpu is not None:
        cmd.append(f"-gpu={gpu}")
    cmd += list(extra_args)

    reader = LogReader(str(log_path))
    prog = _TrainStatus(run_name, sp.max_iter, show_progress)
    env = tool_env()
    env["GLOG_logtostderr"] = "1"
    env.pop("GLOG_minloglevel", None)
    interrupts = 0
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def on_sigint(signum, frame):  # noqa: ARG001
        nonlocal interrupts
        interrupts += 1
        if proc.poll() is not None:
            return
        if interrupts <= 2:
            print(f"\ntrain: Ctrl-C sent to caffe: it snapshots and stops"
                  f"{' (press Ctrl-C twice more to kill it)' if interrupts == 1 else ''}", file=sys.stderr, flush=True)
            proc.send_signal(signal.SIGINT)
        else:
            proc.kill()

    main_thread = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    tail: list[str] = []
    try:
        with open(log_path, "ab") as log:
            log.write(("# simplenet-caffe: " + shlex.join(cmd) + f"  (cwd {cwd})\n").encode())
            log.flush()
            assert proc.stdout is not None
            for raw in proc.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                reader.feed(line)
                prog.update(reader)
                tail.append(line)
                if len(tail) > 30:
                    del tail[0]
                if echo:
                    print(line, file=sys.stderr)
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        prog.close()
        if main_thread:
            signal.signal(signal.SIGINT, old)
    if rc < 0:
        rc = 128 - rc
    if rc != 0 and not echo:
        lines = [t for t in tail if t[:1] in "EF" or "Check failed" in t or "rror" in t] or tail[-10:]
        print(f"train: caffe exited with status {rc}; log {log_path}; last messages:", file=sys.stderr)
        for t in lines[-12:]:
            print("  " + t, file=sys.stderr)
    elif rc == 0 and show_progress:
        best = reader.last_test.get("accuracy")
        msg = f"train: {run_name} done at iteration {reader.iteration}"
        if best is not None:
            msg += f", last test accuracy {best:.4f}"
        print(msg + f"; log {log_path}", file=sys.stderr)
    return rc


def run_log_paths(run_name: str, log_dir: str | os.PathLike | None = None) -> list[Path]:
    """The log files of a run in session order (for :func:`simplenet_caffe.runs.caffelog.parse`); [] if none."""
    d = Path(log_dir) if log_dir is not None else LOGS_DIR / run_name
    return run_logs(d) or (expand_log_paths([d]) if d.is_dir() else [])
