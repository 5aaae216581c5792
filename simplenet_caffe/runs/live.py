"""What a user watches while ``caffe train`` runs: the progress line and TensorBoard scalars.

Both are fed the lines Caffe prints, as :func:`simplenet_caffe.runs.training.train` reads them.

* Progress comes from two sources: Caffe's own log (``Iteration N, loss``, test outputs) and
  the ``@@progress`` lines of the project's Caffe patch (``setup/patches/0007-*.patch``), which
  Caffe prints to stderr every ``SIMPLENET_PROGRESS_SECONDS`` seconds while it trains and while
  it tests, whatever the solver's ``display`` says::

      @@progress train iter=N max_iter=M loss=L smoothed_loss=S
      @@progress test iter=N net=T batch=B of=K accuracy=0.91 loss=0.30

  (``iter`` numbers iterations as Caffe's ``Iteration N, loss`` lines do; test outputs are the
  means over batches 1..B.)  These lines are not glog lines and are not written to the run's
  log.  On a terminal the status is a tqdm bar (iterations, it/s, ETA, loss, test accuracy, the
  test pass's batch); otherwise a plain line at most every ``line_every`` seconds and after
  each test pass.
* TensorBoard: every train display row and test row of the log becomes scalars
  ``train/<output>`` / ``test/<output>`` (``test<T>/`` for test net T > 0) at step = iteration,
  with the same values :func:`simplenet_caffe.runs.caffelog.parse` reads from the log, and
  ``progress/smoothed_loss`` / ``progress/iterations_per_second`` from each ``@@progress train``
  line; written with tensorboardX into the run's log folder, so ``tensorboard --logdir logs/``
  shows every run while it trains.
"""
from __future__ import annotations

import math

import sys
import time
from collections import deque
from pathlib import Path

from ..progress import enabled as progress_enabled, progress

PROGRESS_ENV = "SIMPLENET_PROGRESS_SECONDS"
PROGRESS_PREFIX = "@@progress "


