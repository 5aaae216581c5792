"""Sweeps: a set of paper experiments run as one job list (``tools/sweep.py``; docs/cluster.md).

Every task is one command, ``tools/reproduce.py EXP --name RUN --continue [options]``, so the
sweep keeps no state of its own: each run's record (``logs/<RUN>/run.json``, :mod:`.record`)
says whether it is done (skipped), stopped or killed (resumed from its newest snapshot) or new
(started), and a task that runs again -- a rerun of the sweep, or a Slurm task requeued after a
pre-emption or its time limit -- continues its own run.

* **Locally** the tasks form a queue over workers: one per GPU (``--gpu 0,1``: each task gets
  one of them; ``--gpu all``: one task at a time on every GPU, Caffe's multi-GPU with NCCL), or
  one on the CPU. Each task's output goes to ``logs/sweep/<RUN>.out``.
* **On Slurm** (:func:`submit_slurm`) the tasks are one job array submitted by submitit: each
  array task runs its command under :class:`ReproduceTask`. Slurm signals the job
  ``signal_delay_s`` before its time limit (submitit's ``--signal=USR2@delay``); the task then
  sends SIGTERM to reproduce.py (Caffe snapshots and stops) and submitit requeues the job. A job
  requeued from outside (``scontrol requeue``, a pre-emption) gets SIGTERM from Slurm directly,
  which Caffe handles the same way. Either way the requeued task's ``--continue`` resumes.
"""
from __future__ import annotations

import fnmatch
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import UserError
from ..nets.experiments import EXPERIMENTS
from ..paths import LOGS_DIR, REPO_ROOT
from ..progress import progress
from . import record

#: ``all`` selects the paper's table: every experiment but the shortened CPU demos.
ALL = "all"


@dataclass(frozen=True)
class Task:
    experiment: str
    run: str

    def command(self, extra: Sequence[str] = (), gpu: str | None = None) -> list[str]:
        """The task's command line (``gpu``: Caffe's -gpu value; None: reproduce.py's default)."""
        return [sys.executable, str(REPO_ROOT / "tools" / "reproduce.py"), self.experiment, "--name", self.run,
                "--continue", *(["--gpu", gpu] if gpu is not None else []), *extra]


def select(patterns: Sequence[str]) -> list[str]:
    """Experiment names from names, shell globs (``cifar10_*``) or ``all``, in table order, once each."""
    if not patterns:
        raise UserError("name the experiments: names, globs (e.g. 'mnist_*') or 'all' (the paper's table)")
    chosen: set[str] = set()
    for p in patterns:
        if p == ALL:
            hit = [n for n in EXPERIMENTS if not n.endswith("_demo")]
        else:
            hit = [n for n in EXPERIMENTS if fnmatch.fnmatchcase(n, p)]
        if not hit:
            raise UserError(f"no experiment matches {p!r} (see tools/reproduce.py --list)")
        chosen.update(hit)
    return [n for n in EXPERIMENTS if n in chosen]


def tasks_for(experiments: Sequence[str], tag: str | None = None) -> list[Task]:
    """One task per experiment; the run is named after it (``<experiment>_<tag>`` with a tag)."""
    return [Task(e, f"{e}_{tag}" if tag else e) for e in experiments]


@dataclass(frozen=True)
class Status:
    task: Task
    state: str          # "new" or the run record's effective state (record.STATES)
    action: str         # "run" (start or resume) or "skip"
    why: str


def status(task: Task, logs_dir: Path = LOGS_DIR, retry_failed: bool = False) -> Status:
    """What the sweep does with ``task``, from its run record."""
    d = logs_dir / task.run
    rec = record.read(d)
    if rec is None:
        if any(d.glob("caffe*.log")):
            return Status(task, "unrecorded", "skip", f"{d} holds logs without a run record; "
                                                      "continue it with tools/reproduce.py --resume")
        return Status(task, "new", "run", "start")
    holder = record.live_holder(d)
    if holder:
        return Status(task, "running", "skip", f"being trained by {holder}")
    state = record.effective_state(rec, d)
    it = rec.iterations_done
    at = f" at iteration {it:,}" if it is not None else ""
    if state == "done":
        return Status(task, state, "skip", f"done{at}")
    if state in ("failed", "diverged") and not retry_failed:
        return Status(task, state, "skip", f"{state}{at}; --retry-failed runs it again with --continue")
    return Status(task, state, "run", f"resume{at}" if it else "start")


def _gpu_count() -> int:
    try:
        cp = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in cp.stdout.splitlines() if line.startswith("GPU ")) if cp.returncode == 0 else 0


def workers(gpu: str | None) -> list[str | None]:
    """The local queue's workers as Caffe -gpu values: ``"0"``, ``"1"``, ... (one per GPU),
    ``["all"]``, or ``[None]`` (reproduce.py's default: the CPU when there is no GPU)."""
    if gpu is None:
        n = _gpu_count()
        return [str(i) for i in range(n)] or [None]
    if gpu == "all":
        return ["all"]
    ids = [g.strip() for g in gpu.split(",") if g.strip()]
    if not ids or not all(g.isdigit() for g in ids):
        raise UserError(f"--gpu takes GPU ids (0,1,...) or 'all', got {gpu!r}")
    return ids


