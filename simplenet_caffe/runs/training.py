"""Run the real ``caffe train`` for one run: whole log to ``logs/<run>/``, live progress, resume.

A run is a folder ``logs/<run>/`` described by its record (:mod:`simplenet_caffe.runs.record`,
``run.json``); each ``caffe train`` invocation is a *segment* of it.

* The log: everything Caffe prints goes to ``logs/<run>/caffe.log``; a resumed segment writes
  ``caffe.1.log``, ``caffe.2.log``... beside it, and :func:`simplenet_caffe.runs.caffelog.parse`
  of the folder stitches them into one run with no gap. The first lines of each file record
  the command and the solver (``# simplenet-caffe: ...``; not glog lines, so parsers skip them).
* The solver: a fresh start writes the run's own copy, ``logs/<run>/solver.prototxt`` (its
  header names the user's file and what changed), and Caffe runs that copy. Changes are the
  overrides (:data:`OVERRIDES`: ``--max-iter``, ``--seed``, ``--base-lr``, ...), CPU mode, and
  the snapshot prefix of a run named other than its solver (``<prefix folder>/<run>/<prefix
  name>``), so two runs never share snapshot files. A ``--batch-size`` override writes the
  run's own net too (``logs/<run>/net.prototxt``).
* Resume runs the run's own solver again, with its own overrides; overrides given on resume
  (``--max-iter 300`` to extend) are applied to it and recorded as that segment's.
* One writer: the run is locked (:func:`simplenet_caffe.runs.record.hold`) from the first check
  to the last record update, and Caffe shares the lock while it lives; a second start, resume or
  overwrite is refused naming the holder.
* Divergence: a NaN or infinite train or test loss in the log stops Caffe at once (no snapshot
  of the broken weights is written), marks the run ``diverged`` and returns
  :data:`DIVERGED_RC`.
* Live progress and TensorBoard scalars: :mod:`simplenet_caffe.runs.live` (Caffe prints
  ``@@progress`` lines every ``progress_seconds`` through the project's Caffe patch).
* Ctrl-C, SIGTERM and SIGHUP (a closed terminal, a scheduler's pre-emption): Caffe runs in its
  own process group and gets SIGINT, with ``-sigint_effect stop``: it finishes the iteration,
  snapshots (``snapshot_after_train``) and exits; the result's ``rc`` is 128 + the signal's
  number. A second signal is forwarded too; the third kills Caffe.
* ``resume=True`` takes the newest ``.solverstate`` named in the run's own logs that passes
  :func:`simplenet_caffe.runs.snapshots.check_state` (older ones are tried, with a warning, when
  the newest is damaged). ``cont=True`` resumes when there is a snapshot, else starts afresh, and
  does nothing for a run that is done (what sweeps and requeued jobs use).
* A start that fails before the first iteration leaves nothing in the way: the next fresh
  start of the same run replaces its log.
* Paths in solvers are relative to the repo root, so Caffe runs there (``cwd``). The folder of
  ``snapshot_prefix`` is created (stock Caffe does not create it).
"""
from __future__ import annotations

import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..atomic import add_lock_holder
from ..caffe_env import caffe_tool, tool_env
from ..cli import option_hint as _hint
from .caffelog import LogReader, expand_log_paths, read_segments, run_logs, session_log_name
from ..errors import UserError
from ..paths import LOGS_DIR, REPO_ROOT
from ..protoio import read_net, read_solver, write_text
from . import live, preflight, record, snapshots

_STARTED_RE = re.compile(r"\] Iteration \d+")
_NON_FINITE_LOSS_RE = re.compile(r"(?:^|[\s,#:])(?P<name>[\w/.-]*loss[\w/.-]*) = (?P<v>[-+]?(?:nan|inf))\b", re.I)
DERIVED_SOLVER = "solver.prototxt"
DERIVED_NET = "net.prototxt"
#: exit status of a run stopped because a loss became NaN or infinite
DIVERGED_RC = 3
_ARGS_MAX_ITER = 'ARGS="--max-iter N"'
_STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


