"""Where a run's logs live: the one place that knows the run-folder naming.

tools/train.py writes a run's first session to ``logs/<run>/caffe.log`` and each resumed
session to ``caffe.1.log``, ``caffe.2.log``, ... (:func:`session_log_name`); the parser reads
a folder back in that order (:func:`run_logs`, :func:`expand_log_paths`).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Sequence

RUN_LOG_RE = re.compile(r"caffe(?:\.(\d+))?\.log\Z")


def session_log_name(session: int) -> str:
    """File name of a run's session ``session`` (0: ``caffe.log``, 1: ``caffe.1.log``, ...)."""
    return "caffe.log" if session == 0 else f"caffe.{session}.log"


def run_logs(log_dir: str | os.PathLike) -> list[Path]:
    """The run's session logs in order: caffe.log, caffe.1.log, caffe.2.log, ... ([] if none)."""
    d = Path(log_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1) or 0), p) for p in d.iterdir() if (m := RUN_LOG_RE.match(p.name)) and p.is_file()]
    return [p for _, p in sorted(found)]


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def expand_log_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given. A directory gives its session logs (:func:`run_logs`) or, without those,
    all its ``*.log``/``*.txt`` files, ``caffe.log`` first, then in natural order
    (``caffe_resumed2`` before ``caffe_resumed10``)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = [q for q in p.iterdir() if q.is_file() and q.suffix in (".log", ".txt")]
            out += run_logs(p) or sorted(files, key=lambda q: (q.name != "caffe.log", _natural_key(q)))
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
