"""Training curves from parsed Caffe logs (:mod:`simplenet_caffe.runs.caffelog`), as PNG and SVG.

One figure per metric, several runs overlaid with fixed colours (run i always gets colour i
of matplotlib's tab10), a legend, and the best test point of every run marked and annotated
with its value and iteration (the best point is never thinned away). Smoothing is an EMA
(TensorBoard's debiased form) drawn over the raw points, which stay visible.

Metric names: ``test_accuracy``, ``test_loss``, ``train_loss`` (Caffe's smoothed
``Iteration N, loss``), ``lr``, or any column as ``test:NAME`` / ``train:NAME``
(``train:loss`` is the raw train output). x axis: ``iteration``, ``seconds`` (wall time,
shown in hours when a run is longer than two hours) or ``epoch`` (needs the dataset size;
the batch size defaults to the one in the log).
SVG text is kept as text (``svg.fonttype = none``) so labels stay searchable.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..atomic import write_atomic
from .caffelog import CaffeLog
from ..paths import PLOTS_DIR

DEFAULT_METRICS = ("test_accuracy", "test_loss", "train_loss", "lr")
ALIASES = {
    "test_accuracy": ("test", "accuracy"),
    "test_loss": ("test", "loss"),
    "train_loss": ("train", "smoothed_loss"),
    "lr": ("train", "lr"),
}
TITLES = {"test_accuracy": "test accuracy", "test_loss": "test loss", "train_loss": "train loss (smoothed, as displayed)",
          "lr": "learning rate"}


def resolve_metric(metric: str) -> tuple[str, str]:
    """``test_accuracy`` -> ("test", "accuracy"); ``train:loss`` -> ("train", "loss")."""
    if metric in ALIASES:
        return ALIASES[metric]
    if ":" in metric:
        table, col = metric.split(":", 1)
        if table in ("train", "test") and col:
            return table, col
    raise ValueError(f"unknown metric {metric!r}: use {', '.join(ALIASES)} or test:NAME / train:NAME")


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing); NaNs are carried over."""
    out = np.empty_like(values, dtype=float)
    last, num = 0.0, 0
    for i, v in enumerate(values):
        if not math.isfinite(v):
            out[i] = v
            continue
        last = last * weight + (1 - weight) * v
        num += 1
        out[i] = last / (1 - weight ** num)
    return out


def _x_values(run: CaffeLog, rows: list[dict], x: str, batch_size: int | None, dataset_size: int | None) -> np.ndarray:
    if x == "iteration":
        return np.array([r["iteration"] for r in rows], dtype=float)
    if x == "seconds":
        return np.array([r["seconds"] if r.get("seconds") is not None else np.nan for r in rows], dtype=float)
    if x == "epoch":
        bs = batch_size or run.train_batch_size
        if not bs or not dataset_size:
            raise ValueError(f"x=epoch needs the dataset size and a batch size (run {run.name}: batch "
                             f"{bs or 'unknown'})")
        return np.array([r["iteration"] for r in rows], dtype=float) * bs / dataset_size
    raise ValueError(f"x must be iteration, seconds or epoch, not {x!r}")


def _colour(i: int) -> str:
    from matplotlib import colormaps
    return colormaps["tab10"](i % 10)


def _fmt_value(v: float) -> str:
    return f"{v:.6g}"


