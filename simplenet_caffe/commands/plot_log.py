"""Plot Caffe training curves: test accuracy, test loss, train loss and lr; PNG, SVG, PDF.

    tools/plot_log.py logs/run1                               # all four charts of one run
    tools/plot_log.py a=logs/run1 b=logs/run2 --x seconds     # two runs overlaid
    tools/plot_log.py caffe.log,caffe_resumed1.log --metric test_accuracy --smooth 0.6
    tools/plot_log.py logs/run1 --x epoch --dataset-size 50000 --logy train_loss
    tools/plot_log.py logs/cifar10_a5m_zeropad --reference authors=caffe.log --percent --format pdf,png
    tools/plot_log.py logs/mnist_s300a --reference authors=slim.log --percent --xlim 0:40000 --zoom 30000:40000

A run is [LABEL=]PATH[,PATH...]: a log, a run folder, or several files of one resumed run
(stitched). Each run keeps one colour in every chart; the best test point of each run is
marked with its value and position in the x unit shown. --reference runs are drawn dashed in
grey. The paper's accuracy is a dotted line on the accuracy chart: from the experiment table
when a run is named after a known experiment (logs/<experiment>), --experiment NAME, or
--paper-value. A first point far off the others (the iteration-0 test loss) is left out of the
default y range, with a note in the figure. Files: <out>/<name>.<metric>.<format>.
"""
from __future__ import annotations

import argparse
import sys

from simplenet_caffe.runs import caffelog, plotting
from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run
from simplenet_caffe.paths import PLOTS_DIR


def _size(s: str) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in s.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("size is WxH in inches, e.g. 8x5") from None
    if not (0 < w <= 100 and 0 < h <= 100):
        raise argparse.ArgumentTypeError("size must be in (0, 100] inches")
    return w, h


def _range(s: str) -> tuple[float | None, float | None]:
    """``LO:HI`` with either side empty for matplotlib's choice."""
    if ":" not in s:
        raise argparse.ArgumentTypeError(f"range is LO:HI (either may be empty), not {s!r}")
    lo, hi = s.split(":", 1)
    try:
        out = (float(lo) if lo.strip() else None, float(hi) if hi.strip() else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"range is LO:HI with numbers, not {s!r}") from None
    if any(v is not None and v != v for v in out) or (None not in out and out[0] >= out[1]):
        raise argparse.ArgumentTypeError(f"range {s!r}: LO must be below HI")
    return out


