"""Class labels as the readers hand them on: whole numbers in the dataset's range, checked
record by record, never remapped, rounded or truncated.

Caffe's ``Datum.label`` is an int32, so no label is above :data:`MAX_LABEL`.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import UserError

#: the largest label Caffe's Datum (int32) holds
MAX_LABEL = 2**31 - 1


def int_labels(values, low: int, high: int, where: str, what: str = "labels") -> np.ndarray:
    """``values`` (a sequence or array, one label per record) as an ``int64`` array, each a
    whole number ``low``..``high``; otherwise one :class:`UserError` naming the first wrong
    record (its index from 0) and its value. Strings, None, booleans, fractions, NaN and
    numbers outside the range are refused."""
    try:
        a = np.asarray(values)
    except (ValueError, TypeError) as e:
        raise UserError(f"{where}: {what} are not a list of numbers ({e})") from None
    if a.ndim != 1:
        raise UserError(f"{where}: {what} must be one number per record, got an array of shape {a.shape}")
    kind = a.dtype.kind
    if kind in "iu":
        bad = np.flatnonzero((a < low) | (a > high))
    elif kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~np.isfinite(a) | (a != np.round(a)) | (a < low) | (a > high))
    elif kind == "O":
        bad = [i for i, v in enumerate(a.tolist()) if isinstance(v, bool) or not isinstance(v, numbers.Integral)
               or not low <= v <= high][:1]
    else:
        bad = [0] if len(a) else []
    if len(bad):
        i = int(bad[0])
        v = a[i].item() if isinstance(a[i], np.generic) else a[i]
        raise UserError(f"{where}: {what[:-1] if what.endswith('s') else what} of record {i} is {v!r}: "
                        f"{what} are whole numbers {low} to {high}")
    return a.astype(np.int64)
