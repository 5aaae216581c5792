"""The run list: every run under ``logs/`` with its state and numbers, as DIGITS' job list shows them.

A run is a folder holding Caffe logs (``caffe.log``, ``caffe.N.log``) or a record
(``run.json``), at any depth below the logs folder (``logs/reference/mnist_s300a``). What is
known comes from the record (:mod:`.record`) and the stitched logs (:mod:`.caffelog`); a run from
before records gets its state from its logs (``done`` when Caffe printed "Optimization Done",
else ``stopped``). Accuracies are fractions (0-1); the paper's number is the authors' reported
accuracy in percent, from the experiment table.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..nets.experiments import EXPERIMENTS
from . import caffelog, record, reference


@dataclass
class RunRow:
    run: str                          # path below the logs folder
    state: str
    experiment: str | None
    iterations: int | None            # done (logged or snapshotted)
    max_iter: int | None              # planned
    best_accuracy: float | None
    best_iteration: int | None
    final_accuracy: float | None
    final_iteration: int | None
    paper: float | None               # the authors' reported accuracy, %
    wall_hours: float | None
    build: str | None
    seed: int | None
    diverged_iteration: int | None
    holder: str | None                # "pid N on HOST since T" while a segment runs
    note: str = ""
    first_step: int | None = None     # the solver's first lr step
    before_step: float | None = None  # mean test accuracy before it (iteration 0 left out)
    after_step: float | None = None   # mean test accuracy from it on

    def to_dict(self) -> dict:
        return asdict(self)


def find_runs(logs_dir: str | os.PathLike, max_depth: int = 3) -> list[Path]:
    """Run folders below `logs_dir` (it may be a run itself), sorted by path."""
    root = Path(logs_dir)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder")
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        d = Path(dirpath)
        depth = len(d.relative_to(root).parts)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith(".")) if depth < max_depth else []
        if record.record_path(d).is_file() or caffelog.run_logs(d):
            found.append(d)
    return sorted(found)


def _paper(experiment: str | None) -> float | None:
    exp = EXPERIMENTS.get(experiment or "")
    return exp.reported_acc if exp is not None else None


def _guess_experiment(d: Path) -> str | None:
    """A run from before records: its folder name, or the solver its logs name, if that is an experiment."""
    if d.name in EXPERIMENTS:
        return d.name
    own = d / "solver.prototxt"
    head = own.read_text(errors="replace")[:2000] if own.is_file() else ""
    for name in EXPERIMENTS:
        if f"solvers/{name}_solver.prototxt" in head:
            return name
    return None


def run_row(d: Path, root: Path) -> RunRow:
    """One run's row (never raises for a damaged run: its note says what is wrong)."""
    name = str(d.relative_to(root)) if d != root else d.name
    note = ""
    try:
        rec = record.read(d)
    except UserError as e:
        rec, note = None, str(e)
    logs = caffelog.run_logs(d)
    run = None
    if logs:
        try:
            run = caffelog.parse(d)
        except (OSError, ValueError) as e:
            note = note or f"log unreadable: {e}"
    stats = caffelog.run_stats(run) if run is not None else {}
    if rec is not None:
        state, experiment, max_iter, seed = record.effective_state(rec, d), rec.experiment, rec.max_iter, rec.seed
        build = next((s.build for s in reversed(rec.segments) if s.build), None)
        iterations = max([i for i in (rec.iterations_done, stats.get("iterations")) if i is not None], default=None)
    else:
        finished = run is not None and any(s.finished for s in run.segments)
        state = "done" if finished else ("stopped" if stats.get("iterations") is not None else "failed")
        experiment, seed, build, iterations = _guess_experiment(d), None, None, stats.get("iterations")
        solver = run.solver if run is not None else {}
        max_iter = int(solver["max_iter"]) if solver.get("max_iter") is not None else None
        note = note or "no run record (a run from before records)"
    if stats.get("diverged_iteration") is not None and state not in ("diverged", "running"):
        note = note or f"a loss became non-finite at iteration {stats['diverged_iteration']}"
    step = reference.first_step(run.solver) if run is not None else None
    before, after = reference.phase_means(run, step) if step is not None else (None, None)
    return RunRow(name, state, experiment, iterations, max_iter, stats.get("best_accuracy"),
                  stats.get("best_iteration"), stats.get("final_accuracy"), stats.get("final_iteration"),
                  _paper(experiment), stats.get("wall_hours"), build, seed, stats.get("diverged_iteration"),
                  record.live_holder(d), note, step, before, after)


def list_runs(logs_dir: str | os.PathLike) -> list[RunRow]:
    root = Path(logs_dir)
    return [run_row(d, root) for d in find_runs(root)]


def _pct(v: float | None, it: int | None = None) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.2f}" + (f" @{it}" if it is not None else "")


def _phases(r: RunRow) -> str:
    if r.first_step is None:
        return "–"
    return f"{_pct(r.before_step)} / {_pct(r.after_step)} @{r.first_step}"


def format_table(rows: list[RunRow]) -> str:
    """A plain-text table, one run a line."""
    head = ["run", "state", "experiment", "iterations", "best %", "final %", "mean % before/after step", "paper %",
            "wall h", "build"]
    lines = [head]
    for r in rows:
        its = f"{r.iterations if r.iterations is not None else '–'}/{r.max_iter if r.max_iter else '?'}"
        state = r.state + (f"@{r.diverged_iteration}" if r.state == "diverged" and r.diverged_iteration else "")
        lines.append([r.run, state, r.experiment or "–", its, _pct(r.best_accuracy, r.best_iteration),
                      _pct(r.final_accuracy, r.final_iteration) if r.state != "diverged" else "–",
                      _phases(r),
                      f"{r.paper:.2f}" if r.paper is not None else "–",
                      f"{r.wall_hours:.2f}" if r.wall_hours is not None else "–",
                      (r.build or "–").replace("caffe-", "")])
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines]
    out += [f"  {r.run}: {r.note}" for r in rows if r.note]
    out += [f"  {r.run}: being trained by {r.holder}" for r in rows if r.holder]
    return "\n".join(out) + "\n"
