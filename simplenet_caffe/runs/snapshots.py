"""A run's snapshots: which ``.solverstate`` / ``.caffemodel`` files belong to it, and whether one
can be resumed from.

A run owns the snapshots its own logs name (Caffe logs ``Snapshotting solver state to binary
proto file <path>``): never files that merely share a ``snapshot_prefix`` with it, which may be
another run's.  Paths in the log are relative to the folder Caffe ran in (the repo root).

:func:`pick_resume_state` takes the newest state that passes :func:`check_state` -- the
solverstate parses, its caffemodel (``learned_net``) exists, parses and fits the net layer by
layer, and its history blobs match the net's parameters -- and falls back to the previous good
one with a warning for each it skips (a state truncated by a crash or a full disk).
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .. import caffe_env
from ..errors import UserError
from ..nets.netbuilder import train_val_to_inputs
from ..paths import REPO_ROOT
from ..protoio import read_binary, read_caffemodel, read_net, to_text
from .caffelog import read_segments
from .evaluation import check_weights

_ITER_RE = re.compile(r"_iter_(\d+)\.(?:solverstate|caffemodel)(?:\.h5)?\Z")


@dataclass
class Snapshot:
    iteration: int
    solverstate: Path | None = None
    caffemodel: Path | None = None


def iteration_of(p: str) -> int | None:
    """N of a ``..._iter_N.solverstate`` / ``.caffemodel`` file name, else None."""
    m = _ITER_RE.search(p)
    return int(m.group(1)) if m else None


def logged_snapshots(logs: Sequence[str | os.PathLike], cwd: str | os.PathLike = REPO_ROOT) -> list[Snapshot]:
    """The snapshots the run's log files name, that still exist, oldest iteration first."""
    cwd = Path(cwd)
    by_iter: dict[int, Snapshot] = {}
    for log in logs:
        try:
            segments = read_segments(log).segments
        except (OSError, ValueError):
            continue
        for _, name, _ in (snap for seg in segments for snap in seg.snapshots):
            p = Path(name)
            p = p if p.is_absolute() else cwd / p
            it = iteration_of(p.name)
            if it is None or not p.is_file():
                continue
            snap = by_iter.setdefault(it, Snapshot(it))
            if p.name.endswith(".caffemodel") or p.name.endswith(".caffemodel.h5"):
                snap.caffemodel = p
            else:
                snap.solverstate = p
    return [by_iter[i] for i in sorted(by_iter)]


def train_net(net_path: str | os.PathLike):
    """The TRAIN-phase pycaffe net of a train_val prototxt, data layers swapped for Inputs (batch 1):
    what a caffemodel/solverstate of the run must fit."""

    caffe = caffe_env.import_caffe()
    param = train_val_to_inputs(read_net(net_path), batch=1)
    with tempfile.NamedTemporaryFile("w", suffix=".prototxt") as tmp:
        tmp.write(to_text(param))
        tmp.flush()
        return caffe.Net(tmp.name, caffe.TRAIN)


def check_state(state: Path, net, cwd: str | os.PathLike = REPO_ROOT) -> Path:
    """Raise UserError (one line) unless ``state`` can be resumed into ``net`` (a pycaffe net, see
    :func:`train_net`; None: only check that the files parse); return its caffemodel."""
    cwd = Path(cwd)
    if state.name.endswith(".h5"):
        import h5py

        model = Path(str(state).replace(".solverstate.h5", ".caffemodel.h5"))
        for p in (state, model):
            try:
                with h5py.File(p, "r"):
                    pass
            except OSError as e:
                raise UserError(f"{p}: not a readable HDF5 snapshot ({e})") from None
        return model
    st = read_binary(state, "SolverState", "Caffe .solverstate")
    if not st.learned_net:
        raise UserError(f"{state}: names no caffemodel (learned_net); not a Caffe solverstate")
    model = Path(st.learned_net)
    model = model if model.is_absolute() else cwd / model
    if not model.is_file():
        raise UserError(f"{state}: its caffemodel {st.learned_net} is missing")
    read_caffemodel(model)
    if net is None:
        return model
    check_weights(net, model)
    shapes = [tuple(b.data.shape) for blobs in net.params.values() for b in blobs]
    hist = [tuple(h.shape.dim) if h.HasField("shape") else (h.num, h.channels, h.height, h.width)
            for h in st.history]
    if not hist or not shapes or len(hist) % len(shapes):
        raise UserError(f"{state}: {len(hist)} history blobs for {len(shapes)} parameter blobs of the net")
    squeeze = lambda s: tuple(d for d in s if d != 1)  # noqa: E731 - V1 blobs are 4-D padded with 1s
    bad = [i for i, h in enumerate(hist) if squeeze(h) != squeeze(shapes[i % len(shapes)])]
    if bad:
        raise UserError(f"{state}: history blob {bad[0]} has shape {hist[bad[0]]}, the net's parameter "
                        f"{shapes[bad[0] % len(shapes)]}")
    return model


def pick_resume_state(states: Sequence[Path], net_path: str | os.PathLike | None, cwd: str | os.PathLike = REPO_ROOT,
                      warn: Callable[[str], None] = print) -> Path:
    """The newest of ``states`` (oldest first) that passes :func:`check_state`, warning for each
    skipped; ``net_path`` None (a solver with its net inline) checks only that the files parse."""
    net = train_net(net_path) if net_path and any(not s.name.endswith(".h5") for s in states) else None
    for state in reversed(states):
        try:
            check_state(state, net, cwd)
            return state
        except UserError as e:
            warn(f"skipping {state}: {e}")
    raise UserError(f"none of the run's {len(states)} solverstate(s) can be resumed (see the warnings above)")
