"""BVLC Caffe's ``tools/extra/parse_log.py`` output: ``<log>.train`` and ``<log>.test``.

Existing plotting scripts read these files, so they are written the way BVLC's tool writes
them (checked byte for byte against it on the real logs, tests/test_caffelog_bvlc.py):

* one pair per log file, named after the file: ``caffe.log`` -> ``caffe.log.train`` and
  ``caffe.log.test``; a table with no rows is not written;
* columns ``NumIters,Seconds,LearningRate`` and then the outputs in the order the first row
  printed them; CSV in Excel's dialect (``\\r\\n`` line ends) with the given delimiter;
* ``NumIters`` is a float (``100.0``); ``Seconds`` counts from the file's first ``Solving``
  line (rows before it are not read; a later session's downtime is counted); values are
  Python ``repr`` of the printed number;
* ``LearningRate`` is the last ``lr = `` printed *before* the row's first output, so a train
  row carries the previous display's lr, and the first row copies the second row's lr;
* a row is complete when it has as many columns as the first row; an incomplete row is
  written when the next iteration's output begins.

Where BVLC's tool fails or records wrong values this one does not copy it: a number cut by a
crash (``loss = 0*** Check failure``) is left out of its row, not read as ``0``; an
incomplete last row is written (BVLC drops it); ``nan``/``inf`` are written as such; logs
with the year in the timestamp (glog >= 0.5) and Feb 29 dates are read (BVLC raises). Like
BVLC, the tables do not tell test nets apart (a warning says so when a log has several).
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from ...atomic import output_lock, write_atomic
from .reader import read_segments


class _Assembler:
    """BVLC's row assembly (parse_log.parse_line_for_net_output) over the reader's values."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.solving = False
        self.lr = float("nan")
        self.tables: dict[str, list[dict]] = {"train": [], "test": []}
        self.rows: dict[str, dict | None] = {"train": None, "test": None}
        self.test_nets: set[int] = set()

    def __call__(self, kind: str, it, t, name, v) -> None:
        if kind == "solving":
            self.solving = True
            if self.start is None and t is not None:
                self.start = t
            return
        if t is None or not self.solving:
            return
        if self.start is None:          # the Solving line's own time was damaged: the next one
            self.start = t
        if kind == "lr":
            self.lr = v
            return
        rows, row = self.tables[kind], self.rows[kind]
        if row is None or row["NumIters"] != float(it):
            if row is not None:
                rows.append(row)
            us = round((t - self.start) * 1e6)      # BVLC: timedelta.total_seconds()
            row = {"NumIters": float(it), "Seconds": us / 1000000, "LearningRate": self.lr}
        row[name] = v
        if rows and len(row) == len(rows[0]):
            rows.append(row)
            row = None
        self.rows[kind] = row

    def finish(self) -> dict[str, list[dict]]:
        for kind, row in self.rows.items():
            if row is not None:
                self.tables[kind].append(row)
                self.rows[kind] = None
        for rows in self.tables.values():
            if len(rows) > 1:
                rows[0]["LearningRate"] = rows[1]["LearningRate"]
        return self.tables


def bvlc_tables(path: str | os.PathLike, year: int | None = None) -> tuple[dict[str, list[dict]], list[str], list[str]]:
    """``({"train": rows, "test": rows}, warnings, notes)`` of one log file as BVLC's tool
    builds them (warnings per line, notes about the file; see :class:`.reader.LogReader`)."""
    asm = _Assembler()
    reader = read_segments(path, year=year, listener=asm)
    notes = list(reader.notes)
    nets = {k[1] for seg in reader.segments for k in seg.test}
    if len(nets) > 1:
        notes.append(f"{path}: {len(nets)} test nets: BVLC's .test table does not tell them apart "
                        f"(rows of one iteration follow each other); the default format keeps a test_net column")
    return asm.finish(), reader.warnings, notes


def _csv(rows: list[dict], delimiter: str, notes: list[str], where: str) -> str:
    fields = list(rows[0])
    extra = sorted({k for r in rows for k in r} - set(fields))
    if extra:   # BVLC's DictWriter raises here; the first row's columns are kept
        notes.append(f"{where}: outputs {', '.join(extra)} are not in the first row, so not written")
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields, dialect=csv.excel, delimiter=delimiter, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_bvlc(path: str | os.PathLike, out_dir: str | os.PathLike, delimiter: str = ",",
               year: int | None = None) -> tuple[list[Path], list[str], list[str]]:
    """Write ``<out>/<log name>.train`` and ``.test`` (atomically) for one log file; returns
    (files written, warnings, notes). A table without rows is not written, as BVLC does."""
    tables, warnings, notes = bvlc_tables(path, year=year)
    written = []
    with output_lock(Path(out_dir) / Path(path).name):     # the pair comes from one writer
        for kind in ("train", "test"):
            rows = tables[kind]
            if rows:
                target = Path(out_dir) / f"{Path(path).name}.{kind}"
                text = _csv(rows, delimiter, notes, str(target))
                written.append(write_atomic(target, text.encode("utf-8")))
    return written, warnings, notes
