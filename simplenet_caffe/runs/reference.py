"""A reference run against the authors' log: phase-by-phase numbers, the figure, results.md.

The phases of a multistep schedule are split at the solver's first ``stepvalue``: *before the
step* (lr = base_lr, tests swing) and *after it*. For each phase and for a window of iterations
(``window``, e.g. 33,000-40,000 for the MNIST S300-A run, whose first step is at 32,000) the
numbers are computed over the test iterations that both runs logged, so the means compare like
with like. Accuracies are fractions (0-1) in the data and percent in the Markdown.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import write_atomic
from ..errors import UserError
from . import record
from .caffelog import CaffeLog, run_stats


@dataclass
class Phase:
    name: str
    lo: int                      # first iteration included
    hi: int                      # last iteration included
    iterations: list[int]        # test iterations both runs logged in [lo, hi]
    ours: np.ndarray             # test accuracy at those iterations
    theirs: np.ndarray

    def row(self) -> list[str]:
        if not self.iterations:
            return [self.name, f"{self.lo:,}–{self.hi:,}", "0", "–", "–", "–", "–", "–"]
        d = self.ours.mean() - self.theirs.mean()
        return [self.name, f"{self.lo:,}–{self.hi:,}", str(len(self.iterations)), _pct(self.ours.mean()),
                _pct(self.theirs.mean()), f"{100 * d:+.2f}", f"{_pct(self.ours.min())}–{_pct(self.ours.max())}",
                f"{_pct(self.theirs.min())}–{_pct(self.theirs.max())}"]


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}"


def first_step(solver: dict) -> int | None:
    """The first iteration at which the solver lowers the learning rate (multistep's first
    ``stepvalue``, step's ``stepsize``), or None for a schedule without steps."""
    policy = solver.get("lr_policy")
    if policy == "multistep" and solver.get("stepvalue") is not None:
        steps = solver["stepvalue"]
        return int(steps[0] if isinstance(steps, list) else steps)
    if policy == "step" and solver.get("stepsize") is not None:
        return int(solver["stepsize"])
    return None


def phase_means(run: CaffeLog, step: int) -> tuple[float | None, float | None]:
    """Mean test accuracy (0-1) before the first lr step (iteration 0 left out) and from it on."""
    acc = _acc_by_iter(run)
    before = [v for i, v in acc.items() if 0 < i < step]
    after = [v for i, v in acc.items() if i >= step]
    return (float(np.mean(before)) if before else None, float(np.mean(after)) if after else None)


def _acc_by_iter(run: CaffeLog, metric: str = "accuracy") -> dict[int, float]:
    stop = run.diverged_iteration
    return {r["iteration"]: r[metric] for r in run.test.rows
            if r.get("test_net", 0) == 0 and r.get(metric) is not None and (stop is None or r["iteration"] < stop)}


def phases(ours: CaffeLog, theirs: CaffeLog, first_step: int, window: tuple[int, int]) -> list[Phase]:
    """Before the first step (the untrained net's test at iteration 0 left out), after it (up to
    our last test), and the window; shared test iterations only."""
    a, b = _acc_by_iter(ours), _acc_by_iter(theirs)
    if not a:
        raise UserError(f"{ours.name}: no test accuracy in the log")
    end = max(max(a), first_step)
    out = []
    for name, lo, hi in (("before the first lr step", 1, first_step - 1), ("after the first lr step", first_step, end),
                         (f"window {window[0]:,}–{window[1]:,}", window[0], window[1])):
        its = sorted(i for i in a if lo <= i <= hi and i in b)
        out.append(Phase(name, lo, hi, its, np.array([a[i] for i in its]), np.array([b[i] for i in its])))
    return out


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def reaches(accuracy: float | None, goal: float) -> bool:
    """Whether `accuracy` (a fraction, 0-1) reaches `goal` (in %), with 0.001 points of slack: Caffe
    logs a test accuracy as the float mean of its batches' accuracies, so 9,965 of 10,000 right
    can print as 0.996499."""
    return accuracy is not None and 100 * accuracy >= goal - 1e-3


def window_mean(run: CaffeLog, window: tuple[int, int]) -> float | None:
    """Mean test accuracy (a fraction) over the tests at iterations in `window` (both ends in)."""
    vals = [v for i, v in _acc_by_iter(run).items() if window[0] <= i <= window[1]]
    return float(np.mean(vals)) if vals else None


def results_markdown(ours: CaffeLog, theirs: CaffeLog, log_dir: str | os.PathLike, *, paper: float | None,
                     first_step: int, window: tuple[int, int], best_goal: float, mean_tolerance: float,
                     figures: Sequence[str] = (), command: str = "", early: Sequence[CaffeLog] = (),
                     early_until: int = 3000, seeds: Sequence[tuple[CaffeLog, str | os.PathLike]] = ()) -> str:
    """results.md of a reference run (see the module docstring). `paper`, `best_goal` in %,
    `mean_tolerance` in percentage points. `seeds`: other runs of the same full schedule as
    (log, run folder), tabulated beside this one (:func:`seeds_markdown`)."""
    rec = record.read(log_dir)
    so, st = run_stats(ours), run_stats(theirs)
    lines = [f"# Reference run `{ours.name}`", ""]
    if rec is not None:
        commits = sorted({s.commit for s in rec.segments if s.commit})
        builds = sorted({s.build for s in rec.segments if s.build})
        lines += [f"- experiment `{rec.experiment}`, solver `{rec.source_solver}` run as the run's own "
                  f"`{rec.solver}` (sha256 `{rec.solver_sha256[:16]}…`)",
                  "- overrides: " + (", ".join(f"`{k}: {v}`" for k, v in rec.overrides.items()) or "none"),
                  f"- solver seed (`random_seed`): {rec.seed if rec.seed is not None else 'none (clock)'}",
                  "- commit(s): " + ", ".join(f"`{c}`" for c in commits),
                  "- Caffe build(s): " + ", ".join(f"`{b}`" for b in builds),
                  f"- state: {record.effective_state(rec, log_dir)}, {len(rec.segments)} segment(s), "
                  f"iterations {rec.iterations_done:,} of {rec.max_iter:,}"]
    wall = ours.wall_seconds
    lines += [f"- wall time (stitched, downtime left out): {wall / 3600:.2f} h" if wall else "- wall time: –",
              f"- device: {ours.device or '–'}; the authors': {theirs.device or '–'}", ""]
    mo, mt = window_mean(ours, window), window_mean(theirs, window)
    best_ok = reaches(so["best_accuracy"], best_goal)
    mean_ok = mo is not None and mt is not None and abs(100 * (mo - mt)) <= mean_tolerance
    lines += ["## Result", "",
              _table(["", "this run", "the authors' log"], [
                  ["best test accuracy (%)", f"{_pct(so['best_accuracy'])} @ {so['best_iteration']:,}" if so["best_iteration"] is not None else "–",
                   f"{_pct(st['best_accuracy'])} @ {st['best_iteration']:,}" if st["best_iteration"] is not None else "–"],
                  ["final test accuracy (%)", f"{_pct(so['final_accuracy'])} @ {so['final_iteration']:,}" if so["final_iteration"] is not None else "–",
                   f"{_pct(st['final_accuracy'])} @ {st['final_iteration']:,}" if st["final_iteration"] is not None else "–"],
                  [f"mean test accuracy {window[0]:,}–{window[1]:,} (%)", _pct(mo), _pct(mt)],
                  *([[f"at this run's last test, iteration {so['final_iteration']:,} (%)",
                      _pct(so["final_accuracy"]), _pct(_acc_by_iter(theirs).get(so["final_iteration"]))]]
                    if so["final_iteration"] is not None else []),
                  ["s / 100 iterations", f"{so['seconds_per_100_iters']:.1f}" if so["seconds_per_100_iters"] else "–",
                   f"{st['seconds_per_100_iters']:.1f}" if st["seconds_per_100_iters"] else "–"]]),
              f"The paper reports {paper:g} %." if paper is not None else "", "",
              f"- best test accuracy ≥ {best_goal:g} %: **{'met' if best_ok else 'not met'}**",
              f"- mean over {window[0]:,}–{window[1]:,} within {mean_tolerance:g} points of the authors': "
              f"**{'met' if mean_ok else 'not met'}**" + (f" ({100 * (mo - mt):+.2f})" if mo is not None and mt is not None else ""),
              "", "## Phase by phase", "",
              f"Over the test iterations both logs have (the first lr step is at {first_step:,}):", "",
              _table(["phase", "iterations", "tests", "this run (mean %)", "authors (mean %)", "difference",
                      "this run (range %)", "authors (range %)"],
                     [p.row() for p in phases(ours, theirs, first_step, window)])]
    if seeds:
        lines += ["## Seed to seed", "",
                  "The same schedule with other solver seeds, each run's own numbers over its own tests (iteration 0 "
                  "left out before the step); the authors' log over the same iterations, its final test at its "
                  "own end:", "",
                  seeds_markdown([(ours, log_dir), *seeds], theirs, first_step=first_step, window=window,
                                 best_goal=best_goal)]
    if early:
        lines += [f"## The early curve of other seeds (to iteration {early_until:,})", "",
                  "The same schedule from iteration 0 with other solver seeds (test accuracy, %), beside this run "
                  "and the authors': how much a single test swings at lr 0.01.", "",
                  early_markdown([ours, *early], theirs, early_until)]
    if figures:
        lines += ["## Figures", ""] + [f"![{Path(f).stem}]({Path(f).name})" for f in figures] + [""]
    if command:
        lines += ["## How this file was made", "", "```bash", command, "```", ""]
    return "\n".join(lines)


def seeds_markdown(runs: Sequence[tuple[CaffeLog, str | os.PathLike]], theirs: CaffeLog, *, first_step: int,
                   window: tuple[int, int], best_goal: float) -> str:
    """One row per run (log, run folder) and one for the authors' log: solver seed (from the run
    record), best and final test accuracy with their iterations, the mean over `window`, the means
    before and after `first_step` (after: up to the runs' last test, for the authors' log too), and
    whether the best reaches `best_goal` (%). Then the mean and range of the runs' numbers, where
    every run has the number."""

    until = max((max(a) for a in (_acc_by_iter(r) for r, _ in runs) if a), default=first_step)

    def cells(run: CaffeLog) -> tuple[list[str], list[float | None]]:
        st = run_stats(run)
        vals = [st["best_accuracy"], st["final_accuracy"], window_mean(run, window), phase_means(run, first_step)[0],
                window_mean(run, (first_step, until))]
        at = lambda key: f" @ {st[key]:,}" if st[key] is not None else ""
        return ([f"{_pct(vals[0])}{at('best_iteration')}", f"{_pct(vals[1])}{at('final_iteration')}",
                 *(_pct(v) for v in vals[2:])], vals)

    rows, table = [], []
    for run, folder in runs:
        rec = record.read(folder)
        seed = "–" if rec is None or rec.seed is None else str(rec.seed)
        text, vals = cells(run)
        rows.append([f"`{run.name}`", seed, *text, "yes" if reaches(vals[0], best_goal) else "no"])
        table.append(vals)
    if len(runs) > 1:
        for label, fn in (("mean of the runs", np.mean), ("range of the runs (points)", np.ptp)):
            col = [[v[k] for v in table] for k in range(5)]
            rows.append([label, "", *("–" if None in c else f"{100 * fn(c):.2f}" for c in col), ""])
    text, vals = cells(theirs)
    rows.append(["the authors' log", "none", *text, "yes" if reaches(vals[0], best_goal) else "no"])
    return _table(["run", "seed", "best (%)", "final (%)", f"mean {window[0]:,}–{window[1]:,} (%)",
                   "mean before the step (%)", f"mean {first_step:,}–{until:,} (%)", f"best ≥ {best_goal:g} %"], rows)


def early_markdown(runs: Sequence[CaffeLog], theirs: CaffeLog, until: int) -> str:
    """The test accuracy (%) of each run at every test iteration in (0, until] that all of them
    and the authors' log have, one row per iteration, with each run's spread against the authors'."""
    accs = [_acc_by_iter(r) for r in runs]
    ref = _acc_by_iter(theirs)
    its = sorted(i for i in ref if 0 < i <= until and all(i in a for a in accs))
    if not its:
        raise UserError(f"no test iteration in (0, {until:,}] that every run and the authors' log have")
    rows = [[f"{i:,}", _pct(ref[i])] + [_pct(a[i]) for a in accs]
            + [f"{100 * (max(a[i] for a in accs) - min(a[i] for a in accs)):.2f}"] for i in its]
    head = ["iteration", "authors"] + [r.name for r in runs] + ["spread of the runs (points)"]
    return _table(head, rows)


def write_results(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, text)