def _ylims(specs: list[str]) -> dict | tuple | None:
    """--ylim LO:HI (every chart) or METRIC=LO:HI (repeatable)."""
    if not specs:
        return None
    per: dict = {}
    every = None
    for s in specs:
        if "=" in s:
            m, r = s.split("=", 1)
            plotting.resolve_metric(m)
            per[m] = _range(r)
        else:
            every = _range(s)
    if per and every is not None:
        raise UserError("give --ylim LO:HI for every chart or METRIC=LO:HI per chart, not both")
    return per or every


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="[LABEL=]PATH[,PATH...] per run")
    ap.add_argument("--metric", action="append",
                    help="test_accuracy, test_loss, train_loss, lr, test:NAME or train:NAME (repeatable; default the first four)")
    ap.add_argument("--x", choices=["iteration", "seconds", "epoch"], default="iteration", help="x axis (default iteration)")
    ap.add_argument("--batch-size", type=int, help="images per iteration for --x epoch (default: from the log)")
    ap.add_argument("--dataset-size", type=int, help="training images, for --x epoch")
    ap.add_argument("--reference", action="append", default=[], metavar="[LABEL=]LOG",
                    help="another run drawn dashed in grey for comparison, e.g. the authors' log (repeatable)")
    ap.add_argument("--paper-value", type=float, metavar="PERCENT",
                    help="the paper's accuracy in %% as a reference line (default: from the experiment table)")
    ap.add_argument("--experiment", help="take the paper's accuracy of this experiment (nets/experiments.py)")
    ap.add_argument("--no-paper", action="store_true", help="draw no paper reference line")
    ap.add_argument("--percent", action="store_true", help="accuracy in %% instead of 0-1")
    ap.add_argument("--xlim", type=_range, metavar="LO:HI", help="x range in the unit of --x (either side may be empty)")
    ap.add_argument("--zoom", type=_range, metavar="LO:HI",
                    help="a second panel with the same curves over this x range, y fitted to them")
    ap.add_argument("--ylim", action="append", default=[], metavar="[METRIC=]LO:HI",
                    help="y range for every chart, or for one metric (repeatable); replaces the robust default")
    ap.add_argument("--logy", nargs="*", metavar="METRIC", help="log y axis (all charts, or the metrics named)")
    ap.add_argument("--smooth", type=float, default=0.0, help="EMA weight in [0,1) drawn over the raw points (default 0)")
    ap.add_argument("--year", type=int, help="year of I0310-style timestamps")
    ap.add_argument("--name", help="file name stem (default: the run name(s))")
    ap.add_argument("-o", "--out", default=str(PLOTS_DIR), help="output folder (default plots/)")
    ap.add_argument("--format", default="png,svg", help="comma-separated: png, svg, pdf (default png,svg)")
    ap.add_argument("--size", type=_size, default=(8.0, 5.0), help="figure size in inches WxH (default 8x5)")
    ap.add_argument("--dpi", type=int, default=300, help="PNG pixels per inch (default 300: 8x5 -> 2400x1500 px)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.smooth < 1.0:
        raise UserError("--smooth must be in [0, 1)")
    if not 10 <= args.dpi <= 1200:
        raise UserError("--dpi must be in 10..1200")
    if args.x == "epoch" and not args.dataset_size:
        raise UserError("--x epoch needs --dataset-size (training images)")
    if (args.dataset_size is not None and args.dataset_size <= 0) or (args.batch_size is not None and args.batch_size <= 0):
        raise UserError("--dataset-size and --batch-size must be positive")
    formats = [f for f in args.format.split(",") if f]
    bad = [f for f in formats if f not in plotting.FORMATS]
    if bad or not formats:
        raise UserError(f"--format: use png, svg and/or pdf, not {args.format!r}")
    if (args.paper_value is not None) + bool(args.experiment) + args.no_paper > 1:
        raise UserError("give one of --paper-value, --experiment and --no-paper")
    paper = False if args.no_paper else args.paper_value
    if args.paper_value is not None and not 0 < args.paper_value <= 100:
        raise UserError("--paper-value is a percentage in (0, 100]")
    if args.experiment:
        found = plotting.reported_accuracy(args.experiment)
        if found is None or found[0] != args.experiment:
            raise UserError(f"--experiment {args.experiment}: not an experiment with a reported accuracy "
                            f"(see tools/gen_prototxt.py --list)")
        paper = found
    metrics = args.metric or list(plotting.DEFAULT_METRICS)
    try:
        for m in metrics:
            plotting.resolve_metric(m)
        ylim = _ylims(args.ylim)
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise UserError(str(e)) from e
    skipped: list[str] = []
    try:
        runs, labels = caffelog.parse_run_specs(args.runs, year=args.year, skipped=skipped)
        refs, ref_labels = caffelog.parse_run_specs(args.reference, year=args.year) if args.reference else ([], [])
    except (OSError, ValueError) as e:
        raise UserError(str(e)) from e
    for why in skipped:
        print(f"note: skipped {why}", file=sys.stderr)
    if not runs:
        raise UserError(f"none of the {len(args.runs)} run(s) has training output to plot (see the notes above)")
    for r in runs + refs:
        for n in r.notes:
            print(f"warning: {n}", file=sys.stderr)
        if r.diverged_iteration is not None:
            print(f"warning: {r.name} diverged at iteration {r.diverged_iteration} (a NaN or infinite loss): its "
                  "test accuracy from there on is not real (Caffe counts NaN scores as correct)", file=sys.stderr)
    labels = [lab or r.name for lab, r in zip(labels, runs)]
    ref_labels = [lab or f"reference: {r.name}" for lab, r in zip(ref_labels, refs)]
    logy = True if args.logy == [] else (args.logy or False)
    try:
        written = plotting.plot_runs(runs, args.out, metrics=metrics, x=args.x, batch_size=args.batch_size,
                                     dataset_size=args.dataset_size, logy=logy, smooth=args.smooth, name=args.name,
                                     labels=labels, formats=formats, size=args.size, dpi=args.dpi,
                                     references=refs, reference_labels=ref_labels, paper_value=paper,
                                     percent=args.percent, xlim=args.xlim, ylim=ylim, zoom=args.zoom)
    except ValueError as e:
        raise UserError(str(e)) from e
    except OSError as e:
        raise UserError(f"cannot write to {args.out}: {e.strerror or e}") from e
    if not written:
        raise UserError("none of the requested metrics is in the log(s)")
    for r in runs:
        b = r.best_test()
        if b and "accuracy" in b:
            print(f"{r.name}: best test accuracy {b['accuracy']:.6g} @ iteration {b['iteration']}")
    for p in written:
        print(f"wrote {p}")
    return 0


def entry() -> None:
    """The ``simplenet-plot-log`` command (also ``tools/plot_log.py``)."""
    run(main)
