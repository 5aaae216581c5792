"""Plot Caffe training curves: test accuracy, test loss, train loss and lr, PNG and SVG.

    tools/plot_log.py logs/run1                               # all four charts of one run
    tools/plot_log.py a=logs/run1 b=logs/run2 --x seconds     # two runs overlaid
    tools/plot_log.py caffe.log,caffe_resumed1.log --metric test_accuracy --smooth 0.6
    tools/plot_log.py logs/run1 --x epoch --dataset-size 50000 --logy train_loss

A run is [LABEL=]PATH[,PATH...]: a log, a run folder, or several files of one resumed run
(stitched). Each run keeps one colour in every chart; the best test point of each run is
marked with its value and iteration. Files: <out>/<name>.<metric>.png and .svg.
"""
from __future__ import annotations

import argparse

from simplenet_caffe.runs import caffelog, plotting
from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run
from simplenet_caffe.paths import PLOTS_DIR


def _size(s: str) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in s.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("size is WxH in inches, e.g. 8x5") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return w, h


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="[LABEL=]PATH[,PATH...] per run")
    ap.add_argument("--metric", action="append",
                    help="test_accuracy, test_loss, train_loss, lr, test:NAME or train:NAME (repeatable; default the first four)")
    ap.add_argument("--x", choices=["iteration", "seconds", "epoch"], default="iteration", help="x axis (default iteration)")
    ap.add_argument("--batch-size", type=int, help="images per iteration for --x epoch (default: from the log)")
    ap.add_argument("--dataset-size", type=int, help="training images, for --x epoch")
    ap.add_argument("--logy", nargs="*", metavar="METRIC", help="log y axis (all charts, or the metrics named)")
    ap.add_argument("--smooth", type=float, default=0.0, help="EMA weight in [0,1) drawn over the raw points (default 0)")
    ap.add_argument("--year", type=int, help="year of I0310-style timestamps")
    ap.add_argument("--name", help="file name stem (default: the run name(s))")
    ap.add_argument("-o", "--out", default=str(PLOTS_DIR), help="output folder (default plots/)")
    ap.add_argument("--format", default="png,svg", help="comma-separated formats (default png,svg)")
    ap.add_argument("--size", type=_size, default=(8.0, 5.0), help="figure size in inches WxH (default 8x5)")
    ap.add_argument("--dpi", type=int, default=100, help="PNG pixels per inch (default 100: 8x5 -> 800x500 px)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.smooth < 1.0:
        raise UserError("--smooth must be in [0, 1)")
    if args.x == "epoch" and not args.dataset_size:
        raise UserError("--x epoch needs --dataset-size (training images)")
    metrics = args.metric or list(plotting.DEFAULT_METRICS)
    for m in metrics:
        try:
            plotting.resolve_metric(m)
        except ValueError as e:
            raise UserError(str(e)) from e
    try:
        runs, labels = caffelog.parse_run_specs(args.runs, year=args.year)
    except (OSError, ValueError) as e:
        raise UserError(str(e)) from e
    labels = [lab or r.name for lab, r in zip(labels, runs)]
    logy = True if args.logy == [] else (args.logy or False)
    try:
        written = plotting.plot_runs(runs, args.out, metrics=metrics, x=args.x, batch_size=args.batch_size,
                                     dataset_size=args.dataset_size, logy=logy, smooth=args.smooth, name=args.name,
                                     labels=labels, formats=[f for f in args.format.split(",") if f],
                                     size=args.size, dpi=args.dpi)
    except ValueError as e:
        raise UserError(str(e)) from e
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
