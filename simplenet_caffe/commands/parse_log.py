"""Parse Caffe training/test logs into CSV and JSON (any Caffe version, resumed runs stitched).

    tools/parse_log.py logs/myrun/                        # all caffe*.log of one run
    tools/parse_log.py caffe.log caffe_resumed1.log -o out/  # one run across two files
    tools/parse_log.py a.log b.log --separate --plot       # two runs, and their plots

Writes <out>/<run>.train.csv (iteration, seconds, segment, lr, smoothed_loss, raw train
outputs), <run>.test.csv (iteration, seconds, segment, test_net, lr, test outputs),
<run>.batches.csv for `caffe test` logs, and <run>.json (all of it plus segments and
warnings). Truncated or garbled lines are skipped and reported on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simplenet_caffe.runs import caffelog
from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run
from simplenet_caffe.paths import PLOTS_DIR


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", help="log files or run folders (files of one run are stitched in the order given)")
    ap.add_argument("-o", "--out", default=str(PLOTS_DIR), help="output folder (default: plots/)")
    ap.add_argument("--name", help="run name used for the output files (default: log stem or run folder)")
    ap.add_argument("--year", type=int, help="year of I0310-style timestamps (default: glog header, else file mtime)")
    ap.add_argument("--separate", action="store_true", help="treat every argument as its own run")
    ap.add_argument("--delimiter", default=",", help="CSV delimiter (default ,)")
    ap.add_argument("--no-json", action="store_true", help="write only the CSV files")
    ap.add_argument("--plot", action="store_true", help="also draw the curves (tools/plot_log.py defaults)")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not list the warnings")
    args = ap.parse_args(argv)
    if len(args.delimiter) != 1:
        raise UserError("--delimiter must be one character")
    if args.separate and args.name and len(args.logs) > 1:
        raise UserError("--name names one run; drop it with --separate")
    groups = [[p] for p in args.logs] if args.separate else [args.logs]
    runs = []
    for g in groups:
        for p in g:
            if not Path(p).exists():
                raise UserError(f"no such file or folder: {p}")
        try:
            r = caffelog.parse(*g, name=args.name, year=args.year)
        except (OSError, ValueError) as e:
            raise UserError(str(e)) from e
        if not len(r.train) and not len(r.test) and not len(r.test_batches):
            raise UserError(f"no Caffe training or test output found in {', '.join(g)}")
        runs.append(r)
        written = r.write(args.out, json_=not args.no_json, delimiter=args.delimiter)
        best = r.best_test()
        best_s = f", best accuracy {best['accuracy']:.6g} @ {best['iteration']}" if best and "accuracy" in best else ""
        print(f"{r.name}: {len(r.segments)} segment(s), {len(r.train)} train rows, {len(r.test)} test rows"
              f"{best_s}; {len(r.warnings)} warning(s)")
        for w in written:
            print(f"  wrote {w}")
        if r.warnings and not args.quiet:
            for w in r.warnings:
                print(f"warning: {w}", file=sys.stderr)
    if args.plot:
        from simplenet_caffe.runs import plotting
        for p in plotting.plot_runs(runs, args.out):
            print(f"  wrote {p}")
    return 0


def entry() -> None:
    """The ``simplenet-parse-log`` command (also ``tools/parse_log.py``)."""
    run(main)
