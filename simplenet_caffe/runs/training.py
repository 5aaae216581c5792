"""Run the real ``caffe train`` for one run: whole log to ``logs/<run>/``, live progress, resume.

* The log: everything Caffe prints goes to ``logs/<run>/caffe.log``; a resumed session writes
  ``caffe.1.log``, ``caffe.2.log``... beside it, and :func:`simplenet_caffe.runs.caffelog.parse`
  of the folder stitches them into one run with no gap. The first lines of each file record
  the command and any derived solver (``# simplenet-caffe: ...``; not glog lines, so parsers
  skip them).
* The solver Caffe runs is the user's file unless something had to change; then the changed
  copy is written to ``logs/<run>/solver.prototxt`` (its header says what changed) and used:
  smoke-test ``overrides`` (``max_iter``, ``test_interval``, ``test_iter``, ``snapshot``), CPU
  mode, and the snapshot prefix of a run named other than its solver
  (``<prefix folder>/<run>/<prefix name>``), so two runs never share snapshot files.
* Live progress and TensorBoard scalars: :mod:`simplenet_caffe.runs.live` (Caffe prints
  ``@@progress`` lines every ``progress_seconds`` through the project's Caffe patch).
* Ctrl-C, SIGTERM and SIGHUP (a closed terminal, a scheduler's pre-emption): Caffe runs in its
  own process group and gets SIGINT, with ``-sigint_effect stop``: it finishes the iteration,
  snapshots (``snapshot_after_train``) and exits; ``train`` then returns 128 + the signal's
  number. A second signal is forwarded too; the third kills Caffe.
* ``resume=True`` takes the newest ``.solverstate`` named in the run's own logs that passes
  :func:`simplenet_caffe.runs.snapshots.check_state` (older ones are tried, with a warning, when
  the newest is damaged).
* A start that fails before the first iteration leaves nothing in the way: the next fresh
  start of the same run replaces its log.
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
from pathlib import Path
from typing import Sequence

from ..caffe_env import caffe_tool, tool_env
from .caffelog import LogReader, expand_log_paths, run_logs, session_log_name
from ..errors import UserError
from ..paths import LOGS_DIR, REPO_ROOT
from ..protoio import read_solver, write_text
from . import live, preflight, snapshots

_STARTED_RE = re.compile(r"\] Iteration \d+")
DERIVED_SOLVER = "solver.prototxt"
#: solver overrides: solver field -> smallest allowed value
OVERRIDES = {"max_iter": 1, "test_interval": 0, "test_iter": 1, "snapshot": 0, "random_seed": 0}
#: command-line flag of an override whose name is not its solver field's
OVERRIDE_FLAGS = {"random_seed": "seed"}


def override_flag(key: str) -> str:
    """``--max-iter`` for ``max_iter``, ``--seed`` for ``random_seed``."""
    return "--" + OVERRIDE_FLAGS.get(key, key).replace("_", "-")
_STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


def default_run_name(solver: str | os.PathLike) -> str:
    stem = Path(solver).stem
    for suffix in ("_solver", ".solver", "-solver"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def run_started(logs: Sequence[Path]) -> bool:
    """Whether any of the logs shows Caffe reaching its first iteration (training or a test pass)."""
    for log in logs:
        try:
            if _STARTED_RE.search(Path(log).read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False


def find_solverstates(log_dir: str | os.PathLike, cwd: str | os.PathLike = REPO_ROOT) -> list[Path]:
    """The existing .solverstate files the run's own logs name, oldest iteration first."""
    return [s.solverstate for s in snapshots.logged_snapshots(run_logs(log_dir), cwd) if s.solverstate]


def _has_gpu() -> bool:
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl"))


