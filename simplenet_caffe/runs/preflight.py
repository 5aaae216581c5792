"""Checks made before ``caffe train`` starts, for what a user can get wrong and Caffe would only
abort on (a CHECK failure, exit 134, a stack trace and often no path):

* a data source of the net missing or empty -- each Data layer's LMDB / LevelDB folder (in the
  TRAIN phase, and the TEST phase when the solver tests), ImageData / HDF5Data list files and
  ``transform_param.mean_file``s; the message names them and the command that prepares a
  known layout (:data:`simplenet_caffe.data.layout.LAYOUTS`);
* ``--weights`` of another net: a layer whose blob shapes differ (Caffe copies weights by layer
  name and aborts on a shape mismatch) or no layer of the net in the file at all (Caffe would
  silently train from random fillers);
* a solver type changed on resume: Adam and AdaDelta keep two history blobs per parameter, the
  other types one; Caffe aborts on a count that differs from its own.

Relative paths are read from ``cwd``, the folder Caffe runs in (the repo root).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..data.layout import LAYOUTS
from ..data.lmdbio import count_lmdb
from ..errors import UserError
from ..protoio import in_phase, read_binary, read_caffemodel, read_net
from .evaluation import check_weights
from .snapshots import train_net

#: solver types that keep two history blobs per learnable blob (history + update); others keep one
TWO_HISTORY_TYPES = ("Adam", "AdaDelta")
#: the deprecated ``solver_type`` enum's names -> the ``type`` strings
_OLD_TYPES = {"SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad", "RMSPROP": "RMSProp",
              "ADADELTA": "AdaDelta", "ADAM": "Adam"}


def check_train(sp, net_file: str | os.PathLike | None, cwd: str | os.PathLike,
                weights: Sequence[str | os.PathLike], state: str | os.PathLike | None) -> None:
    """Raise :class:`UserError` (one line, with what to do) for what ``caffe train`` would abort
    on: ``sp`` the SolverParameter Caffe gets, ``net_file`` its train net (None: the solver holds
    its net inline), ``weights`` the ``-weights`` caffemodels, ``state`` the ``-snapshot``
    solverstate or None."""
    cwd = Path(cwd)
    net = _solver_train_net(sp, net_file)
    where = str(net_file) if net_file is not None else "the solver's inline net"
    # Caffe tests the train net file itself (`net`) when test_iter has more entries than test nets
    n_test_nets = len(sp.test_net) + len(sp.test_net_param)
    tests_net = bool(sp.net or sp.HasField("net_param")) and len(sp.test_iter) > n_test_nets
    phases = ("TRAIN", "TEST") if tests_net else ("TRAIN",)
    check_sources(net, where, cwd, phases)
    for f in sp.test_net:                 # separate test nets (the solver's test_net files)
        check_sources(read_net(_abs(f, cwd)), f, cwd, ("TEST",))
    if weights and net_file is not None:
        check_weights_fit(net_file, weights, cwd)
    if state is not None:
        check_solver_type(sp, Path(state), net_file)


def batch_order_note(sp, net_file: str | os.PathLike | None, cwd: str | os.PathLike, start_iter: int) -> str | None:
    """A note when a resume at `start_iter` changes which batches the training sees, else None.

    A .solverstate holds the weights, the solver's history and the iteration, not a Data layer's
    place in its LMDB: a resumed ``caffe train`` reads from the first record again. An
    uninterrupted run is there only when ``start_iter`` x batch x iter_size is a whole number of
    passes over the records."""
    cwd = Path(cwd)
    net = _solver_train_net(sp, net_file)
    per_iter_factor = max(1, sp.iter_size)
    for lp in net.layer:
        if lp.type != "Data" or not in_phase(lp, "TRAIN") or lp.data_param.backend != lp.data_param.LMDB:
            continue
        try:
            n = count_lmdb(_abs(lp.data_param.source, cwd))
        except UserError:
            continue
        per_iter = lp.data_param.batch_size * per_iter_factor
        if n == 0 or per_iter == 0 or (start_iter * per_iter) % n == 0:
            continue
        epoch = f"; resuming at a multiple of {n // per_iter:,} iterations (one pass) keeps them" \
            if n % per_iter == 0 else ""
        return (f"resuming at iteration {start_iter:,}: Caffe's Data layer reads {lp.data_param.source} from its "
                f"first record again, so the training batches from here differ from an uninterrupted run's{epoch}")
    return None


def _solver_train_net(sp, net_file: str | os.PathLike | None):
    """The NetParameter ``caffe train`` builds its train net from: `net_file`, else the solver's inline net."""
    return read_net(net_file) if net_file is not None else (sp.train_net_param if sp.HasField("train_net_param")
                                                            else sp.net_param)


def _abs(path: str, cwd: Path) -> Path:
    return Path(path) if Path(path).is_absolute() else cwd / path


