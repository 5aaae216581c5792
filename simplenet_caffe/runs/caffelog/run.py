"""Whole runs: segments stitched into train/test tables, the queries on them, and parse().

Several files (or several ``Initializing solver`` sessions appended in one file) make
*segments*. A session that resumed (Caffe printed ``Resuming from`` / ``Restoring previous
solver status``) continues the run before it and is stitched in the order given: it replaces
the rows of earlier segments from its first iteration on, and its clock continues from the
time the earlier segment had reached that iteration, so ``seconds`` is training time without
the downtime. A session that did *not* resume (a fresh start, a fine-tune) or that trains
another net is an independent run: it is never merged. :func:`parse_runs` returns each
independent run; :func:`parse` returns the last one and says so in :attr:`CaffeLog.notes`.

Units: ``seconds`` are wall-clock seconds since the run's ``Solving`` line (stitched);
``iteration`` is Caffe's iteration counter; values are as printed (accuracy in 0-1).
"""
from __future__ import annotations

import bisect
import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ...atomic import output_lock, write_atomic
from .reader import Segment, read_segments
from .runfiles import expand_log_paths, run_name_for
from .tables import Table, json_value


class CaffeLog:
    """A parsed run: stitched train/test tables, segments, per-line warnings and notes about
    the whole input (a guessed year, independent runs found)."""

    def __init__(self, name: str, paths: list[str], segments: list[Segment], warnings: list[str],
                 notes: Sequence[str] = ()):
        """Stitch `segments` (from :func:`read_segments`; their rows become this run's rows)."""
        self.name = name
        self.paths = paths
        self.segments = segments
        self.warnings = warnings
        self.notes = list(notes)
        self._stitch()

    # -- stitching --------------------------------------------------------------------------
    def _stitch(self) -> None:
        train_segs = [s for s in self.segments if s.train or s.test]
        kept_train: dict[int, dict] = {}
        kept_test: dict[tuple[int, int], dict] = {}
        # (iteration, stitched seconds) of every row start and snapshot seen so far: a resumed
        # segment's clock starts where the earlier one had reached its first iteration.
        history: list[tuple[int, float]] = []
        for k, seg in enumerate(train_segs):
            first = seg.start_iteration
            origin = seg.origin
            anchor = 0.0
            if k > 0 and first is not None:
                cands = [(it, s) for it, s in history if it <= first]
                if cands:
                    top = max(it for it, _ in cands)
                    anchor = min(s for it, s in cands if it == top)
                # a later segment redoes every iteration after the one it starts from; a row logged
                # at that very iteration is kept unless the later segment logs it again
                kept_train = {i: r for i, r in kept_train.items() if i < first or (i == first and i not in seg.train)}
                kept_test = {key: r for key, r in kept_test.items()
                             if key[0] < first or (key[0] == first and key not in seg.test)}

            def stitched(t):
                return round(anchor + (t - origin), 6) if (t is not None and origin is not None) else None

            seg_no = self.segments.index(seg)
            for src, dst in ((seg.train, kept_train), (seg.test, kept_test)):
                for key, row in src.items():
                    # rows are stitched in place (not copied: a 200 MB log has ~500k rows);
                    # from here on the segment's rows are the run's rows
                    start = row.pop("_started", None)
                    row["seconds"] = stitched(row.get("seconds"))
                    row["segment"] = seg_no
                    dst[key] = row
                    t0 = stitched(start) if start is not None else row["seconds"]
                    if t0 is not None:
                        history.append((row["iteration"], t0))
            for it, _, t in seg.snapshots:
                if it is not None and stitched(t) is not None:
                    history.append((it, stitched(t)))
        train_rows = [kept_train[i] for i in sorted(kept_train)]
        test_rows = [kept_test[k] for k in sorted(kept_test)]
        # lr in effect at each test iteration: the newest lr printed at or before it
        lr_its = [r["iteration"] for r in train_rows if r.get("lr") is not None]
        lr_vals = [r["lr"] for r in train_rows if r.get("lr") is not None]
        if lr_its:
            for r in test_rows:
                j = bisect.bisect_right(lr_its, r["iteration"]) - 1
                r["lr"] = lr_vals[j] if j >= 0 else None
        tr_cols = ["iteration", "seconds", "segment", "lr", "smoothed_loss"]
        te_cols = ["iteration", "seconds", "segment", "test_net", "lr"]
        for seg in self.segments:
            _add_columns(tr_cols, seg.train.values())
            _add_columns(te_cols, seg.test.values())
        self.train = Table(tr_cols, train_rows)
        self.test = Table(te_cols, test_rows)
        b_cols = ["batch", "segment"]
        b_rows = []
        self.test_result: dict = {}
        for i, seg in enumerate(self.segments):
            for r in seg.batches:
                b_rows.append(dict(r, segment=i))
            _add_columns(b_cols, seg.batches)
            if seg.test_result:
                self.test_result = dict(seg.test_result)
        self.test_batches = Table(b_cols, b_rows)

    # -- queries ----------------------------------------------------------------------------
    @property
    def solver(self) -> dict:
        for s in self.segments:
            if s.solver:
                return s.solver
        return {}

    @property
    def train_batch_size(self) -> int | None:
        """Batch size of the first data layer (the train net's), times ``iter_size``."""
        for s in self.segments:
            if s.data_sizes:
                return s.data_sizes[0][0] * int(s.solver.get("iter_size", 1) or 1)
        return None

    @property
    def device(self) -> str | None:
        for s in self.segments:
            if s.device:
                return s.device
        return None

    @property
    def last_iteration(self) -> int | None:
        its = [r["iteration"] for r in self.train.rows] + [r["iteration"] for r in self.test.rows]
        return max(its) if its else None

    @property
    def wall_seconds(self) -> float | None:
        """Stitched training wall time: seconds of the last row (downtime between segments excluded)."""
        s = [r["seconds"] for r in self.train.rows + self.test.rows if r.get("seconds") is not None]
        return max(s) if s else None

    @property
    def diverged_iteration(self) -> int | None:
        """The first iteration at which a train or test loss (any column whose name contains
        "loss") is NaN or infinite; None when every logged loss is finite."""
        bad = [r["iteration"] for r in self.train.rows + self.test.rows if _non_finite_loss(r)]
        return min(bad) if bad else None

    def _valid_test_rows(self, net: int):
        """Test rows of net `net` that can be vouched for: none from the divergence on (Caffe's
        Accuracy layer counts NaN scores as correct, so such rows show a false 100 %)."""
        stop = self.diverged_iteration
        return [r for r in self.test.rows if r.get("test_net") == net and (stop is None or r["iteration"] < stop)]

    def best_test(self, metric: str = "accuracy", net: int = 0, mode: str | None = None) -> dict | None:
        """The test row with the best `metric` (first occurrence), before any divergence. mode
        "max"/"min"; default max unless the metric name contains "loss" or "error"."""
        if mode is None:
            mode = "min" if ("loss" in metric or "error" in metric) else "max"
        best = None
        for r in self._valid_test_rows(net):
            v = r.get(metric)
            if v is None or not math.isfinite(v):
                continue
            if best is None or (v > best[metric] if mode == "max" else v < best[metric]):
                best = r
        return best

    def final_test(self, metric: str = "accuracy", net: int = 0) -> dict | None:
        """The last test row with `metric`, before any divergence (see :meth:`_valid_test_rows`)."""
        rows = [r for r in self._valid_test_rows(net) if r.get(metric) is not None]
        return rows[-1] if rows else None

    def seconds_per_100_iters(self) -> float | None:
        """Median wall time per 100 iterations between consecutive display lines of one segment,
        leaving out intervals that contain a test pass (the paper-table convention).
        Linear in the rows (a sorted list of test iterations, one bisect per interval)."""
        test_its = sorted({r["iteration"] for r in self.test.rows})
        rates = []
        rows = [r for r in self.train.rows if r.get("smoothed_loss") is not None and r.get("seconds") is not None]
        for a, b in zip(rows, rows[1:]):
            ia, ib = a["iteration"], b["iteration"]
            if a["segment"] != b["segment"] or ib <= ia:
                continue
            j = bisect.bisect_right(test_its, ia)           # first test iteration > ia
            if j < len(test_its) and test_its[j] <= ib:
                continue
            rates.append((b["seconds"] - a["seconds"]) * 100.0 / (ib - ia))
        return float(np.median(rates)) if rates else None

    # -- output -----------------------------------------------------------------------------
    def to_json_obj(self) -> dict:
        summary = {"name": self.name, "files": len(self.paths), "segments": len(self.segments),
                   "train_rows": len(self.train), "test_rows": len(self.test), **run_stats(self),
                   "warnings": len(self.warnings)}
        return {
            "name": self.name, "paths": self.paths, "summary": summary,
            "segments": _json_safe([s.meta() for s in self.segments]), "warnings": self.warnings,
            "notes": self.notes, "train": self.train.to_json_obj(), "test": self.test.to_json_obj(),
            "test_batches": self.test_batches.to_json_obj(), "test_result": _json_safe(self.test_result),
        }

    def write(self, out_dir: str | os.PathLike, csv: bool = True, json_: bool = True,
              delimiter: str = ",") -> list[Path]:
        """Write ``<out>/<name>.train.csv``, ``.test.csv`` (+ ``.batches.csv`` for caffe test) and ``.json``,
        each atomically, all under one lock (``<out>/.<name>.lock``): a second writer of the same
        run name is refused at once, so the files always come from one parse."""
        out = Path(out_dir)
        written = []
        with output_lock(out / self.name):
            self._write(out, written, csv, json_, delimiter)
        return written

    def _write(self, out: Path, written: list, csv: bool, json_: bool, delimiter: str) -> None:
        if csv:
            written.append(self.train.to_csv(out / f"{self.name}.train.csv", delimiter))
            written.append(self.test.to_csv(out / f"{self.name}.test.csv", delimiter))
            if len(self.test_batches):
                written.append(self.test_batches.to_csv(out / f"{self.name}.batches.csv", delimiter))
        if json_:
            written.append(write_atomic(out / f"{self.name}.json",
                                        json.dumps(self.to_json_obj(), indent=1, allow_nan=False) + "\n"))


