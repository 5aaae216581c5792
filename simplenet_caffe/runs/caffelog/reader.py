"""The line reader: one log file (or a live stream) into :class:`Segment` s.

What it reads
-------------
* glog lines with either timestamp form: ``I0310 23:44:21.849889 ...`` (month-day; the
  year comes from ``year=``, glog's ``Log file created at:`` header, or -- a guess, reported
  in :attr:`LogReader.notes` -- the file's mtime) and ``I20261125 17:16:26.098899 ...``
  (glog >= 0.5 with the year). Year rollover (Dec -> Jan) and Feb 29 are handled.
* both solver dialects: ``Iteration N, loss = X`` and ``Iteration N (x iter/s, ys/z iters),
  loss = X`` -- that value is Caffe's *smoothed* loss (``average_loss``), kept as
  ``smoothed_loss``; the raw ``Train net output #k: NAME = V`` values are kept under NAME.
* ``Iteration N, lr = V`` attached to iteration N (not to the next display row).
* ``Iteration N, Testing net (#k)`` + ``Test net output #j: NAME = V``: one test row per
  (iteration, test net), with a ``test_net`` column.
* ``caffe test`` output: ``Batch i, NAME = V`` rows and the final averages.
* The ``Initializing solver from parameters:`` and ``Initializing net from parameters:`` dumps:
  kept as text (:attr:`Segment.solver_text`, :attr:`Segment.net_texts`).
* CRLF line ends, Windows ``C:\\...>`` command echo lines.
* Truncated or garbled lines (a crash's ``*** Check failure stack trace ***`` written into
  the middle of a line, Ctrl-C, a file cut without its last newline) are skipped with a
  warning: a truncated number is never recorded as a value.

Each ``Initializing solver`` starts a new segment. Times are absolute seconds (days since
1970-01-01 x 86400 + time of day; the log's local time, no time zone); rows keep them until
:mod:`.run` stitches segments. The file is read line by line (memory grows with the rows
kept, not with the file size).
"""
from __future__ import annotations

import datetime as _dt
import gc
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .grammar import (BATCH_RE, DATA_SIZE_RE, FINAL_RE, HEADER_YEAR_RE, ITER_LOSS_RE, ITER_LR_RE,
                      ITER_TEST_RE, KEYWORDS, OUTPUT_RE, SNAP_ITER_RE, looks_cut, proto_scalars, to_float)

_RESUMED_ITER_RE = re.compile(r"_iter_(\d+)\.solverstate(?:\.h5)?\s*$")


