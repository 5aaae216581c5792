"""The one protobuf I/O for Caffe's files, with one-line errors (:class:`UserError`).

* text prototxt: a net (``NetParameter``) or a solver (``SolverParameter``), parsed strictly
  (an unknown field is an error, as in Caffe);
* binary: a ``.caffemodel`` (``NetParameter`` with blobs) or a ``.binaryproto`` (``BlobProto``,
  e.g. a mean image).

Files a tool hands to Caffe are checked here first, because Caffe answers damage with a CHECK
abort (rc 134) or a crash: ``read_net(..., for_caffe=True)``, ``read_solver(..., net_root=)``,
``read_caffemodel`` and, for whatever static checks cannot see, :func:`trial_build` (Caffe
builds the net in a child process; its abort becomes one line). Writers go through
:func:`simplenet_caffe.atomic.write_atomic`.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from .atomic import write_atomic
from .caffe_env import caffe_pb2, fatal_message, import_caffe, tool_env
from .errors import UserError


def to_text(msg) -> str:
    """A message in protobuf text format (what Caffe reads from a .prototxt)."""
    return text_format.MessageToString(msg)


def write_text(path: str | os.PathLike, msg, header: str = "") -> Path:
    """Write ``header`` (e.g. ``# comment`` lines) + ``msg`` in text format, atomically."""
    return write_atomic(path, header + to_text(msg))


def write_binary(path: str | os.PathLike, msg) -> Path:
    """Write ``msg`` serialised (a .caffemodel or .binaryproto), atomically."""
    return write_atomic(path, msg.SerializeToString())


def read_text(path: str | os.PathLike, type_name: str, what: str):
    """Parse the text-format file ``path`` into a new ``caffe_pb2.<type_name>``; ``what`` names
    the file's kind in error messages. Bytes that are not UTF-8 text and parse errors are
    refused with ``file:line[:column]``."""
    p = Path(path)
    data = _read_bytes(p, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UserError(f"{p}:{line}: not UTF-8 text (byte 0x{data[e.start]:02X}), so not a {what}") from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise UserError(f"{p}:{line}: a NUL byte: a binary file, not a {what}")
    return parse_text(text, type_name, what, str(p))


def parse_text(text: str, type_name: str, what: str, where: str, first_line: int = 1):
    """Parse protobuf text into a new ``caffe_pb2.<type_name>``, strictly; errors name
    ``where:line[:column]``, lines counted from ``first_line`` (text cut from a larger file)."""
    msg = getattr(caffe_pb2(), type_name)()
    try:
        text_format.Merge(text, msg)
    except text_format.ParseError as e:
        detail = re.sub(r"^\d+:\d+ : ", "", str(e)).replace("\n", " ")
        at = f"{where}:{e.GetLine() + first_line - 1}:{e.GetColumn()}" if e.GetLine() else where
        raise UserError(f"{at}: not a valid {what}: {detail}") from None
    except ValueError as e:     # e.g. a number out of range for its field
        raise UserError(f"{where}: not a valid {what}: {str(e).replace(chr(10), ' ')}") from None
    return msg


def read_binary(path: str | os.PathLike, type_name: str, what: str):
    """Parse the binary file ``path`` into a new ``caffe_pb2.<type_name>``."""
    p = Path(path)
    data = _read_bytes(p, what)
    msg = getattr(caffe_pb2(), type_name)()
    try:
        msg.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise UserError(f"{p}: not a valid {what} (truncated or damaged?): {e}") from None
    return msg


def _read_bytes(p: Path, what: str) -> bytes:
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{p}: is a folder, not a {what}") from None
    except OSError as e:
        raise UserError(f"{p}: cannot read {what}: {e.strerror or e}") from None


def read_net(path_or_param, *, for_caffe: bool = False):
    """A ``NetParameter`` from a prototxt path (strict parse), or the ``NetParameter`` given.
    A net in the deprecated V1 ``layers`` field is refused. ``for_caffe``: also refuse what
    Caffe would abort on when it builds the net (:func:`check_net_for_caffe`)."""
    pb2 = caffe_pb2()
    if isinstance(path_or_param, pb2.NetParameter):
        net = path_or_param
    else:
        net = read_text(path_or_param, "NetParameter", "Caffe NetParameter prototxt")
        if len(net.layers):
            raise UserError(f"{path_or_param}: uses the deprecated V1 `layers` field; upgrade it with "
                            f"Caffe's upgrade_net_proto_text")
    if for_caffe:
        check_net_for_caffe(net, path_or_param if not isinstance(path_or_param, pb2.NetParameter) else net.name)
    return net


def in_phase(lp, phase: str) -> bool:
    """Caffe's NetStateRule filter for ``phase`` ("TRAIN"/"TEST"); stage/level rules are not used."""
    ph = caffe_pb2().Phase.Value(phase)
    if len(lp.include):
        return any(not r.HasField("phase") or r.phase == ph for r in lp.include)
    return not any(r.HasField("phase") and r.phase == ph for r in lp.exclude)


def check_net_for_caffe(net, where) -> None:
    """Refuse, in one line, what Caffe's net construction would abort on (a CHECK, rc 134):
    a layer type this Caffe build does not have (pycaffe's ``layer_type_list()``) and, in each
    phase, a bottom blob that no earlier layer (or legacy ``input:``) produces."""
    known = set(import_caffe().layer_type_list())
    for lp in net.layer:
        if lp.type not in known:
            raise UserError(f"{where}: layer {lp.name!r} has type {lp.type!r}, which this Caffe does not have "
                            f"(known: {', '.join(sorted(known)[:8])}, ...)")
    for phase in ("TRAIN", "TEST"):
        blobs = set(net.input)
        for lp in net.layer:
            if not in_phase(lp, phase):
                continue
            missing = [b for b in lp.bottom if b not in blobs]
            if missing:
                raise UserError(f"{where}: layer {lp.name!r} ({phase}) reads blob {missing[0]!r}, which no earlier "
                                f"layer of that phase produces")
            blobs.update(lp.top)


#: Solver types and learning-rate policies of BVLC Caffe (an unknown one is a LOG(FATAL) there).
SOLVER_TYPES = ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam")
LR_POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")


def read_solver(path: str | os.PathLike, *, net_root: str | os.PathLike | None = None):
    """A solver prototxt as a ``SolverParameter``. With ``net_root`` (the folder Caffe will run
    in, which relative paths are resolved against) the solver is checked for Caffe: a known
    type and lr_policy, and every net file it names exists and passes :func:`read_net` with
    ``for_caffe=True``."""
    sp = read_text(path, "SolverParameter", "Caffe SolverParameter prototxt")
    if net_root is None:
        return sp
    if sp.type and sp.type not in SOLVER_TYPES:
        raise UserError(f"{path}: solver type {sp.type!r} is not one of Caffe's ({', '.join(SOLVER_TYPES)})")
    if sp.lr_policy not in LR_POLICIES:
        raise UserError(f"{path}: lr_policy {sp.lr_policy!r} is not one of Caffe's ({', '.join(LR_POLICIES)})")
    files = [f for f in (sp.net, sp.train_net, *sp.test_net) if f]
    if not files and not (sp.HasField("net_param") or sp.HasField("train_net_param")):
        raise UserError(f"{path}: the solver names no net")
    for f in files:
        net_file = Path(f) if Path(f).is_absolute() else Path(net_root) / f
        if not net_file.is_file():
            raise UserError(f"{path}: its net {f} does not exist (relative paths are read from {net_root})")
        read_net(net_file, for_caffe=True)
    for inline in (sp.net_param, sp.train_net_param, *sp.test_net_param):
        if len(inline.layer):
            read_net(inline, for_caffe=True)
    return sp


def read_caffemodel(path: str | os.PathLike):
    """A ``.caffemodel`` as a ``NetParameter``; one without layers (V2 ``layer`` or V1
    ``layers``) is refused -- almost any bytes parse as an empty message -- and so is a blob
    whose data length is not the product of its shape (Caffe's Blob::FromProto CHECK)."""
    model = read_binary(path, "NetParameter", "Caffe .caffemodel")
    layers = list(model.layer) or list(model.layers)
    if not layers:
        raise UserError(f"{path} holds no layers: not a Caffe .caffemodel")
    for lp in layers:
        for i, blob in enumerate(lp.blobs):
            _check_blob(blob, f"{path}: layer {lp.name!r} blob {i}")
    return model


def read_blob(path: str | os.PathLike):
    """A ``.binaryproto`` as a ``BlobProto`` whose data fit its shape."""
    blob = read_binary(path, "BlobProto", "Caffe BlobProto")
    _check_blob(blob, str(path))
    return blob


def read_binaryproto(path: str | os.PathLike) -> np.ndarray:
    """A mean ``.binaryproto`` as a C×H×W float32 array (a 1×C×H×W blob loses its num axis)."""
    p = Path(path)
    blob = read_blob(p)
    shape = tuple(blob.shape.dim) if blob.HasField("shape") else (blob.num, blob.channels, blob.height, blob.width)
    data = np.array(blob.data if len(blob.data) else blob.double_data, dtype=np.float32)
    if not data.size or int(np.prod(shape)) != data.size:
        raise UserError(f"{p}: blob shape {shape} does not match its {data.size} values")
    data = data.reshape(shape)
    while data.ndim > 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 2:
        data = data[None]
    return data


def _check_blob(blob, where: str) -> None:
    legacy = ("num", "channels", "height", "width")
    dims = ([getattr(blob, f) for f in legacy] if any(blob.HasField(f) for f in legacy) else list(blob.shape.dim))
    count = math.prod(dims)
    n = len(blob.data) or len(blob.double_data)
    if any(d < 0 for d in dims) or n != count:
        raise UserError(f"{where}: {n} values for shape {'x'.join(map(str, dims))} ({count}): damaged file")


_TRIAL = """import sys
from simplenet_caffe import caffe_env
caffe = caffe_env.import_caffe()
caffe.set_mode_cpu()
net = caffe.Net(sys.argv[1], getattr(caffe, sys.argv[2]))
if len(sys.argv) > 3:
    net.copy_from(sys.argv[3])
"""


def trial_build(net_file: str | os.PathLike, phase: str = "TEST", weights: str | os.PathLike | None = None,
                where: str | os.PathLike | None = None) -> None:
    """Build ``net_file`` in ``phase`` (and load ``weights``) with pycaffe in a child process, so
    that whatever Caffe aborts on (a CHECK: rc 134, or a crash) becomes one :class:`UserError`
    line carrying Caffe's own message, instead of killing the calling process."""

    env = dict(tool_env(), GLOG_minloglevel="2", GLOG_logtostderr="1")
    args = [sys.executable, "-c", _TRIAL, str(net_file), phase, *([str(weights)] if weights is not None else [])]
    cp = subprocess.run(args, env=env, capture_output=True, text=True, errors="replace")
    if cp.returncode == 0:
        return
    last = fatal_message(cp.stderr) or (cp.stderr.strip().splitlines() or [""])[-1]
    what = f"{where or net_file}" + (f" with weights {weights}" if weights is not None else "")
    how = f"signal {-cp.returncode}" if cp.returncode < 0 else f"status {cp.returncode}"
    raise UserError(f"{what}: Caffe cannot build this net ({how}): {last.strip()[:300]}")
