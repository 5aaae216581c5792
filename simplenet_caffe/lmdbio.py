"""The one LMDB writer and reader for Caffe ``Datum`` records.

Conventions
-----------
* Arrays are **CHW** numpy arrays. ``uint8`` arrays become ``Datum.data`` (raw bytes, 0-255),
  ``float32`` arrays become ``Datum.float_data`` (values stored as given, e.g. already
  standardised). Channel order is whatever the caller passes; the readers in this package
  document theirs (see docs/data.md) and the recipes record it in ``preprocess.json``.
* Encoded records (``encoded=True``): the item's array is the *decoded* image (CHW uint8,
  BGR for colour, as OpenCV decodes it) plus, optionally, ready-made file bytes; the Datum
  holds the JPEG/PNG bytes **with channels/height/width set** (Caffe's convert_imageset leaves
  them 0, which breaks tools that look at the shape).
* Keys are ``%08d`` (or ``%08d_<suffix>``) in write order, so LMDB's byte-sorted key order is
  the write order (Caffe's data layer reads in key order).
* The DB is written into a hidden temporary folder beside the target and renamed when
  complete: an interrupted run never leaves a DB that looks complete. An existing target is
  refused unless ``force=True``.
* Transactions are committed every ``commit_every`` records; the map size starts small and
  doubles whenever LMDB reports MDB_MAP_FULL (the batch is then redone).
"""
from __future__ import annotations

import collections
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .caffe_env import caffe_pb2
from .cli import UserError, progress

INITIAL_MAP_SIZE = 1 << 26  # 64 MiB; doubled on demand
ENCODINGS = ("png", "jpg")
MAX_KEY = 500  # LMDB's default key limit is 511 bytes


@dataclass
class Summary:
    """What :func:`write_lmdb` wrote."""

    path: str
    count: int = 0
    shape: tuple[int, ...] | None = None     # CHW of the records (None if they differ)
    dtype: str | None = None                 # "uint8", "float32", or "encoded-png"/"encoded-jpg"
    label_counts: dict[int, int] = field(default_factory=dict)
    bytes: int = 0                           # size of data.mdb

    def lines(self) -> list[str]:
        shape = "x".join(map(str, self.shape)) if self.shape else "varying"
        labels = ", ".join(f"{k}: {v}" for k, v in sorted(self.label_counts.items()))
        return [
            f"{self.path}: {self.count} records, shape {shape} (CxHxW), {self.dtype}, {self.bytes / 2**20:.1f} MiB",
            f"  label counts ({len(self.label_counts)} classes): {labels}",
        ]

    def as_dict(self) -> dict:
        return {"path": self.path, "count": self.count, "shape": list(self.shape) if self.shape else None,
                "dtype": self.dtype, "label_counts": {str(k): v for k, v in sorted(self.label_counts.items())}}


def make_datum(array: np.ndarray, label: int, encoded: bytes | None = None):
    """A Caffe Datum from a CHW array (uint8 → data, float → float_data) or encoded bytes."""
    pb = caffe_pb2()
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise UserError(f"records must be CHW arrays, got shape {array.shape}")
    c, h, w = array.shape
    d = pb.Datum(channels=c, height=h, width=w, label=int(label))
    if encoded is not None:
        d.data = encoded
        d.encoded = True
    elif array.dtype == np.uint8:
        d.data = np.ascontiguousarray(array).tobytes()
    elif array.dtype.kind == "f":
        d.float_data.extend(array.astype(np.float32, copy=False).ravel().tolist())
    else:
        raise UserError(f"records must be uint8 or float32 arrays, got {array.dtype}")
    return d