@dataclass
class Segment:
    """One `caffe` session: a file, or one restart appended within a file."""

    path: str
    index_in_file: int = 0
    start_line: int = 0
    kind: str = "train"                  # "train" or "test" (`caffe test` output)
    solver_init: bool = False            # begins with Caffe's "Initializing solver" (a new session)
    year_source: str = ""                # "glog prefix", "argument", "log header", "file mtime"
    solver: dict = field(default_factory=dict)   # top-level scalars of the printed SolverParameter
    solver_text: str = ""
    net_texts: list = field(default_factory=list)   # each printed NetParameter (train net first), text format
    net_name: str | None = None
    lr_policy: str | None = None
    device: str | None = None            # "GPU 0: GeForce GTX 980" / "CPU"
    data_sizes: list = field(default_factory=list)  # [(N, C, H, W)] of data layers, train net first
    resumed_from: str | None = None
    weights: str | None = None
    snapshots: list = field(default_factory=list)   # [(iteration, path, absolute time)]
    finished: bool = False               # "Optimization Done." without "Optimization stopped early."
    stopped_early: bool = False          # "Optimization stopped early." (a signal; Caffe snapshotted)
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

    @property
    def resumed_iteration(self) -> int | None:
        """The iteration of the .solverstate this session resumed from (``..._iter_N.solverstate``),
        None when it did not resume or the file name does not say."""
        m = _RESUMED_ITER_RE.search(self.resumed_from or "")
        return int(m.group(1)) if m else None

    @property
    def start_iteration(self) -> int | None:
        """Where this session's iterations begin: the resumed-from iteration, else the first logged one."""
        r = self.resumed_iteration
        return r if r is not None else self.first_iteration

    def meta(self) -> dict:
        return {
            "path": self.path, "index_in_file": self.index_in_file, "start_line": self.start_line,
            "kind": self.kind, "year_source": self.year_source, "net_name": self.net_name,
            "lr_policy": self.lr_policy, "device": self.device, "resumed_from": self.resumed_from,
            "weights": self.weights, "finished": self.finished, "stopped_early": self.stopped_early,
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
        self.warnings: list[str] = []     # per line: "path:lineno: what: 'line'"
        self.notes: list[str] = []        # about the whole file (e.g. a guessed year)
        self._explicit_year = year
        if year is not None:
            self._year_source = "argument"
        else:
            self._year_source = "file mtime" if mtime_year is not None else "today's date"
        base = year if year is not None else (mtime_year or _dt.date.today().year)
        self._year_note = ""
        if year is None and feb29 and first_month is not None:
            # The year is a guess and the log holds Feb 29: pick the newest leap year that
            # fits (the Feb 29 falls in base+1 when the log starts after February).
            bump = 1 if first_month > 2 else 0
            y = base + bump
            while not _is_leap(y):
                y -= 1
            if y - bump != base:
                self._year_note = f" (year {base} moved back to fit the log's Feb 29)"
            base = y - bump
        self._year = base
        self._year_noted = False
        self._last_month: int | None = None
        self._day_cache: dict[str, float] = {}
        self._seg: Segment | None = None
        self._block: str | None = None    # "solver" / "net" while inside a printed parameter dump
        self._block_lines: list[str] = []
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
        # called as listener(kind, iteration, absolute time, name, value) for every
        # "solving", "lr", "train" and "test" (output) value, in log order (see .bvlc)
        self.listener = None
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
        if not (tstr.isascii() and tstr[6:].replace(".", "", 1).isdigit()):
            return None                      # float() would also take "inf", "nan", "1e9"
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
                    if self._year_source in ("file mtime", "today's date") and not self._year_noted:
                        self._year_noted = True
                        self.notes.append(
                            f"{self.path}: the timestamps carry no year and there is no glog 'Log file created "
                            f"at' header, so the year is a guess: {self._year}, from the {self._year_source}"
                            f"{self._year_note}; pass --year (year=) if the log is from another year")
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
        self._flush_block()
        seg = Segment(path=self.path, index_in_file=len(self.segments), start_line=self.lineno, kind=kind,
                      year_source=self._year_source)
        self.segments.append(seg)
        self._seg = seg
        self._test_row = None
        self._train_iter = None
        return seg

    def _segment(self) -> Segment:
        return self._seg if self._seg is not None else self._new_segment()

    def _flush_block(self) -> None:
        if self._block is not None and self._seg is not None:
            if self._block == "solver":
                self._seg.solver_text = "\n".join(self._block_lines)
                self._seg.solver = proto_scalars(self._block_lines)
            else:
                self._seg.net_texts.append("\n".join(self._block_lines))
        self._block = None
        self._block_lines = []

    def _open_block(self, kind: str, msg: str) -> None:
        self._block = kind
        self._block_lines = []
        rest = msg.split(":", 1)[1].strip()
        if rest:
            self._block_lines.append(rest)

    def warn(self, what: str, line: str) -> None:
        shown = line if len(line) <= 120 else line[:117] + "..."
        self.warnings.append(f"{self.path}:{self.lineno}: {what}: {shown!r}")

    # -- the line dispatcher ----------------------------------------------------------------
    def feed(self, line: str, last_line_cut: bool = False) -> None:
        """Parse one line (without its newline; a trailing CR is ignored)."""
        self.lineno += 1
        if not line or line[0] not in "IWEF" or len(line) < 2 or not line[1].isdigit():
            if self._block is not None:
                if line.strip():
                    self._block_lines.append(line.rstrip("\r"))
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
        if self._block is not None:
            self._flush_block()
        if not msg:
            return
        c = msg[0]
        if last_line_cut and c in "ITBL":
            if msg.startswith(KEYWORDS) or looks_cut(msg):
                self.warn("last line of the file is cut (no newline); skipped", line)
            return
        handler = _BY_FIRST_CHAR.get(c, LogReader._on_other)
        handler(self, head, msg, line)

    # One handler per first character of a glog message (the dispatch table is _BY_FIRST_CHAR).
    def _on_i(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Iteration "):
            self._iteration_line(head, msg, line)
        elif msg.startswith("Initializing solver from parameters"):
            seg = self._new_segment()
            seg.solver_init = True
            seg.t_first = self._abs_time(head)
            self._open_block("solver", msg)
        elif msg.startswith("Initializing net from parameters") and self._seg is not None:
            self._open_block("net", msg)    # kept with the session its solver began
        elif msg.startswith("Ignoring source layer"):
            return
        elif looks_cut(msg):
            self.warn("truncated line skipped", line)

    def _on_t(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Train net output #") or msg.startswith("Test net output #"):
            self._output_line(head, msg, line)

    def _on_s(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Solving "):
            seg = self._segment()
            t = self._abs_time(head)
            seg.t_solving = t
            seg.net_name = msg[8:].strip()
            self._touch(seg, t)
            if self.listener is not None:
                self.listener("solving", None, t, None, None)
        elif msg.startswith("Snapshotting "):
            # "Snapshotting [solver state ]to binary proto|HDF5 file PATH": PATH may hold spaces
            p = msg.split(" file ", 1)[1].strip() if " file " in msg else msg.rsplit(" ", 1)[-1]
            m = SNAP_ITER_RE.search(p)
            self._segment().snapshots.append((int(m.group(1)) if m else None, p, self._abs_time(head)))

    def _on_b(self, head: str, msg: str, line: str) -> None:
        m = BATCH_RE.match(msg)
        if m:
            v = to_float(m.group(3))
            if v is None:
                self.warn("truncated number skipped", line)
                return
            seg = self._segment()
            if seg.kind != "test" and not seg.train and not seg.test:
                seg.kind = "test"
            b = int(m.group(1))
            if not seg.batches or seg.batches[-1]["batch"] != b:
                seg.batches.append({"batch": b})
            seg.batches[-1][sys.intern(m.group(2))] = v
            self._touch(seg, self._abs_time(head))
        elif looks_cut(msg):
            self.warn("truncated line skipped", line)

    def _on_l(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Learning Rate Policy: "):
            self._segment().lr_policy = msg[22:].strip()
        elif msg.startswith("Loss: "):
            v = to_float(msg[6:].strip())
            if v is None:
                self.warn("truncated number skipped", line)
            else:
                self._segment().test_result["loss_total"] = v

    def _on_r(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Resuming from "):
            self._segment().resumed_from = msg[14:].strip()
        elif msg.startswith("Restoring previous solver status from "):
            self._segment().resumed_from = self._segment().resumed_from or msg[38:].strip()

    def _on_o_upper(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Optimization Done") or msg.startswith("Optimization stopped early"):
            seg = self._segment()
            # caffe.cpp prints "Optimization Done." after a signal's "stopped early" too
            seg.stopped_early = seg.stopped_early or msg.startswith("Optimization stopped early")
            seg.finished = msg.startswith("Optimization Done") and not seg.stopped_early
            self._touch(seg, self._abs_time(head))

    def _on_u(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Use CPU"):
            self._pre_device = "CPU"
        elif msg.startswith("Using GPUs"):
            self._pre_device = None

    def _on_g(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("GPU ") and ": " in msg:
            self._pre_device = msg.strip()

    def _on_o_lower(self, head: str, msg: str, line: str) -> None:
        m = DATA_SIZE_RE.match(msg)
        if m:
            self._segment().data_sizes.append(tuple(int(g) for g in m.groups()))

    def _on_f(self, head: str, msg: str, line: str) -> None:
        if msg.startswith("Finetuning from "):
            self._segment().weights = msg[16:].strip()
        else:
            self._on_other(head, msg, line)

    def _on_other(self, head: str, msg: str, line: str) -> None:
        """caffe test's closing lines ("accuracy = 0.99"), written by caffe.cpp."""
        if head.endswith(("caffe.cpp", ")")) or "caffe.cpp:" in head:
            m = FINAL_RE.match(msg)
            if m and self._seg is not None and (self._seg.batches or self._seg.kind == "test"):
                v = to_float(m.group(2))
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
            m = ITER_LOSS_RE.match(msg)
            v = to_float(m.group(3)) if m else None
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
            m = ITER_LR_RE.match(msg)
            v = to_float(m.group(2)) if m else None
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
            if self.listener is not None:
                self.listener("lr", it, self._abs_time(head), None, v)
        elif ", Testing net (#" in msg:
            m = ITER_TEST_RE.match(msg)
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
        m = OUTPUT_RE.match(msg)
        if not m:
            self.warn("truncated line skipped", line)
            return
        v = to_float(m.group(4))
        if v is None or (m.group(6) is not None and to_float(m.group(6)) is None):
            self.warn("truncated number skipped", line)
            return
        name = sys.intern(m.group(3))     # one key object for all rows
        t = self._abs_time(head)
        seg = self._segment()
        if m.group(1) == "Train":
            it = self._train_iter
            if it is None:
                self.warn("train output without an iteration line skipped", line)
                return
            row = seg.train.setdefault(it, {"iteration": it, "seconds": t})
            row[name] = v
            if self.listener is not None:
                self.listener("train", it, t, name, v)
        else:
            row = self._test_row
            if row is None:
                self.warn("test output without a 'Testing net' line skipped", line)
                return
            row[name] = v
            row["seconds"] = t
            if self.listener is not None:
                self.listener("test", row["iteration"], t, name, v)
            if row["test_net"] == 0:
                if self.last_test_iteration != row["iteration"]:
                    self.last_test = {}
                self.last_test[name] = v
                self.last_test_iteration = row["iteration"]
        self._touch(seg, t)

    def close(self) -> None:
        self._flush_block()



_FEB29_RE = re.compile(rb"^[IWEF]0229 ", re.M)
_FIRST_DATE_RE = re.compile(rb"^[IWEF](\d\d)\d\d \d\d:", re.M)
_CHUNK = 1 << 23
_MAX_LINE = 1 << 20


def _prescan(path: Path) -> tuple[int | None, bool, int | None]:
    """(year of glog's header, whether a line is dated Feb 29, month of the first dated line),
    read in chunks so a large log is never held whole."""
    header_year, feb29, first_month = None, False, None
    with open(path, "rb") as f:
        tail = b""
        first = True
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            buf = tail + chunk
            if first:
                first = False
                buf = buf[3:] if buf.startswith(b"\xef\xbb\xbf") else buf
                m = HEADER_YEAR_RE.search(buf, 0, 4096)
                header_year = int(m.group(1)) if m else None
            if first_month is None:
                m = _FIRST_DATE_RE.search(buf)
                first_month = int(m.group(1)) if m else None
            feb29 = feb29 or bool(_FEB29_RE.search(buf))
            cut = buf.rfind(b"\n")
            tail = buf[cut + 1:] if cut >= 0 else b"."   # mid-line: no line start here
    return header_year, feb29, first_month


def read_segments(path: str | os.PathLike, year: int | None = None, listener=None) -> LogReader:
    """Parse one file into a :class:`LogReader` (segments, warnings, notes), line by line;
    `listener`: see :attr:`LogReader.listener`."""
    p = Path(path)
    if not p.is_file():        # a folder, a FIFO, /dev/zero: nothing a log could be, or endless
        raise ValueError(f"{p}: not a log file (no such regular file)")
    header_year, feb29, first_month = _prescan(p)
    explicit = year if year is not None else header_year
    mtime_year = None
    if explicit is None:
        try:
            mtime_year = _dt.date.fromtimestamp(p.stat().st_mtime).year
        except (OSError, OverflowError, ValueError):
            mtime_year = None
    reader = LogReader(str(p), year=explicit, mtime_year=mtime_year, feb29=feb29, first_month=first_month)
    if year is None and header_year is not None:
        reader._year_source = "log header"
    reader.listener = listener
    feed = reader.feed
    # The rows are acyclic dicts: the cyclic GC would only rescan them again and again.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        # utf-8-sig drops a BOM; universal newlines make CRLF and CR line ends plain "\n"
        with open(p, encoding="utf-8-sig", errors="replace", newline=None) as f:
            readline = f.readline
            while ln := readline(_MAX_LINE):
                if ln.endswith("\n"):
                    feed(ln[:-1])
                elif len(ln) < _MAX_LINE:  # only the last line can lack its newline: it was cut
                    feed(ln, True)
                else:                      # no glog line is this long: skip it, in pieces
                    reader.lineno += 1
                    reader.warn("overlong line skipped", ln[:120])
                    while (ln := readline(_MAX_LINE)) and not ln.endswith("\n"):
                        pass
    finally:
        if was_enabled:
            gc.enable()
    reader.close()
    return reader


#: first character of a glog message -> the LogReader method that reads it (others: _on_other)
_BY_FIRST_CHAR = {"I": LogReader._on_i, "T": LogReader._on_t, "S": LogReader._on_s, "B": LogReader._on_b,
                  "L": LogReader._on_l, "R": LogReader._on_r, "O": LogReader._on_o_upper, "U": LogReader._on_u,
                  "G": LogReader._on_g, "o": LogReader._on_o_lower, "F": LogReader._on_f}
