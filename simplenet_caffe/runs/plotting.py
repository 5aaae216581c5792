"""Training curves from parsed Caffe logs (:mod:`simplenet_caffe.runs.caffelog`): paper-ready
figures as PNG (300 dpi by default), SVG and PDF.

One figure per metric, several runs overlaid with fixed colours (run i always gets colour i
of matplotlib's tab10), a legend, and the best test point of every run marked and annotated
with its value and where it is, in the x unit shown (``@ 135500``, ``@ epoch 271``,
``@ 7.19 h``). Smoothing is an EMA (TensorBoard's debiased form) drawn over the raw points,
which stay visible. Reference runs (the authors' log, say) are drawn dashed in grey; the
paper's reported accuracy is a dotted horizontal line on the accuracy chart.

Metric names: ``test_accuracy``, ``test_loss``, ``train_loss`` (Caffe's smoothed
``Iteration N, loss``), ``lr``, or any column as ``test:NAME`` / ``train:NAME``
(``train:loss`` is the raw train output). x axis: ``iteration``, ``seconds`` (wall time,
shown in hours when a run is longer than two hours) or ``epoch`` (needs the dataset size;
the batch size defaults to the one in the log). Accuracy is 0-1 as Caffe prints it, or
percent with ``percent=True``.

Default y range: the iteration-0 test pass of an untrained net (test loss ~78 on CIFAR-10)
would flatten the rest of the curve, so a first point at iteration 0 far outside the range of
the others (more than half that range beyond it, with at least three others) is left out of the y limits -- and a note in the
figure says so and gives its value. Labels are never clipped: the layout is matplotlib's
constrained layout at the exact figure size (a PNG is ``size`` x ``dpi`` pixels). SVG and
PDF keep text as text.
"""
from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..atomic import output_lock, write_atomic
from ..nets.experiments import EXPERIMENTS
from ..paths import PLOTS_DIR
from .caffelog import CaffeLog

DEFAULT_METRICS = ("test_accuracy", "test_loss", "train_loss", "lr")
ALIASES = {
    "test_accuracy": ("test", "accuracy"),
    "test_loss": ("test", "loss"),
    "train_loss": ("train", "smoothed_loss"),
    "lr": ("train", "lr"),
}
TITLES = {"test_accuracy": "test accuracy", "test_loss": "test loss", "train_loss": "train loss (smoothed, as displayed)",
          "lr": "learning rate"}
FORMATS = ("png", "svg", "pdf")
Range = tuple[float | None, float | None]


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


def reported_accuracy(run_name: str) -> tuple[str, float] | None:
    """(experiment, the paper's top-1 accuracy in %) when `run_name` is a known experiment of
    :mod:`simplenet_caffe.nets.experiments` (exactly, or the longest experiment name followed
    by ``_``/``-``/``.`` and a suffix such as ``_seed2``); None otherwise, and None for an
    experiment without a reported number (``mnist_s300a_demo`` is not ``mnist_s300a``)."""
    if run_name in EXPERIMENTS:     # exactly an experiment: its number, or none (mnist_s300a_demo)
        acc = EXPERIMENTS[run_name].reported_acc
        return (run_name, acc) if acc is not None else None
    found = [n for n in EXPERIMENTS if run_name.startswith(n) and run_name[len(n)] in "_-."]
    if not found:
        return None
    name = max(found, key=len)
    acc = EXPERIMENTS[name].reported_acc
    return (name, acc) if acc is not None else None


