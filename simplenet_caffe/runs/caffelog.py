"""The Caffe log parser: every log `caffe train` / `caffe test` writes, old and new.

One parser for the whole project (tools/parse_log.py, plotting, results tables and the
live progress line of tools/train.py all use it).

What it reads
-------------
* glog lines with either timestamp form: ``I0310 23:44:21.849889 ...`` (month-day; the
  year comes from ``year=``, glog's ``Log file created at:`` header, or the file's mtime)
  and ``I20261125 17:16:26.098899 ...`` (glog >= 0.5 with the year). Year rollover
  (Dec -> Jan) and Feb 29 are handled.
* both solver dialects: ``Iteration N, loss = X`` and ``Iteration N (x iter/s, ys/z iters),
  loss = X`` -- that value is Caffe's *smoothed* loss (``average_loss``), kept as
  ``smoothed_loss``; the raw ``Train net output #k: NAME = V`` values are kept under NAME.
* ``Iteration N, lr = V`` attached to iteration N (not to the next display row).
* ``Iteration N, Testing net (#k)`` + ``Test net output #j: NAME = V``: one test row per
  (iteration, test net), with a ``test_net`` column.
* ``caffe test`` output: ``Batch i, NAME = V`` rows and the final averages.
* CRLF line ends, Windows ``C:\\...>`` command echo lines, solver/net dumps (skipped).
* Truncated or garbled lines (a crash's ``*** Check failure stack trace ***`` written into
  the middle of a line, Ctrl-C, a file cut without its last newline) are skipped with a
  warning: a truncated number is never recorded as a value.

Several files (or several ``Initializing solver`` sessions appended in one file) make
*segments* of one run, stitched in the order given: a later segment replaces the rows of
earlier ones from its first iteration on, and its clock continues from the time the earlier
segment had reached that iteration, so ``seconds`` is training time without the downtime.

Units: ``seconds`` are wall-clock seconds since the run's ``Solving`` line (stitched);
``iteration`` is Caffe's iteration counter; values are as printed (accuracy in 0-1).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..atomic import write_atomic
__all__ = ["CaffeLog", "Segment", "Table", "LogReader", "parse", "expand_log_paths", "run_name_for"]

# ---------------------------------------------------------------------------------------------
# Line grammar (message part, after "] ")

_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|(?:nan|inf|infinity)|\d\.#(?:INF|IND|QNAN|SNAN)\d*)"
_NUM_RE = re.compile(_NUM + r"\Z", re.IGNORECASE)
_ITER_LOSS_RE = re.compile(r"Iteration (\d+)(?: \(([^)]*)\))?, loss = (\S+)\Z")
_ITER_LR_RE = re.compile(r"Iteration (\d+), lr = (\S+)\Z")
_ITER_TEST_RE = re.compile(r"Iteration (\d+), Testing net \(#(\d+)\)\Z")
_OUTPUT_RE = re.compile(r"(Train|Test) net output #(\d+): (\S+) = (\S+)(?: \(\* (\S+) = (\S+) loss\))?\Z")
_BATCH_RE = re.compile(r"Batch (\d+), (\S+) = (\S+)\Z")
_FINAL_RE = re.compile(r"(\S+) = (\S+)(?: \(\* (\S+) = (\S+) loss\))?\Z")
_DATA_SIZE_RE = re.compile(r"output data size: (\d+),(\d+),(\d+),(\d+)\Z")
_SNAP_ITER_RE = re.compile(r"_iter_(\d+)\.")
_HEADER_YEAR_RE = re.compile(r"Log file created at: (\d{4})/(\d\d)/(\d\d)")
# Keywords a data line starts with; a message that begins like one of them but does not
# parse was cut or garbled.
_KEYWORDS = ("Iteration ", "Train net output #", "Test net output #", "Batch ", "Loss: ")


def _to_float(tok: str) -> float | None:
    """A printed number -> float; None when the token is not a whole number (truncated/garbled)."""
    if "_" not in tok:
        try:
            return float(tok)        # also nan/inf; "0***" or "0.00^C" raise
        except ValueError:
            pass
    if "#" in tok and _NUM_RE.match(tok):  # MSVC: 1.#INF, -1.#IND, 1.#QNAN
        t = tok.lower()
        if "inf" in t:
            return -math.inf if t.startswith("-") else math.inf
        return math.nan
    return None


def _looks_cut(msg: str) -> bool:
    """True when a message was cut: a crash/Ctrl-C wrote into it, or it stops inside a keyword."""
    if "***" in msg[1:] or "^C" in msg:
        return True
    return any(4 <= len(msg) < len(kw) and kw.startswith(msg) for kw in _KEYWORDS)


# ---------------------------------------------------------------------------------------------
# Tables


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

    def add_column(self, name: str) -> None:
        if name not in self.columns:
            self.columns.append(name)

    def column(self, name: str, rows: Iterable[dict] | None = None) -> np.ndarray:
        src = self.rows if rows is None else rows
        return np.array([(r.get(name) if r.get(name) is not None else np.nan) for r in src], dtype=float)

    def where(self, **eq) -> "Table":
        """Rows whose columns equal the given values (e.g. ``test.where(test_net=0)``)."""
        return Table(self.columns, [r for r in self.rows if all(r.get(k) == v for k, v in eq.items())])

    def value_columns(self, exclude: Iterable[str] = ()) -> list[str]:
        ex = set(exclude) | {"iteration", "seconds", "segment", "test_net", "lr", "batch"}
        return [c for c in self.columns if c not in ex]

    def to_csv(self, path: str | os.PathLike, delimiter: str = ",") -> Path:
        """Write CSV atomically (temp file beside the target, then rename). Missing -> empty cell."""
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
        w.writerow(self.columns)
        for r in self.rows:
            w.writerow([_fmt(r.get(c)) for c in self.columns])
        return write_atomic(path, buf.getvalue())

    def to_json_obj(self) -> dict:
        return {"columns": self.columns,
                "rows": [[_json_val(r.get(c)) for c in self.columns] for r in self.rows]}


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v)
    return str(v)


def _json_val(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


# ---------------------------------------------------------------------------------------------
# Segments and the line reader


@dataclass
class Segment:
    """One `caffe` session: a file, or one restart appended within a file."""

    path: str
    index_in_file: int = 0
    start_line: int = 0
    kind: str = "train"                  # "train" or "test" (`caffe test` output)
    year_source: str = ""                # "glog prefix", "argument", "log header", "file mtime"
    solver: dict = field(default_factory=dict)   # top-level scalars of the printed SolverParameter
    solver_text: str = ""
    net_name: str | None = None
    lr_policy: str | None = None
    device: str | None = None            # "GPU 0: GeForce GTX 980" / "CPU"
    data_sizes: list = field(default_factory=list)  # [(N, C, H, W)] of data layers, train net first
    resumed_from: str | None = None
    weights: str | None = None
    snapshots: list = field(default_factory=list)   # [(iteration, path, absolute time)]
    finished: bool = False               # "Optimization Done."
    t_first: float | None = None         # absolute seconds (proleptic ordinal based) of first line
    t_solving: float | None = None
    t_last: float | None = None
    train: dict = field(default_factory=dict)       # iteration -> row
    test: dict = field(default_factory=dict)        # (iteration, net) -> row
    batches: list = field(default_factory=list)     # caffe test rows
    test_result: dict = field(default_factory=dict)

    @property
    def origin(self) -> float | None:
        return self.t_solving if self.t_solving is not None else self.t_first

    @property
    def iterations(self) -> list[int]:
        its = list(self.train) + [k[0] for k in self.test]
        return its

    @property
    def first_iteration(self) -> int | None:
        its = self.iterations
        return min(its) if its else None

    @property
    def last_iteration(self) -> int | None:
        its = self.iterations
        return max(its) if its else None

    def meta(self) -> dict:
        return {
            "path": self.path, "index_in_file": self.index_in_file, "start_line": self.start_line,
            "kind": self.kind, "year_source": self.year_source, "net_name": self.net_name,
            "lr_policy": self.lr_policy, "device": self.device, "resumed_from": self.resumed_from,
            "weights": self.weights, "finished": self.finished,
            "first_iteration": self.first_iteration, "last_iteration": self.last_iteration,
            "train_rows": len(self.train), "test_rows": len(self.test),
            "data_sizes": [list(s) for s in self.data_sizes],
            "snapshots": [[i, p] for i, p, _ in self.snapshots], "solver": self.solver,
            "started": _iso(self.t_first), "ended": _iso(self.t_last),
        }


_EPOCH_ORD = _dt.date(1970, 1, 1).toordinal()


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return (_dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=t)).isoformat(timespec="seconds")


def _is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


class LogReader:
    """Feeds lines of one file into segments. Used by :func:`parse` and live by training.

    ``year``: the year of ``I0310``-style timestamps (None: log header, else ``mtime_year``).
    Attributes updated per line for a live display: ``iteration`` (last train display
    iteration), ``smoothed_loss``, ``last_test`` (dict of the newest test outputs of net 0).
    """

    def __init__(self, path: str = "<stream>", year: int | None = None, mtime_year: int | None = None,
                 feb29: bool = False, first_month: int | None = None):
        self.path = path
        self.segments: list[Segment] = []
        self.warnings: list[str] = []
        self._explicit_year = year
        self._year_source = "argument" if year is not None else "file mtime"
        base = year if year is not None else (mtime_year or _dt.date.today().year)
        if year is None and feb29 and first_month is not None:
            # The year is a guess and the log holds Feb 29: pick the newest leap year that
            # fits (the Feb 29 falls in base+1 when the log starts after February).
            bump = 1 if first_month > 2 else 0
            y = base + bump
            while not _is_leap(y):
                y -= 1
            base = y - bump
        self._year = base
        self._last_month: int | None = None
        self._day_cache: dict[str, float] = {}
        self._seg: Segment | None = None
        self._in_solver_block = False
        self._solver_lines: list[str] = []
        self._test_row: dict | None = None
        self._test_net: int | None = None
        self._train_iter: int | None = None
        self._pending_test_outputs = False
        # live state
        self.iteration: int | None = None
        self.smoothed_loss: float | None = None
        self.last_test: dict = {}
        self.last_test_iteration: int | None = None
        self.lineno = 0
        self._pre_device: str | None = None
        self._last_key: str | None = None
        self._last_t: float | None = None

    # -- time -------------------------------------------------------------------------------
    def _abs_time(self, head: str) -> float | None:
        """Absolute seconds for a glog head ``I0310 23:44:21.849889 16900 solver.cpp:228``."""
        key = head[1:25]
        if key == self._last_key:
            return self._last_t
        t = self._abs_time_uncached(head)
        self._last_key, self._last_t = key, t
        return t

    def _abs_time_uncached(self, head: str) -> float | None:
        sp = head.find(" ")
        date = head[1:sp]
        tstr = head[sp + 1:sp + 16].rstrip()
        try:
            h, m, s = int(tstr[0:2]), int(tstr[3:5]), float(tstr[6:])
        except ValueError:
            return None
        day = self._day_cache.get(date)
        if day is None:
            try:
                if len(date) == 8:
                    y, mo, d = int(date[:4]), int(date[4:6]), int(date[6:])
                    self._year_source = "glog prefix"
                elif len(date) == 4:
                    mo, d = int(date[:2]), int(date[2:])
                    if self._last_month is not None and mo < self._last_month:
                        self._year += 1          # year rollover (Dec -> Jan)
                        self._day_cache.clear()
                    y = self._year
                else:
                    return None
                day = float((_dt.date(y, mo, d).toordinal() - _EPOCH_ORD) * 86400)
            except ValueError:
                return None
            self._last_month = mo
            self._day_cache[date] = day
        return day + h * 3600 + m * 60 + s

    # -- segments ---------------------------------------------------------------------------
    def _new_segment(self, kind: str = "train") -> Segment:
        self._flush_solver()
        seg = Segment(path=self.path, index_in_file=len(self.segments), start_line=self.lineno, kind=kind,
                      year_source=self._year_source)
        self.segments.append(seg)
        self._seg = seg
        self._test_row = None
        self._train_iter = None
        return seg

    def _segment(self) -> Segment:
        return self._seg if self._seg is not None else self._new_segment()

    def _flush_solver(self) -> None:
        if self._in_solver_block and self._seg is not None:
            self._seg.solver_text = "\n".join(self._solver_lines)
            self._seg.solver = _scalars(self._solver_lines)
        self._in_solver_block = False
        self._solver_lines = []

    def warn(self, what: str, line: str) -> None:
        shown = line if len(line) <= 120 else line[:117] + "..."
        self.warnings.append(f"{self.path}:{self.lineno}: {what}: {shown!r}")

    # -- the line dispatcher ----------------------------------------------------------------
    def feed(self, line: str, last_line_cut: bool = False) -> None:
        """Parse one line (without its newline; a trailing CR is ignored)."""
        self.lineno += 1
        if not line or line[0] not in "IWEF" or len(line) < 2 or not line[1].isdigit():
            if self._in_solver_block:
                if line.strip():
                    self._solver_lines.append(line.rstrip("\r"))
            return
        line = line.rstrip("\r")
        close = line.find("] ")
        if close < 0:
            if line.endswith("]"):
                return  # an empty message
            self.warn("garbled line skipped", line)
            return
        head = line[:close]
        msg = line[close + 2:].lstrip(" ")
        if self._in_solver_block:
            self._flush_solver()
        if not msg:
            return
        c = msg[0]
        if last_line_cut and c in "ITBL":
            if msg.startswith(_KEYWORDS) or _looks_cut(msg):
                self.warn("last line of the file is cut (no newline); skipped", line)
            return
        if c == "I":
            if msg.startswith("Iteration "):
                self._iteration_line(head, msg, line)
            elif msg.startswith("Initializing solver from parameters"):
                seg = self._new_segment()
                seg.t_first = self._abs_time(head)
                self._in_solver_block = True
                self._solver_lines = []
                rest = msg[len("Initializing solver from parameters:"):].strip()
                if rest:
                    self._solver_lines.append(rest)
            elif msg.startswith("Ignoring source layer"):
                return
            elif _looks_cut(msg):
                self.warn("truncated line skipped", line)
        elif c == "T":
            if msg.startswith("Train net output #") or msg.startswith("Test net output #"):
                self._output_line(head, msg, line)
        elif c == "S":
            if msg.startswith("Solving "):
                seg = self._segment()
                t = self._abs_time(head)
                seg.t_solving = t
                seg.net_name = msg[8:].strip()
                self._touch(seg, t)
            elif msg.startswith("Snapshotting "):
                p = msg.rsplit(" ", 1)[-1]
                m = _SNAP_ITER_RE.search(p)
                self._segment().snapshots.append((int(m.group(1)) if m else None, p, self._abs_time(head)))
        elif c == "B":
            m = _BATCH_RE.match(msg)
            if m:
                v = _to_float(m.group(3))
                if v is None:
                    self.warn("truncated number skipped", line)
                    return
                seg = self._segment()
                if seg.kind != "test" and not seg.train and not seg.test:
                    seg.kind = "test"
                b = int(m.group(1))
                if not seg.batches or seg.batches[-1]["batch"] != b:
                    seg.batches.append({"batch": b})
                seg.batches[-1][m.group(2)] = v
                self._touch(seg, self._abs_time(head))
            elif _looks_cut(msg):
                self.warn("truncated line skipped", line)
        elif c == "L":
            if msg.startswith("Learning Rate Policy: "):
                self._segment().lr_policy = msg[22:].strip()
            elif msg.startswith("Loss: "):
                v = _to_float(msg[6:].strip())
                if v is None:
                    self.warn("truncated number skipped", line)
                else:
                    self._segment().test_result["loss_total"] = v
        elif c == "R":
            if msg.startswith("Resuming from "):
                self._segment().resumed_from = msg[14:].strip()
            elif msg.startswith("Restoring previous solver status from "):
                self._segment().resumed_from = self._segment().resumed_from or msg[38:].strip()
        elif c == "O":
            if msg.startswith("Optimization Done") or msg.startswith("Optimization stopped early"):
                seg = self._segment()
                seg.finished = msg.startswith("Optimization Done")
                self._touch(seg, self._abs_time(head))
        elif c == "U":
            if msg.startswith("Using GPUs") or msg.startswith("Use CPU"):
                if msg.startswith("Use CPU"):
                    self._pre_device = "CPU"
                else:
                    self._pre_device = None
        elif c == "G":
            if msg.startswith("GPU ") and ": " in msg:
                self._pre_device = msg.strip()
        elif c == "o":
            m = _DATA_SIZE_RE.match(msg)
            if m:
                self._segment().data_sizes.append(tuple(int(g) for g in m.groups()))
        elif c == "F" and msg.startswith("Finetuning from "):
            self._segment().weights = msg[16:].strip()
        elif head.endswith(("caffe.cpp", ")")) or "caffe.cpp:" in head:
            m = _FINAL_RE.match(msg)
            if m and self._seg is not None and (self._seg.batches or self._seg.kind == "test"):
                v = _to_float(m.group(2))
                if v is None:
                    self.warn("truncated number skipped", line)
                else:
                    self._seg.test_result[m.group(1)] = v

    def _touch(self, seg: Segment, t: float | None) -> None:
        if t is None:
            return
        if seg.t_first is None:
            seg.t_first = t
        seg.t_last = t
        seg.year_source = self._year_source
        if seg.device is None and self._pre_device is not None:
            seg.device = self._pre_device

    def _iteration_line(self, head: str, msg: str, line: str) -> None:
        if ", loss = " in msg:
            m = _ITER_LOSS_RE.match(msg)
            v = _to_float(m.group(3)) if m else None
            if v is None:
                self._train_iter = None      # its outputs must not land on the previous row
                self.warn("truncated line skipped", line)
                return
            it = int(m.group(1))
            t = self._abs_time(head)
            seg = self._segment()
            row = seg.train.get(it)
            if row is None:
                row = seg.train[it] = {"iteration": it}
            row["seconds"] = t
            row["smoothed_loss"] = v
            self._train_iter = it
            self._test_row = None
            self.iteration, self.smoothed_loss = it, v
            self._touch(seg, t)
        elif ", lr = " in msg:
            m = _ITER_LR_RE.match(msg)
            v = _to_float(m.group(2)) if m else None
            if v is None:
                self.warn("truncated line skipped", line)
                return
            it = int(m.group(1))
            seg = self._segment()
            row = seg.train.get(it)
            if row is None:
                row = seg.train[it] = {"iteration": it, "seconds": self._abs_time(head)}
            row["lr"] = v
            self._touch(seg, self._abs_time(head))
        elif ", Testing net (#" in msg:
            m = _ITER_TEST_RE.match(msg)
            if not m:
                self.warn("truncated line skipped", line)
                return
            it, net = int(m.group(1)), int(m.group(2))
            seg = self._segment()
            t = self._abs_time(head)
            row = {"iteration": it, "test_net": net, "seconds": t, "_started": t}
            seg.test[(it, net)] = row
            self._test_row = row
            self._touch(seg, t)
        else:
            self.warn("unrecognised 'Iteration' line skipped", line)

    def _output_line(self, head: str, msg: str, line: str) -> None:
        m = _OUTPUT_RE.match(msg)
        if not m:
            self.warn("truncated line skipped", line)
            return
        v = _to_float(m.group(4))
        if v is None or (m.group(6) is not None and _to_float(m.group(6)) is None):
            self.warn("truncated number skipped", line)
            return
        name = m.group(3)
        t = self._abs_time(head)
        seg = self._segment()
        if m.group(1) == "Train":
            it = self._train_iter
            if it is None:
                self.warn("train output without an iteration line skipped", line)
                return
            row = seg.train.setdefault(it, {"iteration": it, "seconds": t})
            row[name] = v
        else:
            row = self._test_row
            if row is None:
                self.warn("test output without a 'Testing net' line skipped", line)
                return
            row[name] = v
            row["seconds"] = t
            if row["test_net"] == 0:
                if self.last_test_iteration != row["iteration"]:
                    self.last_test = {}
                self.last_test[name] = v
                self.last_test_iteration = row["iteration"]
        self._touch(seg, t)

    def close(self) -> None:
        self._flush_solver()


def _scalars(lines: list[str]) -> dict:
    """Top-level ``key: value`` pairs of a printed protobuf message (repeated keys -> lists)."""
    out: dict[str, Any] = {}
    depth = 0
    for ln in lines:
        s = ln.strip()
        if s.endswith("{"):
            depth += 1
            continue
        if s == "}":
            depth = max(0, depth - 1)
            continue
        if depth or ":" not in s:
            continue
        k, v = s.split(":", 1)
        v = v.strip()
        if v.startswith('"') and v.endswith('"'):
            val: Any = v[1:-1]
        else:
            try:
                val = int(v)
            except ValueError:
                f = _to_float(v)
                val = f if f is not None else v
        if k in out:
            if not isinstance(out[k], list):
                out[k] = [out[k]]
            out[k].append(val)
        else:
            out[k] = val
    return out


# ---------------------------------------------------------------------------------------------
# Whole runs


_TRAIN_LOG_RE = re.compile(r"caffe(?:\.\d+)?\.log\Z")


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def expand_log_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given. A directory gives its ``caffe.log, caffe.1.log, ...`` (tools/train.py's
    sessions) or, without those, all its ``*.log``/``*.txt`` files, ``caffe.log`` first, then
    in natural order (``caffe_resumed2`` before ``caffe_resumed10``)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = [q for q in p.iterdir() if q.is_file() and q.suffix in (".log", ".txt")]
            own = [q for q in files if _TRAIN_LOG_RE.match(q.name)]   # tools/train.py's caffe.log, caffe.1.log...
            out += sorted(own or files, key=lambda q: (q.name != "caffe.log", _natural_key(q)))
        else:
            out.append(p)
    return out


def run_name_for(paths: Sequence[str | os.PathLike]) -> str:
    """Default run name: the log's stem, or its folder's name for ``logs/<run>/caffe*.log``."""
    p = Path(paths[0])
    if p.is_dir():
        return p.resolve().name
    stem = p.name.split(".")[0]
    if stem == "caffe" or stem.startswith("caffe_resumed") or stem.startswith("caffe.") or stem == "":
        parent = p.resolve().parent.name
        return parent or stem
    return p.stem


class CaffeLog:
    """A parsed run: stitched train/test tables, segments and warnings."""

    def __init__(self, name: str, paths: list[str], segments: list[Segment], warnings: list[str]):
        self.name = name
        self.paths = paths
        self.segments = segments
        self.warnings = warnings
        self._stitch()

    # -- stitching --------------------------------------------------------------------------
    def _stitch(self) -> None:
        train_segs = [s for s in self.segments if s.train or s.test]
        kept_train: dict[int, dict] = {}
        kept_test: dict[tuple[int, int], dict] = {}
        # (iteration, stitched seconds) of every row start and snapshot seen so far: a resumed
        # segment's clock starts where the earlier one had reached its first iteration.
        history: list[tuple[int, float]] = []
        for k, seg in enumerate(train_segs):
            first = seg.first_iteration
            origin = seg.origin
            anchor = 0.0
            if k > 0 and first is not None:
                cands = [(it, s) for it, s in history if it <= first]
                if cands:
                    top = max(it for it, _ in cands)
                    anchor = min(s for it, s in cands if it == top)
                # a later segment replaces everything from its first iteration on
                kept_train = {i: r for i, r in kept_train.items() if i < first}
                kept_test = {key: r for key, r in kept_test.items() if key[0] < first}

            def stitched(t):
                return round(anchor + (t - origin), 6) if (t is not None and origin is not None) else None

            seg_no = self.segments.index(seg)
            for src, dst in ((seg.train, kept_train), (seg.test, kept_test)):
                for key, r in src.items():
                    row = dict(r)
                    start = row.pop("_started", None)
                    row["seconds"] = stitched(row.get("seconds"))
                    row["segment"] = seg_no
                    dst[key] = row
                    t0 = stitched(start) if start is not None else row["seconds"]
                    if t0 is not None:
                        history.append((row["iteration"], t0))
            for it, _, t in seg.snapshots:
                if it is not None and stitched(t) is not None:
                    history.append((it, stitched(t)))
        train_rows = [kept_train[i] for i in sorted(kept_train)]
        test_rows = [kept_test[k] for k in sorted(kept_test)]
        # lr in effect at each test iteration: the newest lr printed at or before it
        lr_its = [r["iteration"] for r in train_rows if r.get("lr") is not None]
        lr_vals = [r["lr"] for r in train_rows if r.get("lr") is not None]
        if lr_its:
            import bisect
            for r in test_rows:
                j = bisect.bisect_right(lr_its, r["iteration"]) - 1
                r["lr"] = lr_vals[j] if j >= 0 else None
        tr_cols = ["iteration", "seconds", "segment", "lr", "smoothed_loss"]
        te_cols = ["iteration", "seconds", "segment", "test_net", "lr"]
        for seg in self.segments:
            for r in seg.train.values():
                for c in r:
                    if c not in tr_cols:
                        tr_cols.append(c)
            for r in seg.test.values():
                for c in r:
                    if c not in te_cols and not c.startswith("_"):
                        te_cols.append(c)
        self.train = Table(tr_cols, train_rows)
        self.test = Table(te_cols, test_rows)
        b_cols = ["batch", "segment"]
        b_rows = []
        self.test_result: dict = {}
        for i, seg in enumerate(self.segments):
            for r in seg.batches:
                row = dict(r, segment=i)
                b_rows.append(row)
                for c in r:
                    if c not in b_cols:
                        b_cols.append(c)
            if seg.test_result:
                self.test_result = dict(seg.test_result)
        self.test_batches = Table(b_cols, b_rows)

    # -- queries ----------------------------------------------------------------------------
    @property
    def solver(self) -> dict:
        for s in self.segments:
            if s.solver:
                return s.solver
        return {}

    @property
    def test_metrics(self) -> list[str]:
        return self.test.value_columns()

    @property
    def train_metrics(self) -> list[str]:
        return self.train.value_columns()

    @property
    def train_batch_size(self) -> int | None:
        """Batch size of the first data layer (the train net's), times ``iter_size``."""
        for s in self.segments:
            if s.data_sizes:
                return s.data_sizes[0][0] * int(s.solver.get("iter_size", 1) or 1)
        return None

    @property
    def device(self) -> str | None:
        for s in self.segments:
            if s.device:
                return s.device
        return None

    @property
    def last_iteration(self) -> int | None:
        its = [r["iteration"] for r in self.train.rows] + [r["iteration"] for r in self.test.rows]
        return max(its) if its else None

    @property
    def wall_seconds(self) -> float | None:
        """Stitched training wall time: seconds of the last row (downtime between segments excluded)."""
        s = [r["seconds"] for r in self.train.rows + self.test.rows if r.get("seconds") is not None]
        return max(s) if s else None

    def test_series(self, metric: str = "accuracy", net: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rows = [r for r in self.test.rows if r.get("test_net") == net and r.get(metric) is not None]
        return (np.array([r["iteration"] for r in rows], dtype=float),
                np.array([r[metric] for r in rows], dtype=float))

    def best_test(self, metric: str = "accuracy", net: int = 0, mode: str | None = None) -> dict | None:
        """The test row with the best `metric` (first occurrence). mode "max"/"min"; default max
        unless the metric name contains "loss" or "error"."""
        if mode is None:
            mode = "min" if ("loss" in metric or "error" in metric) else "max"
        best = None
        for r in self.test.rows:
            v = r.get(metric)
            if r.get("test_net") != net or v is None or math.isnan(v):
                continue
            if best is None or (v > best[metric] if mode == "max" else v < best[metric]):
                best = r
        return best

    def final_test(self, metric: str = "accuracy", net: int = 0) -> dict | None:
        rows = [r for r in self.test.rows if r.get("test_net") == net and r.get(metric) is not None]
        return rows[-1] if rows else None

    def seconds_per_100_iters(self) -> float | None:
        """Median wall time per 100 iterations between consecutive display lines of one segment,
        leaving out intervals that contain a test pass (the paper-table convention)."""
        test_its = {r["iteration"] for r in self.test.rows}
        rates = []
        rows = [r for r in self.train.rows if r.get("smoothed_loss") is not None and r.get("seconds") is not None]
        for a, b in zip(rows, rows[1:]):
            if a["segment"] != b["segment"] or b["iteration"] <= a["iteration"]:
                continue
            if any(a["iteration"] < t <= b["iteration"] for t in test_its if a["iteration"] < t):
                continue
            rates.append((b["seconds"] - a["seconds"]) * 100.0 / (b["iteration"] - a["iteration"]))
        return float(np.median(rates)) if rates else None

    def summary(self) -> dict:
        best = self.best_test()
        final = self.final_test()
        return {
            "name": self.name, "files": len(self.paths), "segments": len(self.segments),
            "train_rows": len(self.train), "test_rows": len(self.test),
            "best_accuracy": best and best.get("accuracy"), "best_iteration": best and best["iteration"],
            "final_accuracy": final and final.get("accuracy"), "final_iteration": final and final["iteration"],
            "last_iteration": self.last_iteration, "wall_seconds": self.wall_seconds,
            "seconds_per_100_iters": self.seconds_per_100_iters(), "device": self.device,
            "warnings": len(self.warnings),
        }

    # -- output -----------------------------------------------------------------------------
    def to_json_obj(self) -> dict:
        return {
            "name": self.name, "paths": self.paths, "summary": self.summary(),
            "segments": [s.meta() for s in self.segments], "warnings": self.warnings,
            "train": self.train.to_json_obj(), "test": self.test.to_json_obj(),
            "test_batches": self.test_batches.to_json_obj(), "test_result": self.test_result,
        }

    def write(self, out_dir: str | os.PathLike, csv: bool = True, json_: bool = True,
              delimiter: str = ",") -> list[Path]:
        """Write ``<out>/<name>.train.csv``, ``.test.csv`` (+ ``.batches.csv`` for caffe test) and ``.json``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        if csv:
            written.append(self.train.to_csv(out / f"{self.name}.train.csv", delimiter))
            written.append(self.test.to_csv(out / f"{self.name}.test.csv", delimiter))
            if len(self.test_batches):
                written.append(self.test_batches.to_csv(out / f"{self.name}.batches.csv", delimiter))
        if json_:
            written.append(write_atomic(out / f"{self.name}.json",
                                        json.dumps(self.to_json_obj(), indent=1, allow_nan=False) + "\n"))
        return written


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


_FEB29_RE = re.compile(r"^[IWEF]0229 ", re.M)
_FIRST_DATE_RE = re.compile(r"^[IWEF](\d\d)\d\d \d\d:", re.M)


def read_segments(path: str | os.PathLike, year: int | None = None, text: str | None = None) -> LogReader:
    """Parse one file into a :class:`LogReader` (segments + warnings)."""
    p = Path(path)
    if text is None:
        text = _read_text(p)
    m = _HEADER_YEAR_RE.search(text, 0, 4096)
    explicit = year
    source = None
    if explicit is None and m:
        explicit, source = int(m.group(1)), "log header"
    mtime_year = None
    if explicit is None:
        try:
            mtime_year = _dt.date.fromtimestamp(p.stat().st_mtime).year
        except OSError:
            mtime_year = None
    feb29 = bool(_FEB29_RE.search(text))
    fm = _FIRST_DATE_RE.search(text)
    reader = LogReader(str(p), year=explicit, mtime_year=mtime_year, feb29=feb29,
                       first_month=int(fm.group(1)) if fm else None)
    if source:
        reader._year_source = source
    lines = text.splitlines()
    cut = bool(text) and not text.endswith(("\n", "\r"))
    feed = reader.feed
    n = len(lines)
    for i, ln in enumerate(lines):
        feed(ln, cut and i == n - 1)
    reader.close()
    return reader


def parse(*paths: str | os.PathLike, name: str | None = None, year: int | None = None) -> CaffeLog:
    """Parse one run from one or more log files (or directories of them), stitched in order.

    ``parse("logs/run1")``, ``parse("caffe.log", "caffe_resumed1.log")`` or a list as the single
    argument. ``year`` is the year of the first ``Immdd`` timestamp when the log has none.
    """
    if len(paths) == 1 and isinstance(paths[0], (list, tuple)):
        paths = tuple(paths[0])
    if not paths:
        raise ValueError("parse() needs at least one log file")
    files = expand_log_paths(paths)
    if not files:
        raise FileNotFoundError(f"no log files in {', '.join(map(str, paths))}")
    segments: list[Segment] = []
    warnings: list[str] = []
    for f in files:
        r = read_segments(f, year=year)
        segments += r.segments
        warnings += r.warnings
    return CaffeLog(name or run_name_for(paths), [str(f) for f in files], segments, warnings)


def parse_run_spec(spec: str, year: int | None = None) -> tuple[str | None, CaffeLog]:
    """Command-line run spec ``[LABEL=]PATH[,PATH...]`` -> (label or None, parsed run).

    PATHs separated by commas are files of one run (stitched in that order); a PATH may be a
    run folder. Used by tools/plot_log.py and tools/results_table.py.
    """
    label = None
    if "=" in spec and not Path(spec).exists():
        label, spec = spec.split("=", 1)
        label = label.strip() or None
    parts = [p for p in spec.split(",") if p] if not Path(spec).exists() else [spec]
    if not parts:
        raise FileNotFoundError(f"no log given in {spec!r}")
    for p in parts:
        if not Path(p).exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
    return label, parse(*parts, year=year)


def parse_run_specs(specs: Sequence[str], year: int | None = None,
                    need_test: bool = False) -> tuple[list[CaffeLog], list[str | None]]:
    """Parse several ``[LABEL=]PATH[,PATH...]`` specs (see :func:`parse_run_spec`).

    Raises OSError/ValueError with a one-line message when a path is missing or a log holds no
    training output (no test output, with `need_test`).
    """
    runs, labels = [], []
    for spec in specs:
        label, run = parse_run_spec(spec, year=year)
        if need_test and not len(run.test):
            raise ValueError(f"{spec}: no test output in the log, so there is no accuracy to tabulate")
        if not len(run.train) and not len(run.test):
            raise ValueError(f"{spec}: no training output found in the log")
        runs.append(run)
        labels.append(label)
    return runs, labels