@dataclass(frozen=True)
class Override:
    """A solver (or train-net) field a command line may change for one run."""

    key: str                 # solver field; "batch_size" is the TRAIN data layers' batch
    flag: str                # command-line flag
    kind: type               # int, float or list (of ints)
    minimum: float           # smallest allowed value (each element, for lists)
    help: str


OVERRIDES: dict[str, Override] = {o.key: o for o in (
    Override("max_iter", "--max-iter", int, 1, "solver max_iter (stop at this iteration)"),
    Override("test_interval", "--test-interval", int, 0, "solver test_interval (0: no test passes)"),
    Override("test_iter", "--test-iter", int, 1, "solver test_iter (batches per test pass)"),
    Override("snapshot", "--snapshot", int, 0, "solver snapshot interval (0: only at the end)"),
    Override("random_seed", "--seed", int, 0, "solver random_seed (weight init, dropout, shuffling)"),
    Override("base_lr", "--base-lr", float, 0, "solver base_lr"),
    Override("batch_size", "--batch-size", int, 1, "batch size of the net's TRAIN data layers"),
    Override("stepvalue", "--stepvalues", list, 1, "solver stepvalues (multistep), comma-separated"),
)}


def override_flag(key: str) -> str:
    """``--max-iter`` for ``max_iter``, ``--seed`` for ``random_seed``."""
    return OVERRIDES[key].flag


def parse_override(key: str, text: str):
    """The value of override `key` from its command-line text (UserError when it is not one)."""
    o = OVERRIDES[key]
    try:
        if o.kind is list:
            value = [int(t) for t in text.split(",") if t.strip()]
            if not value:
                raise ValueError
        else:
            value = o.kind(text)
    except ValueError:
        raise UserError(f"{o.flag} takes {'comma-separated integers' if o.kind is list else o.kind.__name__ + 's'}, "
                        f"not {text!r}") from None
    return value


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


def _check_value(o: Override, value) -> None:
    vals = value if o.kind is list else [value]
    ok = isinstance(value, list) if o.kind is list else (isinstance(value, (int, float)) and not isinstance(value, bool))
    for v in vals:
        ok = ok and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= o.minimum
        ok = ok and (o.kind is float or float(v).is_integer())
    if o.key == "base_lr":
        ok = ok and value > 0
    if o.key == "stepvalue":
        ok = ok and all(a < b for a, b in zip(value, value[1:]))
    if not ok:
        need = {"base_lr": "a finite number > 0", "stepvalue": f"increasing integers >= {o.minimum}"}.get(
            o.key, f"an integer >= {o.minimum}")
        raise UserError(f"{o.flag} must be {need}, not {value!r}")


def derive_solver(sp, overrides: dict | None = None, cpu: bool = False,
                  snapshot_prefix: str | None = None) -> list[str]:
    """Apply `overrides` (see :data:`OVERRIDES`; ``batch_size`` excepted: :func:`derive_net`), CPU
    mode and a new snapshot prefix to the SolverParameter ``sp`` in place; return one
    ``field value (was old)`` per change."""
    changes = []
    for key, value in (overrides or {}).items():
        if value is None or key == "batch_size":
            continue
        if key not in OVERRIDES:
            raise UserError(f"cannot override solver field {key!r} (only {', '.join(OVERRIDES)})")
        _check_value(OVERRIDES[key], value)
        if key == "test_iter":
            old = ",".join(map(str, sp.test_iter)) or "none"
            if not len(sp.test_iter):
                raise UserError("the solver has no test nets (no test_iter) to override")
            sp.test_iter[:] = [value] * len(sp.test_iter)
        elif key == "stepvalue":
            if sp.lr_policy != "multistep":
                raise UserError(f"--stepvalues needs lr_policy multistep; the solver's is {sp.lr_policy or 'none'!r}")
            old = ",".join(map(str, sp.stepvalue)) or "none"
            sp.stepvalue[:] = value
            value = ",".join(map(str, value))
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


