"""Tables of parsed rows and their file forms (CSV, JSON).

A :class:`Table` is a list of row dicts plus an ordered column list; a row lacks a key where
the log printed no value. CSV cells: empty for a missing value, ``nan`` for NaN, Python's
shortest round-trip ``repr`` for floats (so ``0.953201`` stays ``0.953201``).
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ...atomic import write_atomic


class Table:
    """Rows of one kind (train, test, test batches): a list of dicts plus an ordered column list.

    ``column(name)`` gives a float numpy array with NaN where a row has no value.
    """

    def __init__(self, columns: Sequence[str] = (), rows: list[dict] | None = None):
        self.columns: list[str] = list(columns)
        self.rows: list[dict] = rows if rows is not None else []

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def column(self, name: str, rows: Iterable[dict] | None = None) -> np.ndarray:
        src = self.rows if rows is None else rows
        return np.array([(r.get(name) if r.get(name) is not None else np.nan) for r in src], dtype=float)

    def where(self, **eq) -> "Table":
        """Rows whose columns equal the given values (e.g. ``test.where(test_net=0)``)."""
        return Table(self.columns, [r for r in self.rows if all(r.get(k) == v for k, v in eq.items())])

    def to_csv(self, path: str | os.PathLike, delimiter: str = ",") -> Path:
        """Write CSV atomically (unique temp file beside the target, then rename)."""
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
        w.writerow(self.columns)
        for r in self.rows:
            w.writerow([_fmt(r.get(c)) for c in self.columns])
        return write_atomic(path, buf.getvalue())

    def to_json_obj(self) -> dict:
        return {"columns": self.columns,
                "rows": [[json_value(r.get(c)) for c in self.columns] for r in self.rows]}


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v)
    return str(v)


def json_value(v: Any) -> Any:
    """A cell for strict JSON: NaN -> null, infinities -> "inf"/"-inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v
