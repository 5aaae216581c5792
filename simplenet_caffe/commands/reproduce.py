"""Run one of the paper's experiments with its full generated schedule, then plot and tabulate.

  reproduce.py cifar10_a5m_zeropad            # solvers/cifar10_a5m_zeropad_solver.prototxt
  reproduce.py cifar10_a5m_zeropad --resume   # continue after an interruption (newest .solverstate)
  reproduce.py cifar10_a5m_zeropad --continue # resume if there is a snapshot, else start; done: nothing
  reproduce.py cifar10_a5m_zeropad --name smoke --max-iter 100 --test-iter 4 --overwrite
  reproduce.py --list

Full schedules are hours to days on a CPU and meant for a GPU (--gpu 0). The experiment's
LMDBs must exist (the error names the data_prep command that builds them). Writes
logs/<experiment>/caffe*.log, snapshots/<experiment>/, and plots/<experiment>/ (curves,
results.md/.csv with the authors' reported accuracy, confusion matrix of the last snapshot).
Ctrl-C (or SIGTERM/SIGHUP) makes Caffe snapshot and stop; --resume continues, and the stitched
curve has no gap. --name gives the run its own logs/<name>/ and snapshot folder; the smoke-test
overrides write the changed solver to logs/<name>/solver.prototxt and are noted in results.md.
`make reproduce EXP=x NAME=y OVERWRITE=1 RESUME=1 GPU=0 ARGS="--max-iter 100"` passes these on.
"""
from __future__ import annotations

import argparse

from simplenet_caffe.cli import run
from simplenet_caffe.commands.train import add_override_args, add_run_args, overrides_of
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets.experiments import EXPERIMENTS
from simplenet_caffe.runs import pipeline


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", nargs="?", help="experiment name (see --list)")
    ap.add_argument("--list", action="store_true", help="list the experiments and exit")
    ap.add_argument("--gpu", help="GPU id(s) for caffe -gpu (default: CPU when no GPU is present)")
    ap.add_argument("--name", help="run name (default: the experiment name)")
    add_run_args(ap)
    add_override_args(ap)
    a = ap.parse_args(argv)

    if a.list:
        for name, exp in sorted(EXPERIMENTS.items()):
            print(f"{name:36s} {exp.solver_path:50s} reported {exp.reported}")
        return 0
    if not a.experiment:
        raise UserError("name an experiment (see --list)")
    out = pipeline.run_experiment(a.experiment, run_name=a.name, resume=a.resume, gpu=a.gpu, overwrite=a.overwrite,
                                  overrides=overrides_of(a), cont=a.cont)
    print(f"{out.run}: {out.summary()}; plots in {out.plot_dir}")
    return 0


def entry() -> None:
    """The ``simplenet-reproduce`` command (also ``tools/reproduce.py``)."""
    run(main)
