"""MNIST / Fashion-MNIST IDX files (raw or gzip), checked like Caffe's convert_mnist_data.

Images come back as ``N×1×28×28 uint8`` (0-255, white digit on black, one channel, so no
channel-order question); labels as ``int64`` 0-9. Checks: magic numbers (2051 images, 2049
labels), the data size the header promises (a truncated or over-long file is an error),
matching image/label counts, label range.
"""
from __future__ import annotations

import gzip
import math
import mmap
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError
from .labels import int_labels

IMAGES_MAGIC = 2051   # 0x00000803: unsigned byte, 3 dims
LABELS_MAGIC = 2049   # 0x00000801: unsigned byte, 1 dim
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def _read_bytes(path: Path) -> bytes | mmap.mmap:
    """The file's bytes: gunzipped, or a read-only memory map of a raw file (no copy)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                return gzip.GzipFile(fileobj=f).read()
            if len(head) < 2:
                return f.read()
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: cannot read ({e.__class__.__name__}: {e}); the file is damaged or truncated") from e


def read_idx(path: str | os.PathLike, expect_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a numpy array of the shape its header states."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise UserError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    magic = struct.unpack(">I", raw[:4])[0]
    if expect_magic is not None and magic != expect_magic:
        raise UserError(f"{path}: wrong magic number {magic} (expected {expect_magic}); not an IDX "
                        f"{'image' if expect_magic == IMAGES_MAGIC else 'label'} file")
    zero, code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zero != 0 or code not in _DTYPES or ndim == 0:
        raise UserError(f"{path}: wrong magic number {magic}; not an IDX file")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[code])
    need = math.prod(dims) * dtype.itemsize       # Python ints: a header's huge sizes cannot overflow
    have = len(raw) - header
    if have < need:
        raise UserError(f"{path}: truncated: header promises {'x'.join(map(str, dims))} items "
                        f"({need} bytes) but only {have} bytes follow")
    if have > need:
        raise UserError(f"{path}: {have - need} unexpected bytes after the {'x'.join(map(str, dims))} items")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims)


def find_file(root: Path, split: str, kind: str) -> Path:
    """``train-images-idx3-ubyte[.gz]`` and the ``train-images.idx3-ubyte`` spelling."""
    prefix = SPLIT_PREFIX[split]
    nd = 3 if kind == "images" else 1
    for name in (f"{prefix}-{kind}-idx{nd}-ubyte", f"{prefix}-{kind}.idx{nd}-ubyte"):
        for suffix in (".gz", ""):
            p = root / (name + suffix)
            if p.is_file():
                return p
    raise UserError(f"{root}: no {prefix}-{kind}-idx{nd}-ubyte[.gz] file")


def read_mnist(root: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of an MNIST-format folder: ``(N×1×28×28 uint8, N int64 labels 0-9)``."""
    root = Path(root)
    if split not in SPLIT_PREFIX:
        raise UserError(f"MNIST has splits train and test, not {split!r}")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder")
    images = read_idx(find_file(root, split, "images"), IMAGES_MAGIC)
    labels = read_idx(find_file(root, split, "labels"), LABELS_MAGIC)
    if images.ndim != 3:
        raise UserError(f"{root}: image file has {images.ndim} dims, expected 3 (N, rows, cols)")
    if len(images) != len(labels):
        raise UserError(f"{root}: label count mismatch for {split}: {len(images)} images but {len(labels)} labels")
    if labels.ndim != 1:
        raise UserError(f"{root}: the {split} label file has {labels.ndim} dims, expected 1")
    return images[:, None, :, :], int_labels(labels, 0, 9, f"{root} ({split})")