def plot_runs(runs: CaffeLog | Sequence[CaffeLog], out_dir: str | os.PathLike = PLOTS_DIR, *,
              metrics: Iterable[str] = DEFAULT_METRICS, x: str = "iteration", batch_size: int | None = None,
              dataset_size: int | None = None, logy: bool | Iterable[str] = False, smooth: float = 0.0,
              name: str | None = None, labels: Sequence[str] | None = None, formats: Sequence[str] = ("png", "svg"),
              size: tuple[float, float] = (8.0, 5.0), dpi: int = 100, mark_best: bool = True) -> list[Path]:
    """Draw one figure per metric for `runs`; returns the files written (``<out>/<name>.<metric>.<fmt>``).

    `logy`: True for every metric, or the metric names to draw on a log axis. `smooth`: EMA
    weight in [0, 1). A PNG is ``size`` inches x ``dpi`` pixels exactly (no tight bbox).
    """
    import matplotlib
    from matplotlib.figure import Figure

    if isinstance(runs, CaffeLog):
        runs = [runs]
    runs = list(runs)
    if not runs:
        raise ValueError("plot_runs needs at least one run")
    if not 0.0 <= smooth < 1.0:
        raise ValueError("smooth must be in [0, 1)")
    labels = list(labels) if labels else [r.name for r in runs]
    if len(labels) != len(runs):
        raise ValueError("one label per run")
    name = name or (runs[0].name if len(runs) == 1 else "+".join(r.name for r in runs[:4]) + ("+..." if len(runs) > 4 else ""))
    logy_set = set(metrics) if logy is True else set(logy or ())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hours = x == "seconds" and max((r.wall_seconds or 0) for r in runs) > 7200
    x_label = {"iteration": "iteration", "seconds": "wall time (h)" if hours else "wall time (s)",
               "epoch": "epoch"}[x] if x in ("iteration", "seconds", "epoch") else x
    written: list[Path] = []
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 10}):
        for metric in metrics:
            table_name, col = resolve_metric(metric)
            fig = Figure(figsize=size, dpi=dpi)
            ax = fig.add_subplot(1, 1, 1)
            drawn = 0
            for i, run in enumerate(runs):
                table = run.test if table_name == "test" else run.train
                nets = sorted({r.get("test_net", 0) for r in table.rows}) if table_name == "test" else [None]
                for net in nets:
                    rows = [r for r in table.rows if r.get(col) is not None
                            and (net is None or r.get("test_net") == net)]
                    if not rows:
                        continue
                    xs = _x_values(run, rows, x, batch_size, dataset_size)
                    if hours:
                        xs = xs / 3600.0
                    ys = np.array([r[col] for r in rows], dtype=float)
                    colour = _colour(i)
                    style = "-" if not net else "--"
                    label = labels[i] + (f" (test net #{net})" if net else "")
                    kw = {"drawstyle": "steps-post"} if col == "lr" else {}
                    if smooth > 0 and col != "lr":
                        ax.plot(xs, ys, style, color=colour, alpha=0.25, linewidth=0.8, **kw)
                        ax.plot(xs, ema(ys, smooth), style, color=colour, linewidth=1.5, label=label, **kw)
                    else:
                        ax.plot(xs, ys, style, color=colour, linewidth=1.2, label=label, **kw)
                    drawn += 1
                    if mark_best and table_name == "test":
                        best = run.best_test(col, net=net or 0)
                        if best is not None:
                            bx = _x_values(run, [best], x, batch_size, dataset_size)[0] / (3600.0 if hours else 1.0)
                            by = best[col]
                            ax.plot([bx], [by], marker="*", markersize=12, color=colour, markeredgecolor="black",
                                    linestyle="none", zorder=5)
                            text = f"best {_fmt_value(by)} @ {best['iteration']}"
                            below = "loss" not in col and "error" not in col
                            k = i + (net or 0)
                            ax.annotate(text, xy=(bx, by), xytext=(-12, -22 - 16 * k if below else 14 + 16 * k),
                                        textcoords="offset points", ha="right", color=colour, fontsize=9,
                                        gid=f"best-{i}-{net or 0}",
                                        arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.8})
            if not drawn:
                continue
            if metric in logy_set:
                ax.set_yscale("log")
            ax.set_xlabel(x_label)
            ax.set_ylabel(TITLES.get(metric, metric))
            title = TITLES.get(metric, metric)
            ax.set_title(f"{runs[0].name}: {title}" if len(runs) == 1 else title)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="best", fontsize=8)
            fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.11)
            safe = metric.replace(":", "-")
            for fmt in formats:
                written.append(write_atomic(out / f"{name}.{safe}.{fmt}",
                                            lambda f: fig.savefig(f, format=fmt, dpi=dpi)))  # noqa: B023
    return written
