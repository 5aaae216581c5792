"""The one progress helper: a tqdm bar on stderr, quiet when stderr is not a terminal.

Set SIMPLENET_PROGRESS=1 to force the bar on (e.g. under a pipe).
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def enabled() -> bool:
    """Whether progress bars are shown: stderr is a TTY, or SIMPLENET_PROGRESS=1."""
    return os.environ.get("SIMPLENET_PROGRESS") == "1" or sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "",
             unit: str = "it", **kw) -> Iterable[T]:
    """tqdm progress bar on stderr; disabled when stderr is not a TTY (unless SIMPLENET_PROGRESS=1).

    With ``iterable=None`` it is a manual bar (``update(n)``, ``set_postfix_str``, ``close``).
    A disabled bar is a :class:`_Quiet` stand-in, so scripts run without a terminal (pipes,
    benchmarks) do not pay tqdm's import (about 40 ms)."""
    if not enabled():
        return _Quiet(iterable)

    return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, **kw)


class _Quiet:
    """What a disabled tqdm bar does: iterates its iterable; update/close/set_* do nothing."""

    def __init__(self, iterable=None):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getattr__(self, name):
        return lambda *a, **k: None