def check_solver_numbers(sp, where) -> None:
    """Refuse a solver whose learning-rate numbers are NaN, infinite or negative (Caffe would
    train on and log NaN losses, or worse, accuracies that look perfect)."""
    for name in ("base_lr", "momentum", "momentum2", "weight_decay", "gamma", "power", "delta", "clip_gradients"):
        if sp.HasField(name):
            v = getattr(sp, name)
            if not math.isfinite(v) or v < 0:
                raise UserError(f"{where}: {name} is {v}; it must be a finite number >= 0")


def run_snapshot_prefix(sp, solver: str | os.PathLike, run_name: str) -> str | None:
    """The snapshot prefix of run ``run_name``: the solver's own for the solver's default run
    name, else ``<prefix folder>/<run>/<prefix name>``; None when the solver sets no prefix."""
    if not sp.snapshot_prefix or run_name == default_run_name(solver):
        return None
    pp = Path(sp.snapshot_prefix)
    return str(pp.parent / run_name / pp.name)


def _net_file(sp, solver: Path, cwd: Path) -> Path | None:
    if not sp.net and not sp.train_net and not sp.HasField("net_param") and not sp.HasField("train_net_param"):
        raise UserError(f"{solver}: the solver names no net")
    net_path = sp.net or sp.train_net
    net_file = (Path(net_path) if Path(net_path).is_absolute() else cwd / net_path) if net_path else None
    if net_file is not None and not net_file.is_file():
        raise UserError(f"{solver}: net {net_path} not found (paths are relative to {cwd})")
    return net_file


def derive_net(sp, net_file: Path | None, batch_size: int, log_dir: Path, cwd: Path) -> str:
    """Write the run's own net with `batch_size` in every TRAIN-phase Data layer, point ``sp``
    at it, and return the change line."""
    _check_value(OVERRIDES["batch_size"], batch_size)
    if net_file is None or not sp.net:
        raise UserError("--batch-size needs a solver whose net is a file (net: ...)")
    net = read_net(net_file)
    changed = []
    for lp in net.layer:
        phases = {r.phase for r in lp.include}
        if lp.type == "Data" and (not phases or 0 in phases) and lp.data_param.batch_size != batch_size:
            changed.append(f"{lp.name} {lp.data_param.batch_size}")
            lp.data_param.batch_size = batch_size
    if not changed:
        return f"batch_size {batch_size} (unchanged)"
    own = log_dir / DERIVED_NET
    write_text(own, net, header=f"# Net of run {log_dir.name}: {sp.net} with TRAIN batch {batch_size}\n")
    sp.net = record.repo_relative(own, cwd)
    return f"batch_size {batch_size} (was {', '.join(changed)}; net {sp.net})"


def legacy_overrides(own_solver: Path) -> dict:
    """The overrides a run from before run records wrote into its solver's header
    (``#   max_iter 40000 (was 234000)``)."""
    out: dict = {}
    try:
        lines = own_solver.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        m = re.match(r"#\s+(\w+) (\S+) \(was ", line)
        if not m or m[1] not in OVERRIDES:
            continue
        try:
            out[m[1]] = parse_override(m[1], m[2])
        except UserError:
            continue
    return out


def legacy_segments(logs: Sequence[Path]) -> list[record.Segment]:
    """Record segments for the logs of a run from before run records (times and iterations from the logs)."""
    segs = []
    for log in logs:
        for seg in read_segments(log).segments:
            if not seg.solver_init:
                continue
            meta = seg.meta()
            its = [i for i in [seg.last_iteration, *[i for i, _, _ in seg.snapshots]] if i is not None]
            segs.append(record.Segment(log=Path(log).name, started=meta["started"] or "", ended=meta["ended"],
                                       start_iter=seg.start_iteration if seg.resumed_from else 0,
                                       end_iter=max(its) if its else None, resumed_from=seg.resumed_from,
                                       state="done" if seg.finished else "stopped"))
    return segs