def _prep_hint(source: str) -> str:
    """`` (prepare it with: CMD)`` for a known layout's LMDB or mean file, else ``""``."""
    src = Path(source).as_posix().removeprefix("./")
    for lay in LAYOUTS.values():
        if src in (lay.train_lmdb, lay.test_lmdb, lay.mean_file) and lay.command:
            return f" (prepare it with: {lay.command})"
    return ""


def check_sources(net, where: str, cwd: Path, phases: Sequence[str] = ("TRAIN", "TEST")) -> None:
    """Every data source the net's layers open in ``phases`` exists (and an LMDB holds records)."""
    problems: list[str] = []
    seen: set[str] = set()

    def bad(layer: str, what: str, path: str, why: str) -> None:
        if path not in seen:
            seen.add(path)
            problems.append(f"layer {layer!r}: {what} {path} {why}{_prep_hint(path)}")

    for lp in net.layer:
        if not any(in_phase(lp, ph) for ph in phases):
            continue
        if lp.transform_param.mean_file and not _abs(lp.transform_param.mean_file, cwd).is_file():
            bad(lp.name, "mean file", lp.transform_param.mean_file, "does not exist")
        if lp.type == "Data":
            src = lp.data_param.source
            path = _abs(src, cwd)
            lmdb = lp.data_param.backend == lp.data_param.LMDB
            kind = "LMDB" if lmdb else "LevelDB"
            if not src:
                problems.append(f"layer {lp.name!r}: names no data source")
            elif not path.is_dir():
                bad(lp.name, kind, src, "does not exist" if not path.exists() else "is not a folder")
            elif lmdb:
                try:
                    n = count_lmdb(path)
                except UserError as e:
                    bad(lp.name, kind, src, f"cannot be read ({e})")
                    continue
                if n == 0:
                    bad(lp.name, kind, src, "holds no records")
        elif lp.type in ("ImageData", "WindowData"):
            param = lp.image_data_param if lp.type == "ImageData" else lp.window_data_param
            if not _abs(param.source, cwd).is_file():
                bad(lp.name, f"{lp.type} list file", param.source, "does not exist")
        elif lp.type == "HDF5Data":
            if not _abs(lp.hdf5_data_param.source, cwd).is_file():
                bad(lp.name, "HDF5 list file", lp.hdf5_data_param.source, "does not exist")
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:])})" if len(problems) > 1 else ""
        raise UserError(f"{where}: {problems[0]}{more}; paths are read from {cwd}")


def check_weights_fit(net_file: str | os.PathLike, weights: Sequence[str | os.PathLike], cwd: Path) -> None:
    """Each ``-weights`` caffemodel fits the train net: no layer of the same name with other blob
    shapes, and at least one of the net's layers with parameters in the file."""
    net = train_net(net_file)
    for w in weights:
        path = Path(w) if Path(w).is_file() else _abs(str(w), cwd)
        try:
            check_weights(net, path, allow_partial=True)
        except UserError as e:
            raise UserError(f"--weights: {e}; Caffe copies weights by layer name: rename those layers in "
                            f"{net_file} to start them from their fillers, or give a caffemodel of this net") from None
        model = read_caffemodel(path)
        saved = {lp.name for lp in (list(model.layer) or list(model.layers)) if len(lp.blobs)}
        if not saved & set(net.params):
            raise UserError(f"--weights: {w} has weights for none of the {len(net.params)} layers with parameters "
                            f"of {net_file} (a caffemodel of another net); Caffe would train from random fillers")


def _solver_type(sp) -> str:
    if sp.type:
        return sp.type
    if sp.HasField("solver_type"):
        return _OLD_TYPES[sp.SolverType.Name(sp.solver_type)]
    return "SGD"


def check_solver_type(sp, state: Path, net_file: str | os.PathLike | None) -> None:
    """The solverstate's history blob count fits the solver type (one or two per parameter blob)."""
    if state.name.endswith(".h5"):
        import h5py

        try:
            with h5py.File(state, "r") as f:
                n_hist = len(f["history"]) if "history" in f else 0
        except OSError as e:
            raise UserError(f"{state}: not a readable HDF5 solverstate ({e})") from None
    else:
        n_hist = len(read_binary(state, "SolverState", "Caffe .solverstate").history)
    if net_file is None or n_hist == 0:
        return
    n_params = sum(len(blobs) for blobs in train_net(net_file).params.values())
    if n_params == 0:
        return
    kind = _solver_type(sp)
    want = n_params * (2 if kind in TWO_HISTORY_TYPES else 1)
    if n_hist == want or n_hist not in (n_params, 2 * n_params):
        return   # a count that fits no type is left to the snapshot checks
    was = "Adam or AdaDelta" if n_hist == 2 * n_params else "SGD, Nesterov, AdaGrad or RMSProp"
    raise UserError(f"{state} was written by a solver of type {was} ({n_hist // n_params} history blob(s) per "
                    f"parameter), but the solver now says type {kind!r}: resume with the solver type the run "
                    f"was trained with, or start a new run from its weights (--weights <its .caffemodel>)")