class _XUnit:
    """Converts rows' iterations/seconds to the x axis shown, and formats a position in it."""

    def __init__(self, x: str, runs: Sequence[CaffeLog], batch_size: int | None, dataset_size: int | None):
        if x not in ("iteration", "seconds", "epoch"):
            raise ValueError(f"x must be iteration, seconds or epoch, not {x!r}")
        self.x, self.batch_size, self.dataset_size = x, batch_size, dataset_size
        self.hours = x == "seconds" and max((r.wall_seconds or 0) for r in runs) > 7200
        self.label = {"iteration": "iteration", "seconds": "wall time (h)" if self.hours else "wall time (s)",
                      "epoch": "epoch"}[x]

    def values(self, run: CaffeLog, rows: list[dict]) -> np.ndarray:
        if self.x == "iteration":
            return np.array([r["iteration"] for r in rows], dtype=float)
        if self.x == "seconds":
            s = np.array([r["seconds"] if r.get("seconds") is not None else np.nan for r in rows], dtype=float)
            return s / 3600.0 if self.hours else s
        bs = self.batch_size or run.train_batch_size
        if not bs or not self.dataset_size:
            raise ValueError(f"x=epoch needs the dataset size and a batch size (run {run.name}: batch "
                             f"{bs or 'unknown'})")
        return np.array([r["iteration"] for r in rows], dtype=float) * bs / self.dataset_size

    def where(self, value: float, row: dict) -> str:
        if self.x == "iteration":
            return str(row["iteration"])
        if self.x == "epoch":
            return f"epoch {value:.4g}"
        return f"{value:.3g} h" if self.hours else f"{value:.4g} s"


def _colour(i: int) -> str:
    from matplotlib import colormaps
    return colormaps["tab10"](i % 10)


def _fmt_value(v: float) -> str:
    return f"{v:.6g}"


def _robust_limits(series: list[tuple[int, np.ndarray]]) -> tuple[Range, list[tuple[int, float]]]:
    """y limits that leave out an iteration-0 first point far outside the others' range (see the
    module doc; a later first point is a real measurement of a short run and stays). `series`: (iteration of the first point, y values). Returns ((lo, hi), or (None,
    None) when nothing is left out; the (iteration, value) points left out)."""
    kept, dropped = [], []
    for it0, ys in series:
        ys = ys[np.isfinite(ys)]
        if it0 == 0 and len(ys) >= 4:
            rest = ys[1:]
            lo, hi = float(rest.min()), float(rest.max())
            margin = 0.5 * max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
            if not lo - margin <= ys[0] <= hi + margin:
                dropped.append((it0, float(ys[0])))
                ys = rest
        kept.append(ys)
    if not dropped:
        return (None, None), []
    allv = np.concatenate(kept)
    lo, hi = float(allv.min()), float(allv.max())
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-9)
    return (lo - pad, hi + pad), dropped