@dataclass
class TrainResult:
    """What one :func:`train` call did."""

    rc: int                               # 0 done; DIVERGED_RC; 128+N stopped by signal N; else Caffe's status
    state: str                            # the run's state afterwards (record.STATES)
    run: str
    log_dir: Path
    log_path: Path | None = None          # this segment's log (None when nothing was run)
    record: record.RunRecord | None = None
    reader: LogReader | None = None
    diverged: str | None = None           # "train loss nan at iteration 120" when it diverged
    cwd: Path = REPO_ROOT
    notes: list[str] = field(default_factory=list)

    @property
    def snapshots(self) -> list[snapshots.Snapshot]:
        """The run's snapshots (all segments), oldest first."""
        return snapshots.logged_snapshots(run_logs(self.log_dir), self.cwd)


@dataclass
class _Plan:
    """What the segment about to start runs: the checks and the resume plan's outcome."""

    run: str
    log_dir: Path
    source_solver: Path
    sp: object
    net_file: Path | None
    changes: list[str]
    overrides: dict            # all overrides in force
    new_overrides: dict        # given for this segment
    state: Path | None         # the .solverstate to resume from
    weights: list[str]
    log_path: Path
    rec: record.RunRecord | None
    earlier_logs: list[Path]
    use_cpu: bool


def _warn(msg: str) -> None:
    print(f"train: warning: {msg}", file=sys.stderr, flush=True)


def _plan(solver: Path, run_name: str, log_dir: Path, cwd: Path, gpu, cpu: bool, resume, weights, overwrite: bool,
          overrides: dict, cont: bool) -> _Plan | TrainResult:
    rec = record.read(log_dir)
    existing = run_logs(log_dir)
    own_solver = log_dir / DERIVED_SOLVER
    if cont:
        if rec is not None and record.effective_state(rec, log_dir) == "done" \
                and all(rec.overrides.get(k) == v for k, v in overrides.items()):
            print(f"train: {run_name} is done ({rec.iterations_done} of {rec.max_iter} iterations); nothing to continue",
                  file=sys.stderr)
            return TrainResult(0, "done", run_name, log_dir, record=rec, cwd=cwd)
        if rec is not None and rec.state == "diverged":
            raise UserError(f"{run_name} diverged; {_hint('--continue', 'CONTINUE=1')} does not restart it (start it "
                            f"again with {_hint('--overwrite', 'OVERWRITE=1')})")
        resume = bool(find_solverstates(log_dir, cwd)) or None
        overwrite = not resume
        if not resume and run_started(existing):
            _warn(f"{run_name} has no snapshot to continue from; starting it again")
    if resume:
        if rec is None and not existing:
            raise UserError(f"no .solverstate found for run {run_name}: it has no logs in {log_dir}; "
                            f"start it without {_hint('--resume', 'RESUME=1')}")
        if rec is not None and rec.state == "diverged":
            _warn(f"{run_name} diverged before; resuming from a snapshot taken before the divergence")
        base = own_solver if own_solver.is_file() else solver
        if rec is not None and (cwd / rec.source_solver).resolve() != solver.resolve():
            raise UserError(f"run {run_name} was started from {rec.source_solver}, not {solver}: resume it with that "
                            f"solver (its own copy {record.repo_relative(own_solver, cwd)} runs; extend it with "
                            f"{_hint('--max-iter N', _ARGS_MAX_ITER)}), or start a new run with "
                            f"{_hint('--name', 'NAME=')}")
        sp = read_solver(base, net_root=cwd)
        merged = dict(rec.overrides) if rec is not None else legacy_overrides(own_solver)
    else:
        if run_started(existing) and not overwrite:
            raise UserError(f"{log_dir} already holds a run ({existing[0].name}); "
                            f"use {_hint('--resume', 'RESUME=1')} to continue it, {_hint('--name', 'NAME=')} for a new "
                            f"run, or {_hint('--overwrite', 'OVERWRITE=1')} to start it again")
        if existing and not run_started(existing):
            _warn(f"replacing the log of a start of {run_name} that failed before its first iteration")
        sp = read_solver(solver, net_root=cwd)
        base = solver
        merged = {}
    net_file = _net_file(sp, base, cwd)
    ws = [str(w) for w in ([weights] if isinstance(weights, (str, os.PathLike)) else list(weights or []))]
    for w in ws:
        if not Path(w).is_file() and not (cwd / w).is_file():
            raise UserError(f"weights not found: {w}")
    use_cpu = cpu or (gpu is None and sp.solver_mode == sp.GPU and not _has_gpu())
    if use_cpu and not cpu and sp.solver_mode != sp.CPU:
        print(f"train: no NVIDIA GPU here; running {solver} in CPU mode", file=sys.stderr)
    prefix = None if resume else run_snapshot_prefix(sp, solver, run_name)
    changes = derive_solver(sp, overrides, cpu=use_cpu, snapshot_prefix=prefix)
    if overrides.get("batch_size") is not None:
        changes.append(derive_net(sp, net_file, overrides["batch_size"], log_dir, cwd))
    check_solver_numbers(sp, base)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    state: Path | None = None
    if resume:
        if resume is True or resume == "latest":
            states = find_solverstates(log_dir, cwd)
            if not states:
                raise UserError(f"no .solverstate found for run {run_name} (none named in its logs in {log_dir}); "
                                f"pass --resume PATH to continue from a given one")
            state = snapshots.pick_resume_state(states, net_file, cwd, warn=_warn)
        else:
            state = Path(resume)
            if not state.is_file():
                raise UserError(f"solverstate not found: {state}")
            if net_file is not None:
                snapshots.check_state(state, snapshots.train_net(net_file), cwd)
        log_path = log_dir / session_log_name(len(existing))
    # what Caffe would abort on, refused before anything of the run is touched
    preflight.check_train(sp, net_file, cwd, ws, state)
    if state is not None and (it := snapshots.iteration_of(state.name)) is not None:
        note = preflight.batch_order_note(sp, net_file, cwd, it)
        if note:
            print(f"train: note: {note}", file=sys.stderr, flush=True)
    if not resume:
        for p in [*existing, *log_dir.glob("events.out.tfevents.*"), record.record_path(log_dir)]:
            p.unlink(missing_ok=True)
        if overrides.get("batch_size") is None:
            (log_dir / DERIVED_NET).unlink(missing_ok=True)
        existing = []
        rec = None
        log_path = log_dir / session_log_name(0)
    return _Plan(run_name, log_dir, solver, sp, net_file, changes, merged, dict(overrides), state, ws, log_path, rec,
                 list(existing), use_cpu)


