"""List the training runs under logs/: state, experiment, iterations, accuracy against the paper's.

    tools/runs.py                 # every run below logs/
    tools/runs.py logs/reference  # the runs below another folder
    tools/runs.py --json          # the same as JSON (accuracies as fractions 0-1)

A run is a folder with Caffe logs or a run record (logs/<run>/run.json, written by
tools/train.py, tools/reproduce.py and make demo). States: running (a process trains it now;
its pid is shown), stopped (by a signal, after a snapshot: continue with --resume), done,
diverged (a loss became NaN or infinite; the accuracy after that is not shown), failed.
Columns: iterations done/planned, best test accuracy @ its iteration, final test accuracy, the
mean test accuracy before the solver's first lr step (iteration 0 left out) and from it on, the
authors' reported accuracy for the experiment, stitched wall time in hours, the Caffe build.
"""
from __future__ import annotations

import argparse
import json

from simplenet_caffe.cli import run
from simplenet_caffe.paths import LOGS_DIR
from simplenet_caffe.runs import runlist


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="?", default=str(LOGS_DIR), help="folder of runs (default logs/)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    rows = runlist.list_runs(args.logs)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=1, allow_nan=False))
    elif not rows:
        print(f"no runs in {args.logs}")
    else:
        print(runlist.format_table(rows), end="")
    return 0


def entry() -> None:
    """The ``simplenet-runs`` command (also ``tools/runs.py``)."""
    run(main)
