"""The run record: ``logs/<run>/run.json``, what every tool knows about a run.

A *run* is a folder ``logs/<run>/`` with the Caffe logs of one training (``caffe.log``,
``caffe.1.log``, ... one per segment) and this record. A *segment* is one ``caffe train``
invocation. The record is written atomically when a segment starts (state ``running``) and
again when it ends; it holds:

* ``experiment`` (None for a plain ``tools/train.py`` run), ``source_solver`` (the file the
  user named) and ``solver``: the run's own copy, ``logs/<run>/solver.prototxt``, which is
  what Caffe runs, with its ``solver_sha256``;
* ``overrides``: every solver override in force (a later segment's overrides are merged over
  the earlier ones and also kept per segment), ``seed`` (the solver's ``random_seed``, None when
  Caffe seeds itself), ``max_iter``;
* ``data``: the preprocess.json of every LMDB the net reads (path -> its content, or None when
  the LMDB has none), so a run can be matched with the data it was trained on;
* ``segments``: per segment its log file, first and last iteration, start and end time (ISO 8601,
  UTC), exit status or signal, overrides, git commit, Caffe build key, host and pid;
* ``state``: ``running`` (a segment is going on), ``stopped`` (stopped by a signal after Caffe
  snapshotted: continue with ``--resume``), ``done`` (reached max_iter), ``diverged`` (a train or
  test loss became NaN or infinite; Caffe was stopped without a snapshot), ``failed`` (Caffe
  exited non-zero).

A record that says ``running`` while no process holds the run's lock belongs to a segment that
was killed outright (``kill -9``, power loss): :func:`effective_state` reports it ``stopped``, and
the next segment of the run (``--resume``/``--continue``) closes it: that segment's state becomes
``killed`` (a segment-only state: it has no exit status), with its last iteration and time as its
log has them.

One writer per run: :func:`hold` takes an exclusive lock (``logs/.<run>.lock``, an
``fcntl.flock`` the kernel drops when its processes die) for the whole segment, shared with the
segment's Caffe, and a second trainer of the same run is refused with the holder's pid, host and
start time (and Caffe's pid).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import socket
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

from ..atomic import lock_holder, output_lock, write_atomic
from ..caffe_env import caffe_prefix
from ..errors import UserError
from ..paths import REPO_ROOT
from ..protoio import read_net

RECORD_NAME = "run.json"
STATES = ("running", "stopped", "done", "diverged", "failed")
FORMAT = 1


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Segment:
    """One ``caffe train`` invocation of a run."""

    log: str                               # file name in the run folder (caffe.log, caffe.1.log, ...)
    started: str                           # ISO 8601 UTC
    start_iter: int | None = None          # the iteration it resumed from (0 for a fresh start)
    end_iter: int | None = None            # the last iteration it reached (logged or snapshotted)
    ended: str | None = None
    rc: int | None = None                  # exit status (128+N after signal N)
    signal: str | None = None              # "SIGINT", "SIGTERM", ... when stopped by one
    state: str = "running"                 # this segment's outcome: one of STATES, or "killed"
    overrides: dict = field(default_factory=dict)
    resumed_from: str | None = None        # the .solverstate it started from
    commit: str | None = None
    build: str | None = None
    host: str = ""
    pid: int = 0


@dataclass
class RunRecord:
    run: str
    source_solver: str
    solver: str
    solver_sha256: str
    max_iter: int
    experiment: str | None = None
    overrides: dict = field(default_factory=dict)
    seed: int | None = None
    data: dict = field(default_factory=dict)
    state: str = "running"
    segments: list[Segment] = field(default_factory=list)
    format: int = FORMAT

    @property
    def iterations_done(self) -> int | None:
        its = [s.end_iter for s in self.segments if s.end_iter is not None]
        return max(its) if its else None

    @property
    def started(self) -> str | None:
        return self.segments[0].started if self.segments else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_obj(cls, obj: dict) -> "RunRecord":
        known = {f.name for f in fields(cls)}
        seg_known = {f.name for f in fields(Segment)}
        obj = {k: v for k, v in obj.items() if k in known}
        obj["segments"] = [Segment(**{k: v for k, v in s.items() if k in seg_known}) for s in obj.get("segments", [])]
        return cls(**obj)


def record_path(log_dir: str | os.PathLike) -> Path:
    return Path(log_dir) / RECORD_NAME


def read(log_dir: str | os.PathLike) -> RunRecord | None:
    """The run's record, None when the folder has none (a run from before records, or no run)."""
    p = record_path(log_dir)
    try:
        text = p.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror or e}") from e
    try:
        rec = RunRecord.from_obj(json.loads(text))
    except (ValueError, TypeError, KeyError) as e:
        raise UserError(f"{p} is damaged ({e}); move it away to treat the run as one without a record") from e
    if rec.state not in STATES:
        raise UserError(f"{p}: unknown state {rec.state!r}")
    return rec