def _write_solver(plan: _Plan, cwd: Path) -> Path:
    """The run's own solver file (written on a fresh start and when a resume changes it)."""
    own = plan.log_dir / DERIVED_SOLVER
    if plan.state is None or plan.changes or not own.is_file():
        earlier = []
        if plan.state is not None and own.is_file():      # a resume keeps the earlier segments' change lines
            earlier = [ln + "\n" for ln in own.read_text().splitlines() if ln.startswith("#   ")]
        lines = earlier + [f"#   {c}\n" for c in plan.changes]
        header = f"# Solver of run {plan.run}, from {record.repo_relative(plan.source_solver, cwd)}"
        header += (":\n" + "".join(lines)) if lines else " unchanged\n"
        write_text(own, plan.sp, header=header)
    return own


def _start_record(plan: _Plan, solver_used: Path, experiment: str | None, cwd: Path) -> record.RunRecord:
    seg = record.Segment(log=plan.log_path.name, started=record.now_iso(),
                         start_iter=snapshots.iteration_of(plan.state.name) if plan.state is not None else 0,
                         overrides=plan.new_overrides, resumed_from=str(plan.state) if plan.state else None,
                         commit=record.git_commit(cwd), build=record.build_key(), host=record.host(), pid=os.getpid())
    rec = plan.rec
    if rec is None:
        rec = record.RunRecord(run=plan.run, source_solver=record.repo_relative(plan.source_solver, cwd),
                               solver=record.repo_relative(solver_used, cwd), solver_sha256="", max_iter=0,
                               experiment=experiment, segments=legacy_segments(plan.earlier_logs))
    rec.solver = record.repo_relative(solver_used, cwd)
    rec.solver_sha256 = record.sha256_file(solver_used)
    rec.max_iter = plan.sp.max_iter
    rec.overrides = plan.overrides
    rec.seed = plan.sp.random_seed if plan.sp.random_seed >= 0 else None
    rec.experiment = rec.experiment or experiment
    rec.data = record.data_fingerprint(plan.net_file, cwd)
    for earlier in rec.segments:
        if earlier.state == "running":            # killed outright; we hold the lock now, so it is over
            _close_killed_segment(earlier, plan.log_dir)
    rec.state = "running"
    rec.segments.append(seg)
    record.write(plan.log_dir, rec)
    return rec


