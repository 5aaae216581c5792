"""The paper's results table from Caffe logs: Markdown and CSV.

    tools/results_table.py logs/run1 logs/run2
    tools/results_table.py c10=logs/c10_seed1 c10=logs/c10_seed2 --net c10=prototxt/cifar10_a5m_zeropad_train_val.prototxt
    tools/results_table.py old=caffe.log,caffe_resumed1.log

A run is [LABEL=]PATH[,PATH...]: a log, a run folder, or several files of one resumed run
(stitched). Runs with the same LABEL are seeds of one experiment and give mean ± std. A run
without test output (a failed start, an empty folder) is skipped with a note. A run whose loss
became NaN or infinite gets a "diverged @ iter" column, and its best/final accuracy count only
the tests before that iteration (Caffe's Accuracy layer counts NaN scores as correct).
Columns: best and final test accuracy, iteration of the best, iterations run, wall time,
seconds per 100 iterations, and with --net the learnable parameters of the net.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simplenet_caffe.runs import caffelog, results
from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run
from simplenet_caffe.paths import PLOTS_DIR


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="[LABEL=]PATH[,PATH...] per run")
    ap.add_argument("--net", action="append", default=[],
                    help="net prototxt for the params column: PATH (all rows) or LABEL=PATH (repeatable)")
    ap.add_argument("--metric", default="accuracy", help="test output ranked for best/final (default accuracy)")
    ap.add_argument("--test-net", type=int, default=0, help="test net id (default 0)")
    ap.add_argument("--year", type=int, help="year of I0310-style timestamps")
    ap.add_argument("-o", "--out", default=str(PLOTS_DIR), help="output folder (default plots/)")
    ap.add_argument("--name", default="results", help="file name stem (default results -> results.md/.csv)")
    args = ap.parse_args(argv)
    skipped: list[str] = []
    try:
        runs, labels = caffelog.parse_run_specs(args.runs, year=args.year, need_test=True, skipped=skipped)
    except (OSError, ValueError) as e:
        raise UserError(str(e)) from e
    for why in skipped:
        print(f"note: skipped {why}", file=sys.stderr)
    if not runs:
        raise UserError(f"none of the {len(args.runs)} run(s) has test output to tabulate (see the notes above)")
    for r in runs:
        for n in r.notes:
            print(f"warning: {n}", file=sys.stderr)
    nets: dict | str | None = None
    for n in args.net:
        if "=" in n and not Path(n).exists():
            lab, path = n.split("=", 1)
            nets = nets if isinstance(nets, dict) else {}
            nets[lab] = path
        else:
            if nets is not None:
                raise UserError("give one --net PATH for all rows, or LABEL=PATH for each")
            nets = n
    for p in (nets.values() if isinstance(nets, dict) else [nets] if nets else []):
        if not Path(p).is_file():
            raise UserError(f"net prototxt not found: {p}")
    try:
        table = results.results_table(runs, labels, nets=nets, metric=args.metric, test_net=args.test_net)
    except RuntimeError as e:
        raise UserError(str(e)) from e
    try:
        written = table.write(args.out, args.name)
    except OSError as e:
        raise UserError(f"cannot write to {args.out}: {e.strerror or e}") from e
    sys.stdout.write(table.to_markdown())
    for p in written:
        print(f"wrote {p}", file=sys.stderr)
    return 0


def entry() -> None:
    """The ``simplenet-results-table`` command (also ``tools/results_table.py``)."""
    run(main)
