"""Train with the real `caffe train`: log to logs/<run>/, live progress, resume, Ctrl-C snapshots.

    tools/train.py solvers/mnist_s300a_solver.prototxt            # -> logs/mnist_s300a/caffe.log
    tools/train.py solvers/mnist_s300a_solver.prototxt --resume   # newest .solverstate of that run
    tools/train.py solvers/mnist_s300a_solver.prototxt --resume snapshots/mnist_s300a/mnist_s300a_iter_5000.solverstate
    tools/train.py solvers/mnist_a5m_nodrop_ft_poly_solver.prototxt --weights base.caffemodel --gpu 0
    tools/train.py solvers/mnist_s300a_solver.prototxt -- -level 1   # extra caffe train flags after --
    tools/train.py solvers/mnist_s300a_solver.prototxt --name smoke --max-iter 200 --test-iter 5

Every run gets its own solver, logs/<run>/solver.prototxt: the given solver with the overrides
(--max-iter, --seed, --base-lr, --batch-size, --stepvalues, ...) and CPU mode applied (its
header and the log's first lines say what changed), and a record, logs/<run>/run.json (state,
segments, seed, data recipe, build; tools/runs.py lists the runs). --resume runs that solver
again, with any overrides given now applied on top. A run named other than its solver (--name)
snapshots into its own folder (<prefix folder>/<run>/), so two runs never share snapshots;
--resume only considers the solverstates the run's own logs name, newest first, skipping (with a
warning) any that is damaged or does not fit the net. One process trains a run at a time: a
second start, resume or overwrite is refused naming the one that holds it.

The whole Caffe log is written to logs/<run>/caffe.log (a resumed session to caffe.1.log,
caffe.2.log, ...; tools/parse_log.py logs/<run> stitches them). Progress (iterations/s, ETA,
loss, test accuracy, and the batch of a running test pass) moves every few seconds; TensorBoard
scalars go to the same folder (tensorboard --logdir logs/). Ctrl-C, SIGTERM and SIGHUP make
Caffe snapshot and stop (exit status 128 + the signal number; continue with --resume); a
failed start can simply be rerun. A NaN or infinite loss stops Caffe at once (no snapshot) and
marks the run diverged (exit status 3). Otherwise the exit status is Caffe's.
"""
from __future__ import annotations

import argparse

from simplenet_caffe.runs import training
from simplenet_caffe.cli import run, split_passthrough
from simplenet_caffe.errors import UserError


def add_override_args(ap: argparse.ArgumentParser) -> None:
    """The solver overrides (recorded in the run's record and its own solver), shared with tools/reproduce.py."""
    g = ap.add_argument_group("solver overrides (written to the run's own solver logs/<run>/solver.prototxt)")
    for o in training.OVERRIDES.values():
        metavar = "A,B,..." if o.kind is list else ("X" if o.kind is float else "N")
        g.add_argument(o.flag, dest=o.key, metavar=metavar, help=o.help,
                       type=lambda text, key=o.key: _override_value(key, text))


def _override_value(key: str, text: str):
    try:
        return training.parse_override(key, text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e).split(" takes ", 1)[-1]) from None


def add_run_args(ap: argparse.ArgumentParser) -> None:
    """--resume/--continue/--overwrite, shared with tools/reproduce.py."""
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--resume", nargs="?", const=True, metavar="SOLVERSTATE",
                   help="continue the run from its newest good .solverstate (or the one given), with its own "
                        "solver and overrides; overrides given now are applied on top")
    g.add_argument("--continue", dest="cont", action="store_true",
                   help="--resume when the run has a snapshot, else start it; nothing to do when it is done "
                        "(for sweeps and requeued jobs)")
    g.add_argument("--overwrite", action="store_true", help="delete the run's earlier logs and start it again")


def overrides_of(args) -> dict:
    return {k: getattr(args, k) for k in training.OVERRIDES if getattr(args, k, None) is not None}


def main(argv=None) -> int:
    argv, extra = split_passthrough(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("solver", help="solver prototxt (its paths are relative to the repo root)")
    ap.add_argument("--name", help="run name: logs go to logs/<name>/ (default: solver file stem without _solver)")
    ap.add_argument("-o", "--out", "--log-dir", dest="log_dir", help="the run's folder (default logs/<name>)")
    dev = ap.add_mutually_exclusive_group()
    dev.add_argument("--gpu", help="GPU id(s) for caffe -gpu: 0, 0,1 or all")
    dev.add_argument("--cpu", action="store_true", help="force CPU mode whatever the solver says")
    add_run_args(ap)
    ap.add_argument("--weights", help="caffemodel(s) to fine-tune from, comma-separated (not with --resume)")
    add_override_args(ap)
    ap.add_argument("--progress-seconds", type=float, default=2.0, metavar="S",
                    help="how often Caffe reports progress while it trains and tests (default 2; 0: off)")
    ap.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard event file")
    ap.add_argument("-v", "--verbose", action="store_true", help="also echo Caffe's output to stderr")
    ap.add_argument("--no-progress", action="store_true", help="no progress line")
    args = ap.parse_args(argv)
    weights = args.weights.split(",") if args.weights else None
    res = training.train(args.solver, run_name=args.name, gpu=args.gpu, resume=args.resume, weights=weights,
                         extra_args=extra, log_dir=args.log_dir, cpu=args.cpu, overwrite=args.overwrite,
                         show_progress=not args.no_progress, echo=args.verbose, overrides=overrides_of(args),
                         progress_seconds=args.progress_seconds, tensorboard=not args.no_tensorboard,
                         cont=args.cont)
    return res.rc


def entry() -> None:
    """The ``simplenet-train`` command (also ``tools/train.py``)."""
    run(main)