def _close_killed_segment(seg: record.Segment, log_dir: Path) -> None:
    """Close the record of a segment that ended with no exit written (``kill -9``, power loss, a VM
    stop): state ``killed``, its last iteration and time from its log."""
    from_log = legacy_segments([log_dir / seg.log])
    seg.state = "killed"
    if from_log:
        seg.end_iter = from_log[-1].end_iter
        seg.ended = from_log[-1].ended


def _command(plan: _Plan, solver_used: Path, gpu, extra_args: Sequence[str]) -> list[str]:
    cmd = [str(caffe_tool("caffe")), "train", f"-solver={Path(solver_used).resolve()}", "-sigint_effect=stop",
           "-sighup_effect=stop"]
    if plan.state is not None:
        cmd.append(f"-snapshot={plan.state}")
    if plan.weights:
        cmd.append("-weights=" + ",".join(plan.weights))
    if gpu is not None:
        cmd.append(f"-gpu={gpu}")
    return cmd + list(extra_args)


def non_finite_loss(line: str, reader: LogReader) -> str | None:
    """``train loss nan at iteration 120`` when `line` logs a NaN or infinite loss, else None."""
    m = _NON_FINITE_LOSS_RE.search(line)
    if not m or "] " not in line:
        return None
    testing = "Test net output" in line
    it = reader.last_test_iteration if testing else reader.iteration
    where = f" at iteration {it}" if it is not None else ""
    v = "nan" if "nan" in m["v"].lower() else m["v"].lower().lstrip("+")
    return f"{'test' if testing else 'train'} {m['name']} {v}{where}"


def _tee(proc, plan: _Plan, cmd, cwd: Path, reader: LogReader, status, board, echo: bool) -> tuple[list[str], str | None]:
    """Copy Caffe's output into the log, the reader, the progress line and TensorBoard; stop
    Caffe (SIGKILL, no snapshot) at the first non-finite loss. Returns (last lines, divergence)."""
    tail: list[str] = []
    diverged = None
    with open(plan.log_path, "ab") as log:
        log.write(("# simplenet-caffe: " + shlex.join(cmd) + f"  (cwd {cwd})\n").encode())
        if plan.changes:
            log.write((f"# simplenet-caffe: solver of run {plan.run} derived from {plan.source_solver}: "
                       + "; ".join(plan.changes) + "\n").encode())
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
            if diverged is None:
                diverged = non_finite_loss(line, reader)
                if diverged is not None:
                    _kill_group(proc)
    return tail, diverged


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _run_caffe(plan: _Plan, cmd, cwd: Path, show_progress: bool, echo: bool, progress_seconds: float,
               tensorboard: bool, lock_fd: int) -> tuple[int, list[int], LogReader, list[str], str | None]:
    reader = LogReader(str(plan.log_path))
    status = live.Status(plan.run, plan.sp.max_iter, show_progress, line_every=5 * progress_seconds)
    board = live.TensorBoard(plan.log_dir, enabled=tensorboard)
    env = tool_env()
    env["GLOG_logtostderr"] = "1"
    env.pop("GLOG_minloglevel", None)
    if progress_seconds > 0:
        env[live.PROGRESS_ENV] = str(progress_seconds)
    else:
        env.pop(live.PROGRESS_ENV, None)
    signals_seen: list[int] = []
    # Caffe shares the run's lock: killed alone (kill -9), this process leaves Caffe training
    # until its next log line meets the closed pipe, and the run must not look free until then.
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, pass_fds=(lock_fd,))
    add_lock_holder(lock_fd, f"caffe pid {proc.pid}")

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
    try:
        tail, diverged = _tee(proc, plan, cmd, cwd, reader, status, board, echo)
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
    return rc, signals_seen, reader, tail, diverged