def figure(runs: Sequence[CaffeLog], metric: str, *, x: str = "iteration", batch_size: int | None = None,
           dataset_size: int | None = None, logy: bool = False, smooth: float = 0.0,
           labels: Sequence[str] | None = None, references: Sequence[CaffeLog] = (),
           reference_labels: Sequence[str] | None = None, paper: Sequence[tuple[str, float]] = (),
           percent: bool = False, xlim: Range | None = None, ylim: Range | None = None,
           size: tuple[float, float] = (8.0, 5.0), dpi: int = 300, mark_best: bool = True,
           zoom: Range | None = None):
    """The matplotlib Figure of one metric, or None when no run has it.

    `paper`: (label, accuracy in %) reference lines, drawn on accuracy charts. `percent`: show
    accuracy columns in % (values, labels, annotations). `xlim`/`ylim`: (lo, hi), either None
    for matplotlib's choice; an explicit `ylim` replaces the robust default range. `zoom`:
    (lo, hi) in the x unit: a second panel, right of the first, with the same curves over that
    range and a y range fitted to them (the range is shaded in the first panel).
    """
    import matplotlib
    from matplotlib.figure import Figure

    table_name, col = resolve_metric(metric)
    unit = _XUnit(x, list(runs) + list(references), batch_size, dataset_size)
    is_acc = "accuracy" in col
    scale = 100.0 if (percent and is_acc) else 1.0
    labels = list(labels) if labels else [r.name for r in runs]
    ref_labels = list(reference_labels) if reference_labels else [f"reference: {r.name}" for r in references]
    title = TITLES.get(metric, metric) + (" (%)" if scale != 1.0 else "")
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42, "font.size": 10}):
        fig = Figure(figsize=(size[0] * 1.6, size[1]) if zoom else size, dpi=dpi, layout="constrained")
        ax = fig.add_subplot(1, 2, 1) if zoom else fig.add_subplot(1, 1, 1)
        series = []
        drawn = 0
        entries = [(run, labels[i], _colour(i), False, i) for i, run in enumerate(runs)]
        entries += [(run, ref_labels[j], str(0.2 + 0.25 * (j % 3)), True, len(runs) + j)
                    for j, run in enumerate(references)]
        for run, label0, colour, is_ref, k in entries:
            table = run.test if table_name == "test" else run.train
            nets = sorted({r.get("test_net", 0) for r in table.rows}) if table_name == "test" else [None]
            for net in nets:
                rows = [r for r in table.rows if r.get(col) is not None and (net is None or r.get("test_net") == net)]
                if not rows:
                    continue
                xs = unit.values(run, rows)
                ys = np.array([r[col] for r in rows], dtype=float) * scale
                style = "--" if (net or is_ref) else "-"
                label = label0 + (f" (test net #{net})" if net else "")
                kw = {"drawstyle": "steps-post"} if col == "lr" else {}
                if smooth > 0 and col != "lr":
                    ax.plot(xs, ys, style, color=colour, alpha=0.25, linewidth=0.8, **kw)
                    ax.plot(xs, ema(ys, smooth), style, color=colour, linewidth=1.5, label=label, **kw)
                else:
                    ax.plot(xs, ys, style, color=colour, linewidth=1.2, label=label, **kw)
                series.append((rows[0]["iteration"], ys))
                drawn += 1
                if mark_best and table_name == "test" and not is_ref:
                    _mark_best(ax, run, col, net or 0, unit, scale, colour, k)
        if not drawn:
            return None
        if is_acc and table_name == "test":
            for j, (plabel, value) in enumerate(paper):
                v = value if scale != 1.0 else value / 100.0
                ax.axhline(v, linestyle=":", linewidth=1.2, color="black", zorder=1,
                           label=f"paper: {value:g}%" + (f" ({plabel})" if plabel else ""), gid=f"paper-{j}")
        notes = []
        if logy:
            ax.set_yscale("log")
        if ylim is not None:
            ax.set_ylim(*ylim)
        elif not logy:
            (lo, hi), dropped = _robust_limits(series)
            if dropped:
                ax.set_ylim(lo, hi)
                vals = "; ".join(f"{_fmt_value(v)} at iteration {it}" for it, v in dropped)
                notes.append(f"left out of the y range: the first point{'s' if len(dropped) > 1 else ''} ({vals})")
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_xlabel(unit.label)
        ax.set_ylabel(title)
        ax.set_title(f"{runs[0].name}: {title}" if len(runs) == 1 else title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        _legend_fits(fig, ax)
        for note in notes:     # below the x label, wrapped to the figure's width
            ax.annotate(textwrap.fill(note, _chars_per_line(fig)), xy=(1.0, 0.0), xycoords="axes fraction",
                        xytext=(0, -30), textcoords="offset points", ha="right", va="top", fontsize=8, color="0.3",
                        gid="note")
        if zoom:
            _zoom_panel(fig, ax, zoom, unit.label, title)
        _keep_inside(fig, [t for t in ax.texts if (t.get_gid() or "").startswith("best")])
    return fig


def _mark_best(ax, run: CaffeLog, col: str, net: int, unit, scale: float, colour: str, k: int) -> None:
    """A star at the run's best test value, annotated with the value and where it was reached."""
    best = run.best_test(col, net=net)
    if best is None:
        return
    bx = unit.values(run, [best])[0]
    by = best[col] * scale
    ax.plot([bx], [by], marker="*", markersize=12, color=colour, markeredgecolor="black", linestyle="none", zorder=5)
    pct = "%" if scale != 1.0 else ""
    text = f"best {_fmt_value(by)}{pct} @ {unit.where(bx, best)}"
    below = "loss" not in col and "error" not in col
    n = k + net
    a = ax.annotate(text, xy=(bx, by), xytext=(-12, -22 - 16 * n if below else 14 + 16 * n),
                    textcoords="offset points", ha="right", color=colour, fontsize=9, gid=f"best-{k}-{net}",
                    arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.8})
    a.set_in_layout(False)          # placed by _keep_inside instead