def write(log_dir: str | os.PathLike, rec: RunRecord) -> Path:
    """Write the record atomically (complete or not at all)."""
    return write_atomic(record_path(log_dir), rec.to_json())


def _lock_target(log_dir: str | os.PathLike) -> Path:
    return Path(log_dir)


@contextlib.contextmanager
def hold(log_dir: str | os.PathLike, run: str) -> Iterator[int]:
    """The run's writer lock for the ``with`` body, which gets its file descriptor (Caffe is given
    it, so that a Caffe orphaned by ``kill -9`` of its trainer still holds the run); a
    :class:`UserError` naming the holder when another process trains (or deletes) the run now."""
    with output_lock(_lock_target(log_dir), busy=lambda who: (
            f"run {run} is being trained by {who}; wait for it to finish, or stop it (kill -INT its pid: "
            "Caffe snapshots and stops) before starting, resuming or overwriting it")) as fd:
        yield fd


def live_holder(log_dir: str | os.PathLike) -> str | None:
    """``pid N on HOST since T`` of the trainer holding the run now, ending in ``(caffe pid M)``
    once its Caffe runs; None when nobody holds it."""
    return lock_holder(_lock_target(log_dir))


def effective_state(rec: RunRecord, log_dir: str | os.PathLike) -> str:
    """The record's state, except that ``running`` without a live holder is ``stopped``."""
    if rec.state == "running" and live_holder(log_dir) is None:
        return "stopped"
    return rec.state


def sha256_file(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def repo_relative(path: str | os.PathLike, cwd: str | os.PathLike = REPO_ROOT) -> str:
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path(cwd).resolve()))
    except ValueError:
        return str(p)


def git_commit(repo: str | os.PathLike = REPO_ROOT) -> str | None:
    """HEAD's hash, with ``-dirty`` when tracked files differ from it; None outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def build_key() -> str | None:
    """The Caffe build in use: its install folder's name (``caffe-cpu-mkl-onednn-<key>``)."""
    p = caffe_prefix()
    return p.name if p is not None else None


def host() -> str:
    return socket.gethostname()


def data_fingerprint(net_file: str | os.PathLike | None, cwd: str | os.PathLike = REPO_ROOT) -> dict:
    """LMDB source (as the net names it) -> the content of the preprocess.json beside it (None
    when there is none) for every Data layer of the net."""
    if net_file is None:
        return {}
    try:
        net = read_net(net_file)
    except UserError:
        return {}
    out: dict = {}
    for lp in net.layer:
        src = lp.data_param.source if lp.type == "Data" else ""
        if not src or src in out:
            continue
        p = Path(src) if Path(src).is_absolute() else Path(cwd) / src
        meta = p.parent / "preprocess.json"
        try:
            out[src] = json.loads(meta.read_text()) if meta.is_file() else None
        except (OSError, ValueError):
            out[src] = None
    return out