def _finish_record(plan: _Plan, rec: record.RunRecord, rc: int, signals_seen: list[int], reader: LogReader,
                   diverged: str | None) -> str:
    seg = rec.segments[-1]
    its = [i for i in (reader.iteration, reader.last_test_iteration) if i is not None]
    its += [it for s in reader.segments for it, _, _ in s.snapshots if it is not None]
    seg.end_iter = max(its) if its else seg.start_iter
    seg.ended = record.now_iso()
    seg.rc = rc
    seg.signal = signal.Signals(signals_seen[0]).name if signals_seen else None
    finished = any(s.finished for s in reader.segments)
    # A signal sent to Caffe itself (kill -INT <caffe pid>, a scheduler's preemption signal) is not
    # seen here; Caffe then logs "Optimization stopped early", snapshots and exits 0.
    stopped_early = any(s.stopped_early for s in reader.segments)
    if diverged:
        seg.state = "diverged"
    elif rc == 0 and not signals_seen and finished:
        seg.state = "done"
    elif (signals_seen and rc in (0, 128 + signals_seen[0])) or (rc == 0 and stopped_early):
        seg.state = "stopped"
    else:
        seg.state = "failed"
    rec.state = seg.state
    record.write(plan.log_dir, rec)
    return seg.state


def train(solver: str | os.PathLike, run_name: str | None = None, gpu: str | int | None = None,
          resume: bool | str | os.PathLike | None = None, weights: str | Sequence[str] | None = None,
          extra_args: Sequence[str] = (), log_dir: str | os.PathLike | None = None, cpu: bool = False,
          overwrite: bool = False, cwd: str | os.PathLike = REPO_ROOT, show_progress: bool = True,
          echo: bool = False, overrides: dict | None = None, progress_seconds: float = 2.0,
          tensorboard: bool = True, experiment: str | None = None, cont: bool = False) -> TrainResult:
    """Run one segment of a run with ``caffe train`` and return what happened (:class:`TrainResult`;
    its ``rc``: 0 done, :data:`DIVERGED_RC`, 128+N when stopped by signal N, else Caffe's status).

    `gpu`: device id(s) for ``-gpu`` ("0", "0,1", "all"); None runs as the solver says, except
    that a GPU solver falls back to CPU on a machine without an NVIDIA device. `cpu=True`
    forces CPU. `overrides`: solver fields (:data:`OVERRIDES`). `resume`: True for the run's
    newest good .solverstate, or a path; `cont`: resume if possible, else start. `weights`:
    caffemodel(s) to fine-tune from (not with `resume`). `log_dir` defaults to ``logs/<run>``;
    a fresh run into a folder that holds a started run is refused unless `overwrite`.
    `progress_seconds`: how often Caffe reports progress (0: only its own log lines).
    `experiment`: the paper experiment this run trains, for the record.
    """
    solver, cwd = Path(solver), Path(cwd)
    run_name = run_name or default_run_name(solver)
    log_dir = Path(log_dir) if log_dir is not None else LOGS_DIR / run_name
    if resume and weights:
        raise UserError("--resume and --weights cannot be combined (caffe train takes -snapshot or -weights)")
    if resume and overwrite:
        raise UserError("--resume and --overwrite cannot be combined (continue the run, or start it again)")
    if cpu and gpu is not None:
        raise UserError("choose either --cpu or --gpu")
    if progress_seconds < 0 or not math.isfinite(progress_seconds):
        raise UserError(f"progress interval must be a finite number >= 0 seconds, not {progress_seconds}")
    if not solver.is_file():
        raise UserError(f"solver {solver}: no such file")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    with record.hold(log_dir, run_name) as lock_fd:
        plan = _plan(solver, run_name, log_dir, cwd, gpu, cpu, resume, weights, overwrite, overrides, cont)
        if isinstance(plan, TrainResult):
            return plan
        log_dir.mkdir(parents=True, exist_ok=True)
        # stock Caffe does not create the snapshot folder (relative to cwd, like Caffe reads it)
        if plan.sp.snapshot_prefix:
            pp = Path(plan.sp.snapshot_prefix)
            (pp if pp.is_absolute() else cwd / pp).parent.mkdir(parents=True, exist_ok=True)
        solver_used = _write_solver(plan, cwd)
        rec = _start_record(plan, solver_used, experiment, cwd)
        cmd = _command(plan, solver_used, gpu, extra_args)
        try:
            rc, signals_seen, reader, tail, diverged = _run_caffe(plan, cmd, cwd, show_progress, echo,
                                                                  progress_seconds, tensorboard, lock_fd)
        except BaseException:
            rec.segments[-1].ended, rec.segments[-1].state, rec.state = record.now_iso(), "failed", "failed"
            record.write(log_dir, rec)
            raise
        state = _finish_record(plan, rec, rc, signals_seen, reader, diverged)
    if diverged:
        rc = DIVERGED_RC
    elif rc == 0 and signals_seen:
        rc = 128 + signals_seen[0]
    elif rc == 0 and state == "stopped":
        rc = 128 + signal.SIGINT  # stopped by a signal sent to caffe itself (its SIGINT action is stop)
    try:
        _report(rc, state, signals_seen, plan, reader, tail, diverged, echo, show_progress)
    except (OSError, ValueError):
        pass
    return TrainResult(rc, state, run_name, log_dir, plan.log_path, rec, reader, diverged, cwd)