def _zoom_panel(fig, ax, zoom: Range, xlabel: str, ylabel: str) -> None:
    """The curves of `ax` again over x in `zoom`, in a panel of their own; y fitted to what is shown."""
    lo, hi = zoom
    zax = fig.add_subplot(1, 2, 2)
    lo = ax.get_xlim()[0] if lo is None else lo
    hi = ax.get_xlim()[1] if hi is None else hi
    shown = []
    for line in ax.get_lines():
        gid = line.get_gid() or ""
        kw = {"linestyle": line.get_linestyle(), "color": line.get_color(), "linewidth": line.get_linewidth(),
              "marker": line.get_marker(), "markersize": line.get_markersize(), "alpha": line.get_alpha(),
              "drawstyle": line.get_drawstyle(), "zorder": line.get_zorder()}
        if gid.startswith("paper-"):
            zax.axhline(line.get_ydata()[0], **{k: kw[k] for k in ("linestyle", "color", "linewidth", "zorder")})
            shown.append(float(line.get_ydata()[0]))
            continue
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        zax.plot(xs, ys, **kw)
        inside = (xs >= lo) & (xs <= hi) & np.isfinite(ys)
        shown += list(ys[inside])
    zax.set_xlim(lo, hi)
    if shown:
        ylo, yhi = min(shown), max(shown)
        pad = 0.08 * (yhi - ylo) or 0.01 * (abs(yhi) or 1.0)
        zax.set_ylim(ylo - pad, yhi + pad)
    ax.axvspan(lo, hi, color="0.5", alpha=0.08, zorder=0)
    zax.set_xlabel(xlabel)
    zax.set_ylabel(ylabel)
    zax.set_title(f"{_fmt_value(lo)}-{_fmt_value(hi)}")
    zax.grid(True, alpha=0.3)


def _chars_per_line(fig, points: float = 8.0) -> int:
    """About how many characters of `points`-sized text fit across the figure, with margins."""
    return max(16, int(fig.get_figwidth() * 72 / (points * 0.62)) - 8)


def _legend_fits(fig, ax) -> None:
    """A legend wider or taller than its axes (a small figure, long run names) goes below the
    axes instead, where the constrained layout makes room for it, with long labels wrapped."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    leg = ax.get_legend()
    e, a = leg.get_window_extent(renderer), ax.get_window_extent(renderer)
    if e.width <= a.width and e.height <= a.height * 0.9 and fig.bbox.x0 <= e.x0 and e.x1 <= fig.bbox.x1:
        return
    handles, labels = ax.get_legend_handles_labels()
    leg.remove()
    width = _chars_per_line(fig)
    fig.legend(handles, [textwrap.fill(lab, width) for lab in labels], loc="outside lower center", fontsize=8,
               ncols=2 if len(labels) > 2 and fig.get_figwidth() >= 5 else 1)


def _keep_inside(fig, annotations) -> None:
    """Move annotations whose text would leave their axes back inside them (constrained layout
    places axes, labels and legend, but not the text of annotations)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    if not annotations:
        return
    FigureCanvasAgg(fig)
    for _ in range(2):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        box, pt = annotations[0].axes.get_window_extent(renderer), 72.0 / fig.dpi
        moved = False
        for a in annotations:
            e = a.get_window_extent(renderer)
            dx = max(0.0, box.x0 + 3 - e.x0) + min(0.0, box.x1 - 3 - e.x1)
            dy = max(0.0, box.y0 + 3 - e.y0) + min(0.0, box.y1 - 3 - e.y1)
            if dx or dy:
                ox, oy = a.xyann
                a.xyann = (ox + dx * pt, oy + dy * pt)
                moved = True
        if not moved:
            break


