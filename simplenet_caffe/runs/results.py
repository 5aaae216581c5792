"""The paper-style results table from parsed runs (:mod:`simplenet_caffe.runs.caffelog`).

One row per experiment: best and final test accuracy, the iteration of the best (first time it
is reached), iterations run, wall time, seconds per 100 iterations (median over display
intervals without a test pass) and, given the net's prototxt, its learnable parameters
(:func:`simplenet_caffe.nets.counting.count_prototxt`). Runs that share a label are seeds of one
experiment: numeric columns become mean ± sample std (ddof=1) and ``n`` counts the seeds.

Accuracy is stored 0-1 (as Caffe prints it) in CSV and shown in percent in Markdown.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..atomic import output_lock, write_atomic
from ..nets import counting
from .caffelog import CaffeLog, run_stats

# (key, Markdown header, kind) -- kind: "acc" (0-1, shown in %), "int", "hours", "float", "str"
COLUMNS = [
    ("best_accuracy", "best acc. (%)", "acc"),
    ("best_iteration", "best @ iter", "int"),
    ("final_accuracy", "final acc. (%)", "acc"),
    ("final_iteration", "final @ iter", "int"),
    ("iterations", "iterations run", "int"),
    ("wall_hours", "wall time (h)", "hours"),
    ("seconds_per_100_iters", "s / 100 it", "float"),
    ("params", "params", "int"),
    ("diverged_iteration", "diverged @ iter", "int"),
]
#: columns shown only when some row has a value
_OPTIONAL = {"diverged_iteration"}


def count_params(prototxt: str | os.PathLike) -> int:
    """Learnable parameters of a net prototxt (conv/IP weights and biases, Scale gamma/beta)."""
    return int(counting.count_prototxt(str(prototxt)).learnable)


@dataclass
class ResultsTable:
    rows: list[dict] = field(default_factory=list)   # one per experiment; see COLUMNS (+ _std, n, runs)

    def columns(self) -> list[tuple[str, str, str]]:
        return [c for c in COLUMNS if c[0] not in _OPTIONAL or any(r.get(c[0]) is not None for r in self.rows)]

    def to_markdown(self) -> str:
        cols = self.columns()
        head = ["experiment", "n"] + [h for _, h, _ in cols]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        for r in self.rows:
            cells = [r["experiment"], str(r["n"])] + [_md_cell(r, k, kind) for k, _, kind in cols]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def csv_columns(self) -> list[str]:
        cols = ["experiment", "n"]
        for k, _, _ in self.columns():
            cols += [k, f"{k}_std"]
        return cols + ["device", "runs"]

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = self.csv_columns()
        w.writerow(cols)
        for r in self.rows:
            w.writerow([_csv_cell(r.get(c)) for c in cols])
        return buf.getvalue()

    def write(self, out_dir: str | os.PathLike, name: str = "results") -> list[Path]:
        """Write ``<out>/<name>.md`` and ``<out>/<name>.csv`` (atomically)."""
        out = Path(out_dir)
        written = []
        with output_lock(out / name):          # .md and .csv from one writer
            for suffix, text in ((".md", self.to_markdown()), (".csv", self.to_csv())):
                written.append(write_atomic(out / f"{name}{suffix}", text))
        return written


def _csv_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(round(v, 10))
    if isinstance(v, (list, tuple)):
        return ";".join(map(str, v))
    return str(v)


def _md_cell(r: dict, key: str, kind: str) -> str:
    v, sd = r.get(key), r.get(f"{key}_std")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    scale, fmt = {"acc": (100.0, "{:.2f}"), "hours": (1.0, "{:.1f}"), "float": (1.0, "{:.2f}"),
                  "int": (1.0, "{:,.0f}")}.get(kind, (1.0, "{}"))
    s = fmt.format(v * scale)
    if sd is not None and not (isinstance(sd, float) and math.isnan(sd)):
        s += " ± " + fmt.format(sd * scale)
    return s


def _mean_std(vals: list) -> tuple[float | None, float | None]:
    xs = [float(v) for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return None, None
    if len(xs) == 1:
        return xs[0], None
    return float(np.mean(xs)), float(np.std(xs, ddof=1))


def results_table(runs: Sequence[CaffeLog], labels: Sequence[str | None] | None = None,
                  nets: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
                  metric: str = "accuracy", test_net: int = 0) -> ResultsTable:
    """Build the table. `labels[i]` names run i's experiment (default: the run name); runs with
    the same label are averaged. `nets`: one prototxt for all rows, or {label: prototxt}."""
    runs = list(runs)
    labels = list(labels) if labels is not None else [None] * len(runs)
    if len(labels) != len(runs):
        raise ValueError("one label per run")
    groups: dict[str, list[CaffeLog]] = {}
    for run, lab in zip(runs, labels):
        groups.setdefault(lab or run.name, []).append(run)
    table = ResultsTable()
    for label, members in groups.items():
        stats = [run_stats(r, metric, test_net) for r in members]
        row: dict = {"experiment": label, "n": len(members), "runs": [s["run"] for s in stats]}
        for key, _, kind in COLUMNS:
            if key == "params":
                continue
            if key == "diverged_iteration":     # which runs diverged, and where: never averaged
                its = [s[key] for s in stats if s[key] is not None]
                row[key], row[f"{key}_std"] = (min(its) if its else None), None
                continue
            mean, sd = _mean_std([s[key] for s in stats])
            row[key], row[f"{key}_std"] = mean, sd
            if kind == "int" and mean is not None and len(members) == 1:
                row[key] = int(mean)
        devices = sorted({s["device"] for s in stats if s["device"]})
        row["device"] = "; ".join(devices) if devices else None
        net = nets.get(label) if isinstance(nets, Mapping) else nets
        row["params"] = count_params(net) if net else None
        table.rows.append(row)
    return table