def _closing_line(reader: LogReader, log_path: Path) -> str:
    """``iteration N, last test accuracy A (iteration M); log L`` -- or what is known instead."""
    known = [i for i in (reader.iteration, reader.last_test_iteration) if i is not None]
    known += [it for seg in reader.segments for it, _, _ in seg.snapshots if it is not None]
    it = f"iteration {max(known)}" if known else "before any logged iteration"
    acc = reader.last_test.get("accuracy")
    test = (f"last test accuracy {acc:.4f} (iteration {reader.last_test_iteration})" if acc is not None
            else "no test pass yet")
    return f"{it}, {test}; log {log_path}"


def _report(rc, state, signals_seen, plan: _Plan, reader, tail, diverged, echo, show_progress) -> None:
    """The closing lines on stderr: done / stopped (how to continue) / diverged / failed (why, what to do)."""
    out = sys.stderr
    if diverged:
        print(f"train: {plan.run} diverged: {diverged}; caffe was stopped without a snapshot and no accuracy is "
              f"reported (lower --base-lr, or check the data); log {plan.log_path}", file=out)
        return
    if state == "stopped":
        by = signal.Signals(signals_seen[0]).name if signals_seen else "a signal sent to caffe"
        print(f"train: {plan.run} stopped by {by} at "
              + _closing_line(reader, plan.log_path) + f"; continue with {_hint('--resume', 'RESUME=1')}", file=out)
        return
    if rc == 0:
        if show_progress:
            print(f"train: {plan.run} done at " + _closing_line(reader, plan.log_path), file=out)
        return
    if not echo:
        lines = [t for t in tail if t[:1] in "EF" or "Check failed" in t or "rror" in t] or tail[-10:]
        print(f"train: caffe exited with status {rc}; log {plan.log_path}; last messages:", file=out)
        for t in lines[-12:]:
            print("  " + t, file=out)
    if not run_started([plan.log_path, *plan.earlier_logs]):
        print("train: the run failed before its first iteration: fix the cause and rerun the same command "
              "(the failed start's log is replaced)", file=out)
    else:
        print(f"train: continue from the last snapshot with {_hint('--resume', 'RESUME=1')}, or start again with "
              f"{_hint('--overwrite', 'OVERWRITE=1')}", file=out)


def run_log_paths(run_name: str, log_dir: str | os.PathLike | None = None) -> list[Path]:
    """The log files of a run in session order (for :func:`simplenet_caffe.runs.caffelog.parse`); [] if none."""
    d = Path(log_dir) if log_dir is not None else LOGS_DIR / run_name
    return run_logs(d) or (expand_log_paths([d]) if d.is_dir() else [])