def derive_solver(sp, overrides: dict | None = None, cpu: bool = False,
                  snapshot_prefix: str | None = None) -> list[str]:
    """Apply smoke-test ``overrides`` (see :data:`OVERRIDES`), CPU mode and a new snapshot
    prefix to the SolverParameter ``sp`` in place; return one ``field value (was old)`` per change."""
    changes = []
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in OVERRIDES:
            raise UserError(f"cannot override solver field {key!r} (only {', '.join(OVERRIDES)})")
        if not isinstance(value, int) or value < OVERRIDES[key]:
            raise UserError(f"{override_flag(key)} must be an integer >= {OVERRIDES[key]}, not {value!r}")
        if key == "test_iter":
            old = ",".join(map(str, sp.test_iter)) or "none"
            if not len(sp.test_iter):
                raise UserError("the solver has no test nets (no test_iter) to override")
            sp.test_iter[:] = [value] * len(sp.test_iter)
        else:
            old = getattr(sp, key)
            setattr(sp, key, value)
        changes.append(f"{key} {value} (was {old})")
    if cpu and sp.solver_mode != sp.CPU:
        sp.solver_mode = sp.CPU
        changes.append("solver_mode CPU (was GPU)")
    if snapshot_prefix is not None and snapshot_prefix != sp.snapshot_prefix:
        changes.append(f"snapshot_prefix {snapshot_prefix} (was {sp.snapshot_prefix})")
        sp.snapshot_prefix = snapshot_prefix
    return changes


def run_snapshot_prefix(sp, solver: str | os.PathLike, run_name: str) -> str | None:
    """The snapshot prefix of run ``run_name``: the solver's own for the solver's default run
    name, else ``<prefix folder>/<run>/<prefix name>``; None when the solver sets no prefix."""
    if not sp.snapshot_prefix or run_name == default_run_name(solver):
        return None
    pp = Path(sp.snapshot_prefix)
    return str(pp.parent / run_name / pp.name)


def _closing_line(reader: LogReader, log_path: Path) -> str:
    """``iteration N, last test accuracy A (iteration M); log L`` -- or what is known instead."""
    known = [i for i in (reader.iteration, reader.last_test_iteration) if i is not None]
    known += [it for seg in reader.segments for it, _, _ in seg.snapshots if it is not None]
    it = f"iteration {max(known)}" if known else "before any logged iteration"
    acc = reader.last_test.get("accuracy")
    test = (f"last test accuracy {acc:.4f} (iteration {reader.last_test_iteration})" if acc is not None
            else "no test pass yet")
    return f"{it}, {test}; log {log_path}"


