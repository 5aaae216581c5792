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
  complete (:func:`simplenet_caffe.atomic.atomic_dir`): an interrupted run never leaves a DB that looks complete. An existing target is
  refused unless ``force=True``.
* Transactions are committed every ``commit_every`` records; the map size starts small and
  doubles whenever LMDB reports MDB_MAP_FULL (the batch is then redone).
"""
from __future__ import annotations

import collections
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import lmdb
import numpy as np

from ..atomic import atomic_dir
from ..caffe_env import caffe_pb2
from ..errors import UserError
from ..progress import progress
from .preprocess import decode_image

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
        img = decode_image(bytes(datum.data), "an encoded Datum", unchanged=True)
        chw = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
        if img.dtype != np.uint8 or (datum.channels and chw.shape[0] != datum.channels) or chw.shape[0] not in (1, 3):
            raise UserError(f"an encoded Datum holds a {img.dtype.itemsize * 8}-bit image of {chw.shape[0]} channel(s) "
                            f"(the record says {datum.channels}): Caffe's data layer takes only 8-bit images of "
                            "1 or 3 channels, as the record says (it aborts on this one)")
        return chw
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


def check_target(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``; create the parent folder."""
    target = Path(path)
    if target.exists() and not force:
        raise UserError(f"{target} already exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


class Block(NamedTuple):
    """Consecutive records of one shape in one go: ``arrays`` N×C×H×W (uint8 or float),
    ``labels`` N ints. :func:`write_lmdb` serialises a Block with numpy instead of one
    protobuf message per record (same bytes, see :class:`DatumCodec`)."""

    arrays: np.ndarray
    labels: np.ndarray


class DatumCodec:
    """Serialised Datums of raw records of one C×H×W shape and kind ("uint8" or "float32").

    A serialised protobuf message is its fields in field-number order (Datum: channels 1,
    height 2, width 3, data 4, label 5, float_data 6), and concatenated messages parse as one
    merged message. So a record is ``header + data + label`` (uint8) or ``header + label +
    float_data`` (float), each piece taken from protobuf's own serialisation of a Datum that
    holds only that field. The first record is checked against the whole message's
    ``SerializeToString()``.
    """

    def __init__(self, shape: tuple[int, int, int], kind: str):
        self.pb = caffe_pb2()
        self.kind = kind
        c, h, w = shape
        n = c * h * w
        self.head = self._ser(channels=c, height=h, width=w)
        if kind == "uint8":
            full = self._ser(data=bytes(n))
            tag = full[:len(full) - n]            # field 4 tag + length varint
        else:
            full = self._ser(float_data=[0.0])
            tag = full[:len(full) - 4]            # field 6 tag (not packed in caffe.proto)
        self.tag_bytes = tag
        self.tag = np.frombuffer(tag, np.uint8)
        self._labels: dict[int, bytes] = {}
        self.checked = False

    def _ser(self, **fields) -> bytes:
        return self.pb.Datum(**fields).SerializeToString()

    def label(self, label: int) -> bytes:
        enc = self._labels.get(label)
        if enc is None:
            enc = self._labels[label] = self._ser(label=label)
        return enc

    def _fill_body(self, out: np.ndarray, flat: np.ndarray) -> None:
        """Write the data (uint8) or float_data (float) field of N flattened records into ``out``."""
        b, n = flat.shape
        t = len(self.tag)
        if self.kind == "uint8":
            out[:, :t] = self.tag
            out[:, t:] = flat
        else:
            body = out.reshape(b, n, t + 4)
            body[:, :, :t] = self.tag
            body[:, :, t:] = np.ascontiguousarray(flat, "<f4").view(np.uint8).reshape(b, n, 4)

    def _body_size(self, n: int) -> int:
        return len(self.tag) + n if self.kind == "uint8" else n * (len(self.tag) + 4)

    def one(self, array: np.ndarray, label: int) -> bytes:
        """Datum bytes of one CHW record."""
        lab = self.label(label)
        if self.kind == "uint8":                   # header, data, label
            value = b"".join((self.head, self.tag_bytes, np.ascontiguousarray(array), lab))
        else:                                      # header, label, float_data
            flat = array.reshape(1, -1)
            body = np.empty((1, self._body_size(flat.shape[1])), np.uint8)
            self._fill_body(body, flat)
            value = b"".join((self.head, lab, body))
        return self._check(value, array, label)

    def many(self, arrays: np.ndarray, labels: np.ndarray) -> list:
        """Datum bytes (bytes-like) of N records, assembled for all of them at once with numpy."""
        b = len(arrays)
        flat = arrays.reshape(b, -1)
        uniq, inv = np.unique(labels, return_inverse=True)
        encs = [self.label(int(u)) for u in uniq]
        if len({len(e) for e in encs}) > 1:        # labels of different varint lengths: not one row size
            return [self.one(a, lab) for a, lab in zip(arrays, labels.tolist())]
        h, ll, m = len(self.head), len(encs[0]), self._body_size(flat.shape[1])
        rec = np.empty((b, h + ll + m), np.uint8)
        rec[:, :h] = np.frombuffer(self.head, np.uint8)
        labs = np.frombuffer(b"".join(encs), np.uint8).reshape(len(encs), ll)[inv.reshape(-1)]
        if self.kind == "uint8":                   # header, data, label
            self._fill_body(rec[:, h:h + m], flat)
            rec[:, h + m:] = labs
        else:                                      # header, label, float_data
            rec[:, h:h + ll] = labs
            self._fill_body(rec[:, h + ll:], flat)
        size = rec.shape[1]
        mv = memoryview(rec.reshape(-1))
        values = [mv[s:s + size] for s in range(0, b * size, size)]
        self._check(bytes(values[0]), arrays[0], int(labels[0]))
        return values

    def _check(self, value: bytes, array: np.ndarray, label: int) -> bytes:
        if not self.checked:
            full = make_datum(array, label).SerializeToString()
            if value != full:
                raise RuntimeError("DatumCodec bytes differ from Datum.SerializeToString() (protobuf changed?)")
            self.checked = True
        return value


def _kind_of(dtype: np.dtype) -> str:
    if dtype == np.uint8:
        return "uint8"
    if dtype.kind == "f":
        return "float32"
    raise UserError(f"records must be uint8 or float32 arrays, got {dtype}")


def write_lmdb(path: str | os.PathLike, items: Iterable, total: int | None = None, force: bool = False,
               encode: str | None = None, key_suffix: bool = False, commit_every: int = 1000,
               desc: str | None = None, map_size: int = INITIAL_MAP_SIZE) -> Summary:
    """Write ``items`` to a new LMDB at ``path`` and return a :class:`Summary`.

    ``items`` yields :class:`Block` s (many records of one shape; the fast way) or single
    records ``(array, label)``, ``(array, label, suffix)`` or ``(array, label, suffix, raw)``;
    ``array`` is CHW uint8 or float32. ``suffix`` (e.g. the image's path) is appended
    to the key when ``key_suffix``; ``raw``, with ``encode``, is ready-made file bytes to
    store instead of re-encoding ``array`` (which still gives C/H/W).
    ``encode`` = "png"/"jpg" stores encoded Datums with C/H/W set (single records only).
    """
    target = check_target(path, force)
    try:
        with atomic_dir(target) as tmp:
            return _write_lmdb(tmp, target, items, total, encode, key_suffix, commit_every, desc, map_size)
    finally:
        close = getattr(items, "close", None)     # a generator's cleanup runs now, not when the error is gone
        if close is not None:
            close()


def _write_lmdb(tmp: Path, target: Path, items: Iterable, total: int | None, encode: str | None,
                key_suffix: bool, commit_every: int, desc: str | None, map_size: int) -> Summary:
    """:func:`write_lmdb`'s body: write the DB into the folder ``tmp`` (renamed to ``target`` by
    the caller when this returns)."""
    summary = Summary(str(target))
    label_counts: collections.Counter = collections.Counter()
    count = 0
    shape: tuple | None = None
    varying = False
    kind: str | None = None          # "uint8" | "float32" | "encoded-<fmt>": one per DB
    codecs: dict[tuple, DatumCodec] = {}
    datum = caffe_pb2().Datum() if encode else None   # reused for encoded records
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

        def check(rec_shape: tuple, rec_kind: str) -> None:
            nonlocal shape, varying, kind
            if rec_shape != shape:
                if len(rec_shape) != 3:
                    raise UserError(f"records must be CHW arrays, got shape {rec_shape}")
                varying = varying or shape is not None
                shape = rec_shape
            if rec_kind != kind:
                if kind is not None:
                    raise UserError(f"records mix data types ({kind} and {rec_kind}); one DB holds one type")
                kind = rec_kind

        def codec() -> DatumCodec:
            c = codecs.get(shape)
            if c is None:
                c = codecs[shape] = DatumCodec(shape, kind)
            return c

        for item in items:
            if isinstance(item, Block):
                arrays, labels = item.arrays, np.asarray(item.labels)
                if arrays.ndim == 3:
                    arrays = arrays[:, None]
                if encode:
                    raise UserError("encoded records are written one by one, not as a Block")
                check(arrays.shape[1:], _kind_of(arrays.dtype))
                if len(arrays) != len(labels):
                    raise UserError(f"a Block has {len(arrays)} records but {len(labels)} labels")
                batch.extend(zip([b"%08d" % i for i in range(count, count + len(arrays))],
                                 codec().many(arrays, labels)))
                label_counts.update(dict(zip(*(v.tolist() for v in np.unique(labels, return_counts=True)))))
                count += len(arrays)
            else:
                array, label = item[0], int(item[1])
                if array.ndim == 2:
                    array = array[None]
                check(array.shape, f"encoded-{encode}" if encode else _kind_of(array.dtype))
                if encode:
                    raw = item[3] if len(item) > 3 else None
                    datum.Clear()
                    datum.channels, datum.height, datum.width = shape
                    datum.label = label
                    datum.data = raw if raw is not None else encode_image(array, encode)
                    datum.encoded = True
                    value = datum.SerializeToString()
                else:
                    value = codec().one(array, label)
                key = b"%08d" % count
                if key_suffix and len(item) > 2 and isinstance(item[2], str):
                    key = (key + b"_" + os.fsencode(item[2]))[:MAX_KEY]   # any file-name bytes
                batch.append((key, value))
                label_counts[label] += 1
                count += 1
            if len(batch) >= commit_every:
                flush()
        if batch:
            flush()
        env.sync(True)
        summary.count = count
        if summary.count == 0:
            raise UserError(f"no records to write to {target}")
        summary.shape = None if varying else tuple(shape)
        summary.dtype = kind
        summary.label_counts = dict(sorted(label_counts.items()))
        summary.bytes = (tmp / "data.mdb").stat().st_size
    finally:
        bar.close()
        env.close()
    return summary


_META = struct.Struct("<II")          # LMDB meta page: mm_magic, mm_version after the 16-byte page header
LMDB_MAGIC = 0xBEEFC0DE


def check_lmdb_file(path: str | os.PathLike) -> None:
    """Check ``data.mdb``'s meta pages in Python before LMDB maps the file: the magic number,
    and that the file holds every page the newest meta page says is in use. LMDB reads pages
    through a memory map, so a truncated file would kill the process with SIGBUS."""
    f = Path(path) / "data.mdb"
    try:
        size = f.stat().st_size
        with open(f, "rb") as fh:
            head = fh.read(2 * 65536)
    except OSError as e:
        raise UserError(f"cannot read {f}: {e.strerror or e}") from e
    metas = []
    off = 0
    for _ in range(2):
        if len(head) < off + 152:
            break
        magic, _version = _META.unpack_from(head, off + 16)
        psize = struct.unpack_from("<I", head, off + 40)[0]            # mm_dbs[FREE_DBI].md_pad
        last_pg, txnid = struct.unpack_from("<QQ", head, off + 136)    # mm_last_pg, mm_txnid
        if magic != LMDB_MAGIC or psize < 512 or psize & (psize - 1) or psize > 65536:
            break
        metas.append((txnid, last_pg, psize))
        off = psize
    if not metas:
        raise UserError(f"{f}: not an LMDB file (no valid meta page), or a damaged one")
    _, last_pg, psize = max(metas)
    if size < (last_pg + 1) * psize:
        raise UserError(f"{f}: truncated LMDB: {size} bytes, but its meta page uses {last_pg + 1} pages of {psize} bytes")


def _open_read(path: str | os.PathLike):
    p = Path(path)
    if not (p / "data.mdb").is_file():
        raise UserError(f"{p} is not an LMDB folder (no data.mdb)")
    check_lmdb_file(p)
    try:
        return lmdb.open(str(p), readonly=True, lock=False, readahead=False, subdir=True)
    except lmdb.Error as e:
        raise UserError(f"cannot open LMDB {p}: {e} (damaged or not an LMDB)") from e


def _records(path: str | os.PathLike, limit: int | None) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` pairs of an LMDB in key order; a damaged file is one :class:`UserError`
    (py-lmdb checks page numbers against the file size, so damage raises ``lmdb.Error`` rather
    than crashing)."""
    env = _open_read(path)
    try:
        with env.begin() as txn:
            for n, (k, v) in enumerate(txn.cursor()):
                if limit is not None and n >= limit:
                    break
                yield k, v
    except lmdb.Error as e:
        raise UserError(f"{path}: damaged LMDB ({e})") from e
    finally:
        env.close()


def _parse(pb, path, k: bytes, v: bytes, datum=None):
    datum = datum if datum is not None else pb.Datum()
    try:
        datum.ParseFromString(v)
    except Exception as e:  # noqa: BLE001 -- protobuf's DecodeError and friends
        raise UserError(f"{path}: record {k!r} is not a Caffe Datum ({e})") from e
    c, h, w = datum.channels, datum.height, datum.width
    if not datum.encoded and (datum.data or datum.float_data):
        n = len(datum.data) if datum.data else len(datum.float_data)
        if c * h * w != n:
            raise UserError(f"{path}: record {k!r} holds {n} values but says {c}x{h}x{w}")
    return datum


def count_lmdb(path: str | os.PathLike) -> int:
    env = _open_read(path)
    try:
        return env.stat()["entries"]
    except lmdb.Error as e:
        raise UserError(f"{path}: damaged LMDB ({e})") from e
    finally:
        env.close()


def read_lmdb(path: str | os.PathLike, limit: int | None = None) -> Iterator[tuple[str, np.ndarray, int]]:
    """Yield ``(key, array CHW, label)`` in key order (uint8 or float32; encoded ones decoded)."""
    pb = caffe_pb2()
    datum = pb.Datum()
    for k, v in _records(path, limit):
        _parse(pb, path, k, v, datum)
        yield k.decode(errors="replace"), datum_to_array(datum), int(datum.label)


def read_datums(path: str | os.PathLike, limit: int | None = None) -> Iterator[tuple[str, object]]:
    """Yield ``(key, Datum)`` (a fresh Datum each time) in key order."""
    pb = caffe_pb2()
    for k, v in _records(path, limit):
        yield k.decode(errors="replace"), _parse(pb, path, k, v)


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
