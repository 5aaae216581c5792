"""Train with the real `caffe train`: log to logs/<run>/, live progress, resume, Ctrl-C snapshots.

    tools/train.py solvers/mnist_s300a_solver.prototxt            # -> logs/mnist_s300a/caffe.log
    tools/train.py solvers/mnist_s300a_solver.prototxt --resume   # newest .solverstate of that run
    tools/train.py solvers/mnist_s300a_solver.prototxt --resume snapshots/mnist_s300a/mnist_s300a_iter_5000.solverstate
    tools/train.py solvers/mnist_a5m_nodrop_ft_poly_solver.prototxt --weights base.caffemodel --gpu 0
    tools/train.py solvers/mnist_s300a_solver.prototxt -- -level 1   # extra caffe train flags after --

The whole Caffe log is written to logs/<run>/caffe.log (a resumed session to caffe.1.log,
caffe.2.log, ...; tools/parse_log.py logs/<run> stitches them). Ctrl-C is passed to Caffe,
which snapshots and stops. The exit status is Caffe's.
"""
from __future__ import annotations

import argparse
import sys

from simplenet_caffe.runs import training
from simplenet_caffe.cli import run


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("solver", help="solver prototxt (its paths are relative to the repo root)")
    ap.add_argument("--name", help="run name: logs go to logs/<name>/ (default: solver file stem without _solver)")
    ap.add_argument("--log-dir", help="log folder (default logs/<name>)")
    dev = ap.add_mutually_exclusive_group()
    dev.add_argument("--gpu", help="GPU id(s) for caffe -gpu: 0, 0,1 or all")
    dev.add_argument("--cpu", action="store_true", help="force CPU mode whatever the solver says")
    ap.add_argument("--resume", nargs="?", const=True, metavar="SOLVERSTATE",
                    help="continue from the run's newest .solverstate, or from the one given")
    ap.add_argument("--weights", help="caffemodel(s) to fine-tune from, comma-separated (not with --resume)")
    ap.add_argument("--overwrite", action="store_true", help="delete the run's earlier logs and start again")
    ap.add_argument("-v", "--verbose", action="store_true", help="also echo Caffe's output to stderr")
    ap.add_argument("--no-progress", action="store_true", help="no progress line")
    args = ap.parse_args(argv)
    weights = args.weights.split(",") if args.weights else None
    return training.train(args.solver, run_name=args.name, gpu=args.gpu, resume=args.resume, weights=weights,
                          extra_args=extra, log_dir=args.log_dir, cpu=args.cpu, overwrite=args.overwrite,
                          show_progress=not args.no_progress, echo=args.verbose)


def entry() -> None:
    """The ``simplenet-train`` command (also ``tools/train.py``)."""
    run(main)