def train(solver: str | os.PathLike, run_name: str | None = None, gpu: str | int | None = None,
          resume: bool | str | os.PathLike | None = None, weights: str | Sequence[str] | None = None,
          extra_args: Sequence[str] = (), log_dir: str | os.PathLike | None = None, cpu: bool = False,
          overwrite: bool = False, cwd: str | os.PathLike = REPO_ROOT, show_progress: bool = True,
          echo: bool = False, overrides: dict | None = None, progress_seconds: float = 2.0,
          tensorboard: bool = True) -> int:
    """Run ``caffe train`` and return Caffe's exit status (128+N when killed by signal N, or
    when stopped early by signal N that was forwarded to it).

    `gpu`: device id(s) for ``-gpu`` ("0", "0,1", "all"); None runs as the solver says, except
    that a GPU solver falls back to CPU on a machine without an NVIDIA device. `cpu=True`
    forces CPU. `overrides`: smoke-test solver fields (:data:`OVERRIDES`). `resume`: True for
    the run's newest good .solverstate, or a path. `weights`: caffemodel(s) to fine-tune from
    (not with `resume`). `log_dir` defaults to ``logs/<run>``; a fresh run into a folder whose
    logs show a started run is refused unless `overwrite` (which deletes them).
    `progress_seconds`: how often Caffe reports progress (0: only its own log lines).
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
    if progress_seconds < 0:
        raise UserError(f"progress interval must be >= 0 seconds, not {progress_seconds}")
    if not sp.net and not sp.train_net and not sp.HasField("net_param") and not sp.HasField("train_net_param"):
        raise UserError(f"{solver}: the solver names no net")
    net_path = sp.net or sp.train_net
    net_file = (Path(net_path) if Path(net_path).is_absolute() else cwd / net_path) if net_path else None
    if net_file is not None and not net_file.is_file():
        raise UserError(f"{solver}: net {net_path} not found (paths are relative to {cwd})")
    ws = [weights] if isinstance(weights, (str, os.PathLike)) else list(weights or [])
    for w in ws:
        if not Path(w).is_file() and not (cwd / w).is_file():
            raise UserError(f"weights not found: {w}")
    use_cpu = cpu or (gpu is None and sp.solver_mode == sp.GPU and not _has_gpu())
    if use_cpu and not cpu and sp.solver_mode != sp.CPU:
        print(f"train: no NVIDIA GPU here; running {solver} in CPU mode", file=sys.stderr)
    changes = derive_solver(sp, overrides, cpu=use_cpu, snapshot_prefix=run_snapshot_prefix(sp, solver, run_name))
    log_dir.mkdir(parents=True, exist_ok=True)
    existing = run_logs(log_dir)

    def warn(msg: str) -> None:
        print(f"train: warning: {msg}", file=sys.stderr, flush=True)

    state: Path | None = None
    if resume:
        if resume is True or resume == "latest":
            states = find_solverstates(log_dir, cwd)
            if not states:
                raise UserError(f"no .solverstate found for run {run_name} (none named in its logs in {log_dir}); "
                                f"pass --resume PATH to continue from a given one")
            state = snapshots.pick_resume_state(states, net_file, cwd, warn=warn)
        else:
            state = Path(resume)
            if not state.is_file():
                raise UserError(f"solverstate not found: {state}")
            if net_file is not None:
                snapshots.check_state(state, snapshots.train_net(net_file), cwd)
        log_path = log_dir / session_log_name(len(existing))
    else:
        if existing and not overwrite:
            if run_started(existing):
                raise UserError(f"{log_dir} already holds a run ({existing[0].name}); use --resume to continue it, "
                                f"--name for a new run, or --overwrite to start it again")
            warn(f"replacing the log of a start of {run_name} that failed before its first iteration")
        for p in [*existing, *log_dir.glob("events.out.tfevents.*"), *log_dir.glob(DERIVED_SOLVER)]:
            p.unlink()
        log_path = log_dir / session_log_name(0)

    preflight.check_train(sp, net_file, cwd, ws, state)

    # Caffe does not create the snapshot folder; create it (relative to cwd, like Caffe reads it)
    if sp.snapshot_prefix:
        pp = Path(sp.snapshot_prefix)
        (pp if pp.is_absolute() else cwd / pp).parent.mkdir(parents=True, exist_ok=True)

    solver_used = solver
    if changes:
        solver_used = log_dir / DERIVED_SOLVER
        write_text(solver_used, sp, header=f"# Derived by tools/train.py from {solver} for run {run_name}:\n"
                   + "".join(f"#   {c}\n" for c in changes))

    cmd = [str(caffe_tool("caffe")), "train", f"-solver={Path(solver_used).resolve()}", "-sigint_effect=stop",
           "-sighup_effect=stop"]
    if state is not None:
        cmd.append(f"-snapshot={state}")
    if ws:
        cmd.append("-weights=" + ",".join(str(w) for w in ws))
    if gpu is not None:
        cmd.append(f"-gpu={gpu}")
    cmd += list(extra_args)

    reader = LogReader(str(log_path))
    status = live.Status(run_name, sp.max_iter, show_progress, line_every=5 * progress_seconds)
    board = live.TensorBoard(log_dir, enabled=tensorboard)
    env = tool_env()
    env["GLOG_logtostderr"] = "1"
    env.pop("GLOG_minloglevel", None)
    if progress_seconds > 0:
        env[live.PROGRESS_ENV] = str(progress_seconds)
    else:
        env.pop(live.PROGRESS_ENV, None)
    signals_seen: list[int] = []
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def on_signal(signum, frame):  # noqa: ARG001
        signals_seen.append(signum)
        if proc.poll() is not None:
            return
        if len(signals_seen) <= 2:
            name = signal.Signals(signum).name
            try:
                print(f"\ntrain: {name}: caffe snapshots and stops"
                      f"{' (a third signal kills it)' if len(signals_seen) == 1 else ''}", file=sys.stderr, flush=True)
            except (OSError, ValueError):
                pass                      # stderr is gone (a closed terminal): stop quietly anyway
            proc.send_signal(signal.SIGINT)
        else:
            proc.kill()

    main_thread = threading.current_thread() is threading.main_thread()
    handled = (signal.SIGINT, *_STOP_SIGNALS)
    old = {s: signal.signal(s, on_signal) for s in handled} if main_thread else {}
    tail: list[str] = []
    try:
        with open(log_path, "ab") as log:
            log.write(("# simplenet-caffe: " + shlex.join(cmd) + f"  (cwd {cwd})\n").encode())
            if changes:
                log.write((f"# simplenet-caffe: solver {solver_used} derived from {solver}: "
                           + "; ".join(changes) + "\n").encode())
            log.flush()
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line.startswith(live.PROGRESS_PREFIX):
                    status.update(reader, line)
                    board.progress(line, status.rate())
                    continue
                log.write(raw)
                log.flush()
                reader.feed(line)
                status.update(reader, line)
                board.update(reader)
                tail.append(line)
                if len(tail) > 30:
                    del tail[0]
                if echo and not status.broken:
                    try:
                        print(line, file=sys.stderr)
                    except (OSError, ValueError):
                        status.broken = True      # stderr is gone (a closed terminal): keep training
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        status.close()
        board.close(reader)
        for s, h in old.items():
            signal.signal(s, h)
    if rc < 0:
        rc = 128 - rc
    try:
        _report(rc, signals_seen, run_name, reader, log_path, tail, existing if resume else [], echo, show_progress)
    except (OSError, ValueError):
        pass
    if rc == 0 and signals_seen:
        rc = 128 + signals_seen[0]
    return rc


def _report(rc, signals_seen, run_name, reader, log_path, tail, earlier_logs, echo, show_progress) -> None:
    """The closing lines on stderr: done / stopped (how to continue) / failed (why, what to do)."""
    if rc == 0 and signals_seen:
        print(f"train: {run_name} stopped by {signal.Signals(signals_seen[0]).name} at "
              + _closing_line(reader, log_path) + "; continue with --resume", file=sys.stderr)
        return
    if rc == 0:
        if show_progress:
            print(f"train: {run_name} done at " + _closing_line(reader, log_path), file=sys.stderr)
        return
    if not echo:
        lines = [t for t in tail if t[:1] in "EF" or "Check failed" in t or "rror" in t] or tail[-10:]
        print(f"train: caffe exited with status {rc}; log {log_path}; last messages:", file=sys.stderr)
        for t in lines[-12:]:
            print("  " + t, file=sys.stderr)
    if not run_started([log_path, *earlier_logs]):
        print("train: the run failed before its first iteration: fix the cause and rerun the same command "
              "(the failed start's log is replaced)", file=sys.stderr)
    else:
        print("train: continue from the last snapshot with --resume, or start again with --overwrite",
              file=sys.stderr)


def run_log_paths(run_name: str, log_dir: str | os.PathLike | None = None) -> list[Path]:
    """The log files of a run in session order (for :func:`simplenet_caffe.runs.caffelog.parse`); [] if none."""
    d = Path(log_dir) if log_dir is not None else LOGS_DIR / run_name
    return run_logs(d) or (expand_log_paths([d]) if d.is_dir() else [])