def _json_safe(obj):
    """`obj` with every non-finite float made strict-JSON (see :func:`.tables.json_value`)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return json_value(obj)


def _non_finite_loss(row: dict) -> bool:
    return any("loss" in k and isinstance(v, float) and not math.isfinite(v) for k, v in row.items())


def _add_columns(cols: list[str], rows) -> None:
    seen = set(cols)
    for r in rows:
        for c in r:
            if c not in seen and not c.startswith("_"):
                cols.append(c)
                seen.add(c)


def run_stats(run: CaffeLog, metric: str = "accuracy", test_net: int = 0) -> dict:
    """The numbers of one run for tables and summaries (None where the log has no such value):
    best/final `metric` of test net `test_net` and their iterations, iterations run, wall
    hours (stitched), median seconds per 100 iterations, device."""
    best = run.best_test(metric, net=test_net, mode="max")
    final = run.final_test(metric, net=test_net)
    wall = run.wall_seconds
    return {
        "run": run.name,
        "best_accuracy": best[metric] if best else None,
        "best_iteration": best["iteration"] if best else None,
        "final_accuracy": final[metric] if final else None,
        "final_iteration": final["iteration"] if final else None,
        "iterations": run.last_iteration,
        "wall_hours": wall / 3600.0 if wall is not None else None,
        "seconds_per_100_iters": run.seconds_per_100_iters(),
        "device": run.device,
        "diverged_iteration": run.diverged_iteration,
    }


# ---------------------------------------------------------------------------------------------
# Independent runs


def _where(seg: Segment) -> str:
    return f"{seg.path}:{seg.start_line}"


def _starts_new_run(prev: Segment, seg: Segment) -> str | None:
    """Why session `seg` is a run of its own rather than a continuation of `prev` (None: it
    continues). Only sessions that begin with ``Initializing solver`` and train are judged."""
    if not seg.solver_init or not (seg.train or seg.test):
        return None
    if prev.net_name and seg.net_name and prev.net_name != seg.net_name:
        return f"it trains net {seg.net_name!r}, the session before trained {prev.net_name!r}"
    if seg.resumed_from is None:
        how = f"fine-tunes {seg.weights}" if seg.weights else "starts afresh"
        return f"it {how} at iteration {seg.first_iteration} instead of resuming"
    return None


def split_runs(segments: list[Segment]) -> tuple[list[list[Segment]], list[str], list[str]]:
    """Group segments into independent runs (see the module doc); returns (groups, notes,
    warnings): a warning for each resumed session that starts after the iteration the session
    before it reached (iterations whose log is missing)."""
    groups: list[list[Segment]] = [[]]
    notes: list[str] = []
    gaps: list[str] = []
    prev: Segment | None = None              # the last segment with rows in the current group
    for seg in segments:
        why = _starts_new_run(prev, seg) if prev is not None else None
        if why:
            notes.append(f"{_where(seg)}: a new, independent run begins here ({why}); it is not merged "
                         f"with the run before")
            groups.append([])
        elif prev is not None and seg.solver_init and seg.start_iteration is not None:
            reached = max([prev.last_iteration or 0] + [i for i, _, _ in prev.snapshots if i is not None])
            if seg.start_iteration > reached:
                gaps.append(f"{_where(seg)}: the resumed session starts at iteration {seg.start_iteration}, "
                            f"after the session before ended at {reached}: iterations are missing")
        groups[-1].append(seg)
        if seg.train or seg.test:
            prev = seg
    return groups, notes, gaps


def _read_all(paths, year):
    if len(paths) == 1 and isinstance(paths[0], (list, tuple)):
        paths = tuple(paths[0])
    if not paths:
        raise ValueError("parse() needs at least one log file")
    files = expand_log_paths(paths)
    if not files:
        raise FileNotFoundError(f"no log files in {', '.join(map(str, paths))}")
    segments: list[Segment] = []
    warnings: list[str] = []
    notes: list[str] = []
    for f in files:
        r = read_segments(f, year=year)
        segments += r.segments
        warnings += r.warnings
        notes += r.notes
    return run_name_for(paths), [str(f) for f in files], segments, warnings, notes


def parse_runs(*paths: str | os.PathLike, name: str | None = None, year: int | None = None) -> list[CaffeLog]:
    """Every independent run in the given files (or run folders), in order.

    One run: named `name` (default :func:`run_name_for`); several: ``<name>-run1``,
    ``<name>-run2``, ... Each run's ``notes`` say where the runs were split.
    """
    default, files, segments, warnings, notes = _read_all(paths, year)
    groups, split_notes, gaps = split_runs(segments)
    warnings = warnings + gaps
    base = name or default
    if len(groups) == 1:
        return [CaffeLog(base, files, segments, warnings, notes + split_notes)]
    runs = []
    for k, g in enumerate(groups, 1):
        mine = [f for f in files if any(s.path == f for s in g)]
        runs.append(CaffeLog(f"{base}-run{k}", mine, g, [w for w in warnings if w.startswith(tuple(f + ":" for f in mine))],
                             notes + split_notes))
    return runs


def parse(*paths: str | os.PathLike, name: str | None = None, year: int | None = None) -> CaffeLog:
    """Parse one run from one or more log files (or directories of them), stitched in order.

    ``parse("logs/run1")``, ``parse("caffe.log", "caffe_resumed1.log")`` or a list as the single
    argument. ``year`` is the year of the first ``Immdd`` timestamp when the log has none.
    When the files hold several independent runs (see :func:`split_runs`) this is the last
    one, named `name`, and its ``notes`` say so; :func:`parse_runs` gives all of them.
    """
    runs = parse_runs(*paths, name=name, year=year)
    if len(runs) == 1:
        return runs[0]
    last = runs[-1]
    last.name = last.name.rsplit("-run", 1)[0]
    last.notes.append(f"the input holds {len(runs)} independent runs; this is the last one (from "
                      f"{_where(last.segments[0])}); tools/parse_log.py writes each of them")
    return last


def parse_run_spec(spec: str, year: int | None = None) -> tuple[str | None, CaffeLog]:
    """Command-line run spec ``[LABEL=]PATH[,PATH...]`` -> (label or None, parsed run).

    PATHs separated by commas are files of one run (stitched in that order); a PATH may be a
    run folder. Used by tools/plot_log.py and tools/results_table.py.
    """
    label = None
    if "=" in spec and not Path(spec).exists():
        label, spec = spec.split("=", 1)
        label = label.strip() or None
    parts = [p for p in spec.split(",") if p] if not Path(spec).exists() else [spec]
    if not parts:
        raise FileNotFoundError(f"no log given in {spec!r}")
    for p in parts:
        if not Path(p).exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
    return label, parse(*parts, year=year)


def parse_run_specs(specs: Sequence[str], year: int | None = None, need_test: bool = False,
                    skipped: list[str] | None = None) -> tuple[list[CaffeLog], list[str | None]]:
    """Parse several ``[LABEL=]PATH[,PATH...]`` specs (see :func:`parse_run_spec`).

    Raises OSError/ValueError with a one-line message when a path is missing or a log holds no
    training output (no test output, with `need_test`). With a `skipped` list, a run that cannot
    be used (no log files, no training or test output) is left out and ``"<spec>: why"`` appended
    to it instead, so one failed run among many (``logs/*``) does not stop the rest; a missing
    path is still an error.
    """
    runs, labels = [], []
    for spec in specs:
        try:
            label, run = parse_run_spec(spec, year=year)
            if need_test and not len(run.test):
                raise ValueError(f"{spec}: no test output in the log, so there is no accuracy to tabulate")
            if not len(run.train) and not len(run.test):
                raise ValueError(f"{spec}: no training output found in the log")
        except FileNotFoundError as e:
            if skipped is None or not Path(spec.split("=", 1)[-1].split(",")[0]).exists() and not Path(spec).exists():
                raise
            skipped.append(f"{spec}: {e}")
            continue
        except ValueError as e:
            if skipped is None:
                raise
            skipped.append(str(e) if str(e).startswith(spec) else f"{spec}: {e}")
            continue
        runs.append(run)
        labels.append(label)
    return runs, labels
