"""SVHN format 2 (cropped 32×32 digits) ``.mat`` files, read with ``scipy.io.loadmat``.

Files: ``train_32x32.mat`` (73,257), ``test_32x32.mat`` (26,032), ``extra_32x32.mat``
(531,131). Each holds ``X`` (32×32×3×N uint8, RGB) and ``y`` (N×1, 1-10, where **10 means
digit 0**). Output: ``N×3×32×32 uint8`` RGB (the file's order, 0-255) and ``int64`` labels
0-9 (10 mapped to 0).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from .labels import int_labels

FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}


def find_file(path: str | os.PathLike, split: str) -> Path:
    p = Path(path)
    if p.is_file():
        return p
    if split not in FILES:
        raise UserError(f"SVHN has splits {', '.join(FILES)}, not {split!r}")
    f = p / FILES[split]
    if not f.is_file():
        raise UserError(f"{p}: no {FILES[split]}")
    return f


def read_svhn_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One format-2 ``.mat``: ``(N×3×32×32 uint8 RGB, N int64 labels 0-9)``."""
    import scipy.io

    path = Path(path)
    try:
        m = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except NotImplementedError as e:   # MATLAB v7.3 (HDF5) files
        raise UserError(f"{path}: MATLAB v7.3 file; SVHN format 2 files are v5 ({e})") from e
    except Exception as e:  # noqa: BLE001 -- scipy raises many kinds for damaged files
        raise UserError(f"{path}: corrupt or not a MATLAB .mat file ({e.__class__.__name__}: {' '.join(str(e).split())})") from e
    if "X" not in m or "y" not in m:
        raise UserError(f"{path}: not an SVHN format 2 file (needs variables X and y, found {sorted(k for k in m if not k.startswith('__'))})")
    x, y = m["X"], np.asarray(m["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise UserError(f"{path}: X must be 32×32×3×N, got {'×'.join(map(str, x.shape))}")
    if x.dtype != np.uint8:
        raise UserError(f"{path}: X must be uint8, got {x.dtype}")
    if len(y) != x.shape[3]:
        raise UserError(f"{path}: label count mismatch: {x.shape[3]} images but {len(y)} labels")
    y = int_labels(y, 1, 10, str(path))
    y[y == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y


def read_svhn(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A split from a folder of the official files (or one ``.mat`` given directly)."""
    return read_svhn_mat(find_file(path, split))