def datum_to_array(datum) -> np.ndarray:
    """CHW array of a Datum: uint8 for byte data, float32 for float_data; encoded ones decoded
    with OpenCV (colour as BGR, 1-channel PNG/JPEG kept 1-channel)."""
    if datum.encoded:
        import cv2

        img = cv2.imdecode(np.frombuffer(datum.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise UserError("an encoded Datum could not be decoded")
        return img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    shape = (datum.channels, datum.height, datum.width)
    if datum.data:
        return np.frombuffer(datum.data, np.uint8).reshape(shape)
    return np.array(datum.float_data, dtype=np.float32).reshape(shape)


def encode_image(chw: np.ndarray, fmt: str) -> bytes:
    """PNG/JPEG bytes of a CHW uint8 array (channels as stored: BGR or gray)."""
    import cv2

    if fmt not in ENCODINGS:
        raise UserError(f"unknown encoding {fmt!r} (choose from {', '.join(ENCODINGS)})")
    hwc = chw[0] if chw.shape[0] == 1 else chw.transpose(1, 2, 0)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == "jpg" else []
    ok, buf = cv2.imencode("." + fmt, np.ascontiguousarray(hwc), params)
    if not ok:
        raise UserError(f"OpenCV could not encode an image as {fmt}")
    return buf.tobytes()


def _temp_path(target: Path) -> Path:
    return target.parent / f".{target.name}.partial-{os.getpid()}"


def check_target(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``; create the parent folder."""
    target = Path(path)
    if target.exists() and not force:
        raise UserError(f"{target} already exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def write_lmdb(path: str | os.PathLike, items: Iterable, total: int | None = None, force: bool = False,
               encode: str | None = None, key_suffix: bool = False, commit_every: int = 1000,
               desc: str | None = None, map_size: int = INITIAL_MAP_SIZE) -> Summary:
    """Write ``items`` to a new LMDB at ``path`` and return a :class:`Summary`.

    ``items`` yields ``(array, label)``, ``(array, label, suffix)`` or ``(array, label, suffix,
    raw)``; ``array`` is CHW uint8 or float32. ``suffix`` (e.g. the image's path) is appended
    to the key when ``key_suffix``; ``raw``, with ``encode``, is ready-made file bytes to
    store instead of re-encoding ``array`` (which still gives C/H/W).
    ``encode`` = "png"/"jpg" stores encoded Datums with C/H/W set.
    """
    import lmdb

    target = check_target(path, force)
    tmp = _temp_path(target)
    if tmp.exists():
        shutil.rmtree(tmp)
    summary = Summary(str(target))
    labels: list[int] = []
    shape: tuple | None = None
    varying = False
    kind: str | None = None          # "uint8" | "float32" | "encoded-<fmt>": one per DB
    datum = caffe_pb2().Datum()      # reused: Clear() + set is cheaper than a new message per record
    # sync=False: commits are not fsync'ed one by one; the one env.sync(True) before the rename
    # makes the finished DB durable (an unfinished one is never renamed into place anyway).
    env = lmdb.open(str(tmp), map_size=map_size, subdir=True, meminit=False, sync=False, metasync=False)
    bar = progress(None, total=total, desc=desc or target.name, unit="rec")
    try:
        batch: list[tuple[bytes, bytes]] = []

        def flush():
            while True:
                try:
                    with env.begin(write=True) as txn:
                        txn.cursor().putmulti(batch, append=True)
                    break
                except lmdb.MapFullError:
                    env.set_mapsize(env.info()["map_size"] * 2)
            bar.update(len(batch))
            batch.clear()

        for n, item in enumerate(items):
            array, label = item[0], int(item[1])
            if array.ndim == 2:
                array = array[None]
            if array.shape != shape:
                if array.ndim != 3:
                    raise UserError(f"records must be CHW arrays, got shape {array.shape}")
                varying = varying or shape is not None
                shape = array.shape
            rec_kind = f"encoded-{encode}" if encode else ("uint8" if array.dtype == np.uint8 else "float32")
            if rec_kind != kind:
                if kind is not None:
                    raise UserError(f"records mix data types ({kind} and {rec_kind}); one DB holds one type")
                if not encode and array.dtype != np.uint8 and array.dtype.kind != "f":
                    raise UserError(f"records must be uint8 or float32 arrays, got {array.dtype}")
                kind = rec_kind
            datum.Clear()
            datum.channels, datum.height, datum.width = shape
            datum.label = label
            if encode:
                raw = item[3] if len(item) > 3 else None
                datum.data = raw if raw is not None else encode_image(array, encode)
                datum.encoded = True
            elif kind == "uint8":
                datum.data = array.tobytes()
            else:
                datum.float_data.extend(array.astype(np.float32, copy=False).ravel().tolist())
            key = b"%08d" % n
            if key_suffix and len(item) > 2 and isinstance(item[2], str):
                key = (key + b"_" + item[2].encode())[:MAX_KEY]
            batch.append((key, datum.SerializeToString()))
            labels.append(label)
            if len(batch) >= commit_every:
                flush()
        if batch:
            flush()
        bar.close()
        env.sync(True)
        env.close()
        summary.count = len(labels)
        if summary.count == 0:
            raise UserError(f"no records to write to {target}")
        summary.shape = None if varying else tuple(shape)
        summary.dtype = kind
        summary.label_counts = dict(sorted(collections.Counter(labels).items()))
        summary.bytes = (tmp / "data.mdb").stat().st_size
        _replace(tmp, target)
    except BaseException:
        bar.close()
        try:
            env.close()
        except Exception:  # noqa: BLE001
            pass
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _replace(tmp: Path, target: Path) -> None:
    """Move the finished temp DB onto ``target`` (an old one is removed only after the move)."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.rename(target, old)
    os.rename(tmp, target)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()


def _open_read(path: str | os.PathLike):
    import lmdb

    p = Path(path)
    if not (p / "data.mdb").is_file():
        raise UserError(f"{p} is not an LMDB folder (no data.mdb)")
    try:
        return lmdb.open(str(p), readonly=True, lock=False, readahead=False, subdir=True)
    except lmdb.Error as e:
        raise UserError(f"cannot open LMDB {p}: {e}") from e


def count_lmdb(path: str | os.PathLike) -> int:
    env = _open_read(path)
    try:
        return env.stat()["entries"]
    finally:
        env.close()


def read_lmdb(path: str | os.PathLike, limit: int | None = None) -> Iterator[tuple[str, np.ndarray, int]]:
    """Yield ``(key, array CHW, label)`` in key order (uint8 or float32; encoded ones decoded)."""
    pb = caffe_pb2()
    env = _open_read(path)
    datum = pb.Datum()
    try:
        with env.begin() as txn:
            for n, (k, v) in enumerate(txn.cursor()):
                if limit is not None and n >= limit:
                    break
                try:
                    datum.ParseFromString(v)
                except Exception as e:  # noqa: BLE001
                    raise UserError(f"{path}: record {k!r} is not a Caffe Datum ({e})") from e
                yield k.decode(errors="replace"), datum_to_array(datum), int(datum.label)
    finally:
        env.close()


def read_datums(path: str | os.PathLike, limit: int | None = None) -> Iterator[tuple[str, object]]:
    """Yield ``(key, Datum)`` (a fresh Datum each time) in key order."""
    pb = caffe_pb2()
    env = _open_read(path)
    try:
        with env.begin() as txn:
            for n, (k, v) in enumerate(txn.cursor()):
                if limit is not None and n >= limit:
                    break
                d = pb.Datum()
                d.ParseFromString(v)
                yield k.decode(errors="replace"), d
    finally:
        env.close()


def read_arrays(path: str | os.PathLike, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whole DB as ``(N×C×H×W array, N labels)``; all records must have one shape."""
    arrays, labels = [], []
    for _, a, lab in read_lmdb(path, limit):
        if arrays and a.shape != arrays[0].shape:
            raise UserError(f"{path}: records have different shapes ({arrays[0].shape} and {a.shape})")
        arrays.append(a)
        labels.append(lab)
    if not arrays:
        raise UserError(f"{path} is empty")
    return np.stack(arrays), np.asarray(labels, dtype=np.int64)
