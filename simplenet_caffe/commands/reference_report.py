"""A run against the authors' log: results.md with phase-by-phase numbers, and the figures.

    tools/reference_report.py logs/reference/mnist_s300a --authors caffe_slim310k_99.72.log

Writes into the run folder (or -o/--out): results.md and <name>.test_accuracy / .train_loss in
PNG, SVG and PDF -- this run and the authors' on one axis in %, the paper's number as a dotted
line, and a second panel over --zoom (default the last 10,000 iterations of --xlim). Phases are
split at the solver's first stepvalue; means compare the test iterations both logs have.
--best-goal and --mean-tolerance state the acceptance checks that results.md says are met or not.
--seeds adds other seeds' runs of the same schedule: a table of each run's numbers and their curves.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.commands.plot_log import _range
from simplenet_caffe.errors import UserError
from simplenet_caffe.runs import caffelog, plotting, record, reference


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run folder (logs/<run>)")
    ap.add_argument("--authors", required=True, help="the authors' Caffe log of the same experiment")
    ap.add_argument("--experiment", help="experiment for the paper's number (default: the run record's)")
    ap.add_argument("--xlim", type=_range, default=(0.0, 40000.0), metavar="LO:HI", help="iterations shown (default 0:40000)")
    ap.add_argument("--zoom", type=_range, metavar="LO:HI", help="second panel (default: the last 10,000 of --xlim)")
    ap.add_argument("--window", type=_range, default=(33000.0, 40000.0), metavar="LO:HI",
                    help="iterations whose mean test accuracy is compared (default 33000:40000)")
    ap.add_argument("--best-goal", type=float, default=99.65, metavar="PCT", help="best test accuracy to reach (%%)")
    ap.add_argument("--mean-tolerance", type=float, default=0.15, metavar="POINTS",
                    help="largest allowed |mean difference| over --window (percentage points)")
    ap.add_argument("--early", nargs="+", default=[], metavar="RUN",
                    help="run folders of the same schedule with other seeds: their tests up to --early-until "
                         "beside this run's and the authors'")
    ap.add_argument("--seeds", nargs="+", default=[], metavar="RUN",
                    help="run folders of the same full schedule with other solver seeds: their best, final and phase "
                         "means in a table beside this run's, and their test curves in the figure")
    ap.add_argument("--early-until", type=int, default=3000, metavar="N", help="last iteration of --early (default 3000)")
    ap.add_argument("-o", "--out", help="output folder (default: the run folder)")
    ap.add_argument("--name", help="figure file stem (default: the run folder's name)")
    a = ap.parse_args(argv)
    run_dir = Path(a.run)
    if not caffelog.run_logs(run_dir):
        raise UserError(f"{run_dir}: no Caffe logs (caffe.log, caffe.N.log) in it")
    if not Path(a.authors).is_file():
        raise UserError(f"{a.authors}: no such file")
    if not 0 < a.best_goal <= 100 or not 0 <= a.mean_tolerance <= 100:
        raise UserError("--best-goal is a percentage in (0, 100], --mean-tolerance in [0, 100]")
    if None in a.xlim or None in a.window:
        raise UserError("--xlim and --window need both ends")
    if a.early_until < 1:
        raise UserError("--early-until must be >= 1")
    for d in [*a.early, *a.seeds]:
        if not caffelog.run_logs(Path(d)):
            raise UserError(f"{d}: no Caffe logs (caffe.log, caffe.N.log) in it")
    early = [caffelog.parse(d, name=Path(d).name) for d in a.early]
    seeds = [(caffelog.parse(d, name=Path(d).name), Path(d)) for d in a.seeds]
    rec = record.read(run_dir)
    experiment = a.experiment or (rec.experiment if rec is not None else None)
    ours = caffelog.parse(run_dir, name=run_dir.name)
    theirs = caffelog.parse(a.authors, name="authors")
    first_step = reference.first_step(ours.solver) or reference.first_step(theirs.solver) or int(a.xlim[1])
    paper = plotting.reported_accuracy(experiment) if experiment else None
    out = Path(a.out) if a.out else run_dir
    zoom = a.zoom or (max(a.xlim[0], a.xlim[1] - 10000), a.xlim[1])
    figures = plotting.plot_runs([ours, *(r for r, _ in seeds)], out, metrics=["test_accuracy", "train_loss"],
                                 name=a.name or run_dir.name, labels=["this run", *(r.name for r, _ in seeds)],
                                 formats=("png", "svg", "pdf"), references=[theirs],
                                 reference_labels=["the authors' log"], paper_value=paper or False, percent=True,
                                 xlim=a.xlim, zoom=zoom)
    text = reference.results_markdown(
        ours, theirs, run_dir, paper=paper[1] if paper else None, first_step=first_step,
        window=(int(a.window[0]), int(a.window[1])), best_goal=a.best_goal, mean_tolerance=a.mean_tolerance,
        figures=[f for f in figures if f.suffix == ".png"], early=early, early_until=a.early_until, seeds=seeds,
        command="tools/reference_report.py " + shlex.join(sys.argv[1:] if argv is None else list(argv)))
    md = reference.write_results(out / "results.md", text)
    for f in [*figures, md]:
        print(f"wrote {f}")
    return 0


def entry() -> None:
    """The ``simplenet-reference-report`` command (also ``tools/reference_report.py``)."""
    run(main)
