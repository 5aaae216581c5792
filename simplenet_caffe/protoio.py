"""The one protobuf I/O for Caffe's files, with one-line errors (:class:`UserError`).

* text prototxt: a net (``NetParameter``) or a solver (``SolverParameter``), parsed strictly
  (an unknown field is an error, as in Caffe);
* binary: a ``.caffemodel`` (``NetParameter`` with blobs) or a ``.binaryproto`` (``BlobProto``,
  e.g. a mean image).

Writers go through :func:`simplenet_caffe.atomic.write_atomic`.
"""
from __future__ import annotations

import os
from pathlib import Path

from .atomic import write_atomic
from .caffe_env import caffe_pb2
from .errors import UserError


def to_text(msg) -> str:
    """A message in protobuf text format (what Caffe reads from a .prototxt)."""
    from google.protobuf import text_format

    return text_format.MessageToString(msg)


def write_text(path: str | os.PathLike, msg, header: str = "") -> Path:
    """Write ``header`` (e.g. ``# comment`` lines) + ``msg`` in text format, atomically."""
    return write_atomic(path, header + to_text(msg))


def write_binary(path: str | os.PathLike, msg) -> Path:
    """Write ``msg`` serialised (a .caffemodel or .binaryproto), atomically."""
    return write_atomic(path, msg.SerializeToString())


def read_text(path: str | os.PathLike, type_name: str, what: str):
    """Parse the text-format file ``path`` into a new ``caffe_pb2.<type_name>``; ``what`` names
    the file's kind in error messages."""
    from google.protobuf import text_format

    return _read(path, type_name, what, lambda data, msg: text_format.Merge(data.decode(), msg))


def read_binary(path: str | os.PathLike, type_name: str, what: str):
    """Parse the binary file ``path`` into a new ``caffe_pb2.<type_name>``."""
    return _read(path, type_name, what, lambda data, msg: msg.ParseFromString(data))


def _read(path, type_name: str, what: str, parse):
    from google.protobuf.message import DecodeError
    from google.protobuf.text_format import ParseError

    p = Path(path)
    msg = getattr(caffe_pb2(), type_name)()
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{p}: no such file") from None
    except OSError as e:
        raise UserError(f"{p}: cannot read {what}: {e}") from None
    try:
        parse(data, msg)
    except (ParseError, DecodeError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{p}: not a valid {what}: {e}") from None
    return msg


def read_net(path_or_param):
    """A ``NetParameter`` from a prototxt path (strict parse), or the ``NetParameter`` given.
    A net in the deprecated V1 ``layers`` field is refused."""
    pb2 = caffe_pb2()
    if isinstance(path_or_param, pb2.NetParameter):
        return path_or_param
    net = read_text(path_or_param, "NetParameter", "Caffe NetParameter prototxt")
    if len(net.layers):
        raise UserError(f"{path_or_param}: uses the deprecated V1 `layers` field; upgrade it with "
                        f"Caffe's upgrade_net_proto_text")
    return net


def read_solver(path: str | os.PathLike):
    """A solver prototxt as a ``SolverParameter``."""
    return read_text(path, "SolverParameter", "Caffe SolverParameter prototxt")


def read_caffemodel(path: str | os.PathLike):
    """A ``.caffemodel`` as a ``NetParameter``; one without layers (V2 ``layer`` or V1
    ``layers``) is refused -- almost any bytes parse as an empty message."""
    model = read_binary(path, "NetParameter", "Caffe .caffemodel")
    if not (len(model.layer) or len(model.layers)):
        raise UserError(f"{path} holds no layers: not a Caffe .caffemodel")
    return model


def read_blob(path: str | os.PathLike):
    """A ``.binaryproto`` as a ``BlobProto``."""
    return read_binary(path, "BlobProto", "Caffe BlobProto")
