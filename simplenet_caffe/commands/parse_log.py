"""Parse Caffe training/test logs into CSV and JSON (any Caffe version, resumed runs stitched).

    tools/parse_log.py logs/myrun/                        # all caffe*.log of one run
    tools/parse_log.py caffe.log caffe_resumed1.log -o out/  # one run across two files
    tools/parse_log.py a.log b.log --separate --plot       # two runs, and their plots
    tools/parse_log.py caffe.log --format bvlc -o out/     # out/caffe.log.train, .test as BVLC's parse_log.py
    tools/parse_log.py caffe.log out/                      # BVLC's LOG DIR: a last folder with no logs is -o

Writes <out>/<run>.train.csv (iteration, seconds, segment, lr, smoothed_loss, raw train
outputs), <run>.test.csv (iteration, seconds, segment, test_net, lr, test outputs),
<run>.batches.csv for `caffe test` logs, and <run>.json (all of it plus segments and
warnings). A file holding several independent runs (a fresh start appended to an old log)
gives one set of files per run, <run>-run1, <run>-run2, ... and says so. With --format bvlc:
<out>/<log file name>.train and .test per log file, exactly as BVLC Caffe's
tools/extra/parse_log.py writes them (docs/logs.md lists where it differs on damaged logs).
Truncated or garbled lines are skipped and reported on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import PLOTS_DIR
from simplenet_caffe.runs import caffelog, plotting
from simplenet_caffe.runs.caffelog import bvlc


def _report(warnings, notes, quiet: bool) -> None:
    for n in notes:
        print(f"warning: {n}", file=sys.stderr)
    if not quiet:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)


def _bvlc(args) -> int:
    files = caffelog.expand_log_paths(args.logs)
    if not files:
        raise UserError(f"no log files in {', '.join(args.logs)}")
    total = 0
    for f in files:
        try:
            written, warnings, notes = bvlc.write_bvlc(f, args.out, delimiter=args.delimiter, year=args.year)
        except ValueError as e:
            raise UserError(str(e)) from e
        except OSError as e:
            raise UserError(f"cannot read {f} or write to {args.out}: {e.strerror or e}") from e
        total += len(written)
        print(f"{f}: " + (", ".join(f"wrote {w}" for w in written) or "no training output after a 'Solving' line; nothing written"))
        _report(warnings, notes, args.quiet)
    if not total:
        raise UserError(f"no Caffe training output found in {', '.join(map(str, files))}")
    return 0


def _bvlc_out_dir(args) -> None:
    """BVLC's ``parse_log.py LOG DIR``: a last argument that is a folder holding no logs is the
    output folder (never a silently empty run)."""
    last = Path(args.logs[-1])
    if len(args.logs) > 1 and last.is_dir() and not caffelog.expand_log_paths([last]):
        if args.out is not None:
            raise UserError(f"{last} holds no Caffe logs, and -o {args.out} names the output folder: drop one")
        args.logs, args.out = args.logs[:-1], str(last)
    if args.out is None:
        args.out = str(PLOTS_DIR)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", help="log files or run folders (files of one run are stitched in the order given)")
    ap.add_argument("-o", "--out", help="output folder (default: plots/; BVLC's `LOG DIR` works too)")
    ap.add_argument("--format", choices=["csv", "bvlc"], default="csv",
                    help="csv: this project's tables + JSON (default); bvlc: BVLC parse_log.py's <log>.train/.test")
    ap.add_argument("--name", help="run name used for the output files (default: log stem or run folder)")
    ap.add_argument("--year", type=int, help="year of I0310-style timestamps (default: glog header, else file mtime, "
                                             "with a note)")
    ap.add_argument("--separate", action="store_true", help="treat every argument as its own run")
    ap.add_argument("--delimiter", default=",", help="CSV delimiter (default ,)")
    ap.add_argument("--no-json", action="store_true", help="write only the CSV files")
    ap.add_argument("--plot", action="store_true", help="also draw the curves (tools/plot_log.py defaults)")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not list the per-line warnings")
    args = ap.parse_args(argv)
    if len(args.delimiter) != 1:
        raise UserError("--delimiter must be one character")
    if args.year is not None and not 1 <= args.year <= 9998:
        raise UserError("--year must be in 1..9998")
    if args.separate and args.name and len(args.logs) > 1:
        raise UserError("--name names one run; drop it with --separate")
    _bvlc_out_dir(args)
    for p in args.logs:
        if not Path(p).exists():
            raise UserError(f"no such file or folder: {p}" + (" (to write into it, give -o DIR)" if len(args.logs) > 1 else ""))
    if args.format == "bvlc":
        if args.name or args.separate or args.no_json:
            raise UserError("--name, --separate and --no-json do not apply to --format bvlc (one pair of files per log)")
        rc = _bvlc(args)
        if args.plot:
            _plot([caffelog.parse(*args.logs, year=args.year)], args.out)
        return rc
    groups = [[p] for p in args.logs] if args.separate else [args.logs]
    runs = []
    for g in groups:
        try:
            found = caffelog.parse_runs(*g, name=args.name, year=args.year)
        except (OSError, ValueError) as e:
            raise UserError(str(e)) from e
        if len(found) > 1:
            print(f"warning: {', '.join(g)} hold{'s' if len(g) == 1 else ''} {len(found)} independent runs; "
                  f"each is written on its own: {', '.join(r.name for r in found)}", file=sys.stderr)
        for r in found:
            if not len(r.train) and not len(r.test) and not len(r.test_batches):
                if len(found) == 1:
                    raise UserError(f"no Caffe training or test output found in {', '.join(g)}")
                continue
            runs.append(r)
            try:
                written = r.write(args.out, json_=not args.no_json, delimiter=args.delimiter)
            except OSError as e:
                raise UserError(f"cannot write to {args.out}: {e.strerror or e}") from e
            best = r.best_test()
            best_s = f", best accuracy {best['accuracy']:.6g} @ {best['iteration']}" if best and "accuracy" in best else ""
            print(f"{r.name}: {len(r.segments)} segment(s), {len(r.train)} train rows, {len(r.test)} test rows"
                  f"{best_s}; {len(r.warnings)} warning(s)")
            for w in written:
                print(f"  wrote {w}")
        _report(found[0].warnings if len(found) == 1 else sorted({w for r in found for w in r.warnings}),
                found[0].notes, args.quiet)
    if args.plot:
        _plot(runs, args.out)
    return 0


def _plot(runs, out) -> None:
    try:
        written = plotting.plot_runs(runs, out)
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror or e}") from e
    for p in written:
        print(f"  wrote {p}")


def entry() -> None:
    """The ``simplenet-parse-log`` command (also ``tools/parse_log.py``)."""
    run(main)