def run_local(tasks: Sequence[Task], extra: Sequence[str] = (), gpu: str | None = None,
              out_dir: Path | None = None, log=print) -> dict[str, int]:
    """Run ``tasks`` as a queue over :func:`workers`; returns run -> exit status. Ctrl-C or
    SIGTERM stops the running tasks (each reproduce.py gets SIGTERM: Caffe snapshots) and the
    queue; a rerun continues them."""
    out_dir = out_dir or LOGS_DIR / "sweep"
    out_dir.mkdir(parents=True, exist_ok=True)
    todo: queue.Queue = queue.Queue()
    for t in tasks:
        todo.put(t)
    results: dict[str, int] = {}
    procs: dict[str, subprocess.Popen] = {}
    stop = threading.Event()
    lock = threading.Lock()
    bar = progress(None, total=len(tasks), desc="sweep", unit="run")

    def worker(dev: str | None) -> None:
        while not stop.is_set():
            try:
                t = todo.get_nowait()
            except queue.Empty:
                return
            where = f"GPU {dev}" if dev is not None else "default device"
            out = out_dir / f"{t.run}.out"
            with lock:
                log(f"sweep: {t.run} ({t.experiment}) on {where}, output {out}")
            with open(out, "ab") as f:
                p = subprocess.Popen(t.command(extra, dev), stdout=f, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                     start_new_session=True)
                with lock:
                    procs[t.run] = p
                rc = p.wait()
            with lock:
                procs.pop(t.run, None)
                results[t.run] = rc
                bar.update(1)
                log(f"sweep: {t.run} " + ("finished" if rc == 0 else f"exited with status {rc} (see {out})"))

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = signal.signal(signal.SIGTERM, interrupt) if threading.current_thread() is threading.main_thread() else None
    threads = [threading.Thread(target=worker, args=(d,), daemon=True) for d in workers(gpu)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            while th.is_alive():
                th.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        with lock:
            running = list(procs.values())
        for p in running:
            p.send_signal(signal.SIGTERM)        # reproduce.py: Caffe snapshots and stops
        for p in running:
            p.wait()
        raise
    finally:
        bar.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    return results


# ----------------------------------------------------------------------------- Slurm

def _ignore_usr2() -> None:
    # Slurm signals every process of the job step; USR2 is submitit's "time is nearly up" and is
    # handled by ReproduceTask, while Caffe would die of it (its default action) without a snapshot.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def _task_class():
    """:class:`ReproduceTask`, made on first use so that this module imports without submitit."""
    import submitit

    class ReproduceTask(submitit.helpers.Checkpointable):
        """One array task: runs its reproduce.py command; on submitit's checkpoint signal it sends
        SIGTERM to it (Caffe snapshots and stops) and asks submitit to requeue the same task."""

        def __init__(self, cmd: list[str], cwd: str):
            self.cmd, self.cwd, self.proc, self.done = cmd, cwd, None, None

        def __call__(self) -> int:
            # The child is reaped by a helper thread: the checkpoint runs as a signal handler in
            # this (main) thread, and must be able to wait for Caffe's snapshot while the main
            # thread is itself inside a wait (Popen's wait lock would deadlock the two).
            self.done = threading.Event()
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, preexec_fn=_ignore_usr2)
            threading.Thread(target=lambda: (self.proc.wait(), self.done.set()), daemon=True).start()
            while not self.done.wait(1.0):
                pass
            rc = self.proc.returncode
            if rc not in (0, 128 + signal.SIGTERM):
                raise RuntimeError(f"{' '.join(self.cmd)} exited with status {rc}")
            return rc

        def checkpoint(self, *args, **kwargs):
            if self.proc is not None and not self.done.is_set():
                self.proc.send_signal(signal.SIGTERM)
                if not self.done.wait(300):
                    self.proc.kill()
            return submitit.helpers.DelayedSubmission(ReproduceTask(self.cmd, self.cwd), *args, **kwargs)

        def __getstate__(self):
            return {"cmd": self.cmd, "cwd": self.cwd, "proc": None, "done": None}

    return ReproduceTask


def submit_slurm(tasks: Sequence[Task], extra: Sequence[str] = (), folder: Path | None = None, *,
                 time_min: int = 24 * 60, partition: str | None = None, gpus: int = 1, cpus: int | None = None,
                 signal_delay_s: int = 120, max_parallel: int = 256, max_requeue: int = 100,
                 slurm_args: dict | None = None) -> list[str]:
    """Submit ``tasks`` as one Slurm job array (submitit); returns the job ids (``ARRAY_TASK``).

    ``gpus`` per task (0: CPU), ``time_min`` the time limit of each stretch, ``signal_delay_s``
    how long before it the task is told to snapshot, ``max_requeue`` how many time-limit
    requeues a task may use (pre-emptions do not count)."""
    try:
        import submitit
    except ImportError as e:
        raise UserError(f"--slurm needs submitit ({e}): pip install '.[cluster]'") from None
    folder = Path(folder or LOGS_DIR / "sweep" / "slurm")
    ex = submitit.AutoExecutor(folder=str(folder / "%j"), cluster="slurm", slurm_max_num_timeout=max_requeue)
    params = dict(timeout_min=time_min, slurm_signal_delay_s=signal_delay_s, slurm_array_parallelism=max_parallel,
                  name="simplenet-sweep", nodes=1, tasks_per_node=1,
                  slurm_additional_parameters=dict(slurm_args or {}))
    if gpus:
        params["gpus_per_node"] = gpus
    if cpus:
        params["cpus_per_task"] = cpus
    if partition:
        params["slurm_partition"] = partition
    ex.update_parameters(**params)
    cls = _task_class()
    gpu = ",".join(str(i) for i in range(gpus)) if gpus else None
    fns = [cls(t.command(extra, gpu), str(REPO_ROOT)) for t in tasks]
    try:
        with ex.batch():
            jobs = [ex.submit(f) for f in fns]
    except (subprocess.CalledProcessError, FileNotFoundError, submitit.core.utils.FailedJobError) as e:
        raise UserError(f"sbatch failed: {str(e).splitlines()[0][:300]}") from None
    return [j.job_id for j in jobs]