def plot_runs(runs: CaffeLog | Sequence[CaffeLog], out_dir: str | os.PathLike = PLOTS_DIR, *,
              metrics: Iterable[str] = DEFAULT_METRICS, x: str = "iteration", batch_size: int | None = None,
              dataset_size: int | None = None, logy: bool | Iterable[str] = False, smooth: float = 0.0,
              name: str | None = None, labels: Sequence[str] | None = None, formats: Sequence[str] = ("png", "svg"),
              size: tuple[float, float] = (8.0, 5.0), dpi: int = 300, mark_best: bool = True,
              references: Sequence[CaffeLog] = (), reference_labels: Sequence[str] | None = None,
              paper_value: float | tuple[str, float] | None | bool = None, percent: bool = False, xlim: Range | None = None,
              ylim: Range | Mapping[str, Range] | None = None, zoom: Range | None = None) -> list[Path]:
    """Draw one figure per metric for `runs`; returns the files written (``<out>/<name>.<metric>.<fmt>``).

    `logy`: True for every metric, or the metric names to draw on a log axis. `smooth`: EMA
    weight in [0, 1). `paper_value`: the paper's accuracy in % (or (label, %)) as a reference line; None looks
    each run up in the experiment table (:func:`reported_accuracy`), False draws none. `ylim`:
    one range for every chart or {metric: range}. `zoom`: a second panel over that x range (see
    :func:`figure`). A PNG is ``size`` inches x ``dpi`` pixels (1.6 times as wide with a zoom panel).
    """
    if isinstance(runs, CaffeLog):
        runs = [runs]
    runs = list(runs)
    if not runs:
        raise ValueError("plot_runs needs at least one run")
    if not 0.0 <= smooth < 1.0:
        raise ValueError("smooth must be in [0, 1)")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format {bad[0]!r}: use {', '.join(FORMATS)}")
    labels = list(labels) if labels else [r.name for r in runs]
    if len(labels) != len(runs):
        raise ValueError("one label per run")
    name = name or (runs[0].name if len(runs) == 1 else "+".join(r.name for r in runs[:4]) + ("+..." if len(runs) > 4 else ""))
    logy_set = set(metrics) if logy is True else set(logy or ())
    if paper_value is None:
        paper = sorted({found for r in runs if (found := reported_accuracy(r.name))})
    elif paper_value is False:
        paper = []
    elif isinstance(paper_value, tuple):
        paper = [(str(paper_value[0]), float(paper_value[1]))]
    else:
        paper = [("", float(paper_value))]
    out = Path(out_dir)
    written: list[Path] = []
    with output_lock(out / name):             # one writer per figure set
        for metric in metrics:
            lim = ylim.get(metric) if isinstance(ylim, Mapping) else ylim
            fig = figure(runs, metric, x=x, batch_size=batch_size, dataset_size=dataset_size,
                         logy=metric in logy_set, smooth=smooth, labels=labels, references=references,
                         reference_labels=reference_labels, paper=paper, percent=percent, xlim=xlim, ylim=lim,
                         size=size, dpi=dpi, mark_best=mark_best, zoom=zoom if metric != "lr" else None)
            if fig is None:
                continue
            safe = metric.replace(":", "-")
            for fmt in formats:
                written.append(write_atomic(out / f"{name}.{safe}.{fmt}",
                                            lambda f: fig.savefig(f, format=fmt, dpi=dpi)))  # noqa: B023
    return written