def parse_progress(line: str) -> dict | None:
    """``{"phase": "train"|"test", key: int|float...}`` of an ``@@progress`` line, else None."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    parts = line[len(PROGRESS_PREFIX):].split()
    if not parts or parts[0] not in ("train", "test"):
        return None
    out: dict = {"phase": parts[0], "outputs": {}}
    for kv in parts[1:]:
        k, sep, v = kv.partition("=")
        if not sep:
            continue
        try:
            num = int(v) if k in ("iter", "max_iter", "net", "batch", "of") else float(v)
        except ValueError:
            continue
        if parts[0] == "test" and k not in ("iter", "net", "batch", "of"):
            out["outputs"][k] = num
        else:
            out[k] = num
    return out if "iter" in out else None


def _hms(seconds: float) -> str:
    h, rem = divmod(int(seconds), 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}"


class Status:
    """The live status of one training session (see the module docstring).

    ``update(reader, line)`` after each line Caffe prints: ``reader`` is the session's
    :class:`~simplenet_caffe.runs.caffelog.LogReader` (already fed the line), ``line`` the
    line itself (for ``@@progress``).  Printing stops quietly when stderr goes away (a closed
    terminal), so training is never killed by its own progress line.
    """

    def __init__(self, run: str, max_iter: int, enabled: bool = True, line_every: float = 10.0):
        self.run, self.max_iter, self.enabled, self.line_every = run, max_iter, enabled, line_every
        self.tty = progress_enabled()
        self.bar = None
        self.iteration: int | None = None     # iterations done (Caffe's iter_ after the update)
        self.loss: float | None = None        # the newest smoothed loss, from the log or @@progress
        self.loss_iter = -1
        self.testing: dict | None = None      # the last @@progress test line of a running pass
        self.window: deque = deque()          # (time, iteration) of the last minute
        self.t_start: float | None = None
        self.it_start: int | None = None
        self.last_line = 0.0
        self.last_test_iter: int | None = None
        self.broken = False

    # -- numbers --------------------------------------------------------------------------
    def rate(self) -> float | None:
        """Iterations per second over the last minute (test passes included)."""
        if len(self.window) < 2:
            return None
        (t0, i0), (t1, i1) = self.window[0], self.window[-1]
        return (i1 - i0) / (t1 - t0) if t1 > t0 and i1 > i0 else None

    def eta(self) -> str:
        if self.iteration is None or self.t_start is None or self.iteration <= (self.it_start or 0):
            return "?"
        per_it = (time.monotonic() - self.t_start) / (self.iteration - self.it_start)
        return _hms(max(0, self.max_iter - self.iteration) * per_it)

    def _seen(self, it: int) -> None:
        now = time.monotonic()
        if self.t_start is None:
            self.t_start, self.it_start = now, it
        self.iteration = max(it, self.iteration or 0)
        self.window.append((now, self.iteration))
        while len(self.window) > 2 and now - self.window[0][0] > 60:
            self.window.popleft()

    def describe(self, reader, counts: bool = True) -> str:
        """``iteration 120/400000, 4.1 it/s, ETA 1:02:03, loss 0.51, test acc 0.9100@100`` (+ the
        running test pass); without the first three with ``counts=False`` (a tqdm bar shows its own)."""
        parts = []
        if counts:
            parts.append(f"iteration {self.iteration if self.iteration is not None else 0}/{self.max_iter}")
            r = self.rate()
            if r is not None:
                parts.append(f"{r:.3g} it/s")
            parts.append(f"ETA {self.eta()}")
        parts.append(f"loss {self.loss:.4g}" if self.loss is not None else "no loss yet")
        acc = reader.last_test.get("accuracy")
        parts.append(f"test acc {acc:.4f}@{reader.last_test_iteration}" if acc is not None else "no test pass yet")
        if self.testing is not None:
            t = self.testing
            so_far = ", ".join(f"{k} {v:.4g}" for k, v in t["outputs"].items())
            parts.append(f"testing batch {t.get('batch')}/{t.get('of')}" + (f" ({so_far} so far)" if so_far else ""))
        return ", ".join(parts)

    # -- feeding --------------------------------------------------------------------------
    def update(self, reader, line: str = "") -> None:
        if not self.enabled or self.broken:
            return
        p = parse_progress(line) if line.startswith("@") else None
        if p is not None:
            if p["phase"] == "train":
                self.testing = None
                self._seen(p["iter"] + 1)
                if "smoothed_loss" in p and p["iter"] >= self.loss_iter:
                    self.loss, self.loss_iter = p["smoothed_loss"], p["iter"]
            else:
                self.testing = p
                if self.iteration is None or p["iter"] > self.iteration:
                    self._seen(p["iter"])
        else:
            if reader.smoothed_loss is not None and reader.iteration is not None and reader.iteration > self.loss_iter:
                self.loss, self.loss_iter = reader.smoothed_loss, reader.iteration
            logged = max((i for i in (reader.iteration, reader.last_test_iteration) if i is not None), default=None)
            if logged is not None and (self.iteration is None or logged > self.iteration):
                self._seen(logged)
        test_done = (reader.last_test_iteration is not None and reader.last_test_iteration != self.last_test_iter
                     and line.lstrip().startswith(("I", "W")) and "Test net output" not in line)
        if test_done:
            self.last_test_iter = reader.last_test_iteration
            self.testing = None
        try:
            if self.tty:
                self._bar(reader)
            elif test_done or (p is not None and time.monotonic() - self.last_line >= self.line_every > 0):
                self.last_line = time.monotonic()
                print(f"{self.run}: {self.describe(reader)}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            self.broken = True

    def _bar(self, reader) -> None:
        if self.iteration is None and self.testing is None:
            return
        if self.bar is None:
            self.bar = progress(total=self.max_iter, initial=self.iteration or 0, desc=self.run, unit="it")
        if self.iteration is not None and self.iteration > self.bar.n:
            self.bar.update(self.iteration - self.bar.n)
        self.bar.set_postfix_str(self.describe(reader, counts=False))

    def close(self) -> None:
        if self.bar is not None:
            try:
                self.bar.close()
            except (OSError, ValueError):
                pass


class TensorBoard:
    """Scalars of the log's train/test rows into ``log_dir`` (tensorboardX event files).

    A row is written once the log has moved past it (its outputs are complete), the last
    ones by :meth:`close`.  Without tensorboardX installed it says so once and does nothing.
    """

    def __init__(self, log_dir: str | Path, enabled: bool = True):
        self.writer = None
        self.done: set = set()
        self.seg_id = None
        if not enabled:
            return
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            print("train: tensorboardX is not installed: no TensorBoard scalars "
                  "(pip install -e . installs it)", file=sys.stderr)
            return
        self.writer = SummaryWriter(logdir=str(log_dir), flush_secs=5)

    @staticmethod
    def _scalars(row: dict):
        for k, v in row.items():
            if k not in ("iteration", "seconds", "test_net") and not k.startswith("_") and isinstance(v, (int, float)) \
                    and math.isfinite(v):     # a diverged run's NaN is in the log and the record, not the plots
                yield k, float(v)

    def update(self, reader, final: bool = False) -> None:
        if self.writer is None or not reader.segments:
            return
        seg = reader.segments[-1]
        if id(seg) != self.seg_id:
            if self.seg_id is not None:   # a new session inside one log: finish the last one
                for s in reader.segments[:-1]:
                    self._write(s, final=True)
            self.seg_id = id(seg)
        self._write(seg, final)

    def _write(self, seg, final: bool) -> None:
        for kind, table in (("train", seg.train), ("test", seg.test)):
            keys = list(table)
            for key in keys if final else keys[:-1]:
                mark = (id(seg), kind, key)
                if mark in self.done:
                    continue
                self.done.add(mark)
                row = table[key]
                tag = kind if kind == "train" or not row.get("test_net") else f"test{row['test_net']}"
                for name, v in self._scalars(row):
                    self.writer.add_scalar(f"{tag}/{name}", v, global_step=int(row["iteration"]))

    def progress(self, line: str, rate: float | None = None) -> None:
        """``progress/smoothed_loss`` (and ``progress/iterations_per_second``) from an ``@@progress
        train`` line: a point every few seconds, between Caffe's ``display`` rows."""
        p = parse_progress(line)
        if self.writer is None or p is None or p["phase"] != "train":
            return
        if "smoothed_loss" in p:
            self.writer.add_scalar("progress/smoothed_loss", p["smoothed_loss"], global_step=p["iter"])
        if rate is not None:
            self.writer.add_scalar("progress/iterations_per_second", rate, global_step=p["iter"])

    def close(self, reader) -> None:
        if self.writer is None:
            return
        for s in reader.segments:
            self._write(s, final=True)
        self.writer.close()
