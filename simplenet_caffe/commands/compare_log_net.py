"""Compare the solver and nets a Caffe training log printed with a solver of ours, field by field.

    tools/compare_log_net.py AUTHORS.log solvers/mnist_s300a_solver.prototxt
    tools/compare_log_net.py logs/myrun/caffe.log logs/myrun/solver.prototxt -o compare.md

Reads the log's "Initializing solver from parameters:" and "Initializing net from parameters:"
blocks (the first training session that printed them) as caffe_pb2 messages, and our solver and
the net it names (relative paths from --root, default the current folder; or --net). Compares
effective values (unset = caffe.proto's default) after normalising what does not change the maths:
layer and blob names, in-place vs separate tops, BatchNorm param specs, data source paths. Prints
a Markdown report (also to -o FILE): the differences per solver field and per layer, what was
normalised away, and which learnable blobs the weight decay reaches. Exit 0 when it compared
(differences are findings), 2 on bad input (a log without those blocks, a missing file).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simplenet_caffe.atomic import write_atomic
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets import logdiff
from simplenet_caffe.protoio import read_net, read_solver
from simplenet_caffe.runs.caffelog import read_segments


def _our_net(solver, solver_path: Path, net_arg: Path | None, root: Path):
    if net_arg is not None:
        return read_net(net_arg), str(net_arg)
    if solver.HasField("net_param"):
        return solver.net_param, f"{solver_path} (net_param)"
    name = solver.net or solver.train_net
    if not name:
        raise UserError(f"{solver_path}: the solver names no net (give --net)")
    p = Path(name)
    p = p if p.is_absolute() else root / p
    if not p.is_file():
        raise UserError(f"{solver_path}: its net {name} does not exist (relative paths are read from {root}; "
                        f"give --root or --net)")
    return read_net(p), str(p)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("log", type=Path, help="a Caffe training log (any Caffe version, glog or Windows)")
    ap.add_argument("solver", type=Path, help="our solver prototxt")
    ap.add_argument("--net", type=Path, help="our train/test net prototxt (default: the one the solver names)")
    ap.add_argument("--root", type=Path, default=Path("."),
                    help="folder the solver's relative net path is read from (default: the current folder)")
    ap.add_argument("-o", "--out", type=Path, help="also write the report to this file")
    args = ap.parse_args(argv)


    try:
        reader = read_segments(args.log)
    except ValueError as e:
        raise UserError(str(e)) from None
    seg = next((s for s in reader.segments if s.solver_text and s.net_texts), None)
    if seg is None:
        first = next((s for s in reader.segments if s.solver_text), None)
        logdiff.require_printed(first.solver_text if first else "", [], str(args.log))
    their_solver, their_nets = logdiff.printed_params(seg.solver_text, seg.net_texts, str(args.log))
    solver = read_solver(args.solver)
    net, net_name = _our_net(solver, args.solver, args.net, args.root)
    res = logdiff.compare(their_solver, their_nets, solver, net,
                          sources={"log": f"{args.log} (session {seg.index_in_file + 1} of {len(reader.segments)})",
                                   "solver": str(args.solver), "net": net_name})
    text = res.to_markdown()
    if args.out:
        write_atomic(args.out, text)
    print(text, end="")
    return 0


def entry() -> None:
    run(main)


if __name__ == "__main__":
    entry()
