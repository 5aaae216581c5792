"""Command-line conventions shared by every script in tools/ and data_prep/.

* Bad input raises :class:`UserError`; :func:`run` prints it as one line
  (``<prog>: error: <message>``) and exits with status 2 -- never a traceback.
* Ctrl-C exits 130 with one line.
* Long loops use :func:`progress` (tqdm on stderr, quiet when stderr is not a terminal
  unless forced with SIMPLENET_PROGRESS=1).
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Iterable, Sequence, TypeVar

T = TypeVar("T")


class UserError(Exception):
    """An error caused by the user's input or environment; printed as one line, exit 2."""

    exit_code = 2


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a script's ``main(argv)`` and turn its outcome into an exit status."""
    prog = os.path.basename(sys.argv[0]) or "simplenet"
    try:
        rc = main(argv)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(int(rc or 0))


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it", **kw) -> Iterable[T]:
    """tqdm progress bar on stderr; disabled when stderr is not a TTY (unless SIMPLENET_PROGRESS=1).

    A disabled bar is a :class:`_Quiet` stand-in, so scripts run without a terminal (pipes,
    benchmarks) do not pay tqdm's import (about 40 ms)."""
    force = os.environ.get("SIMPLENET_PROGRESS") == "1"
    if not (force or sys.stderr.isatty()):
        return _Quiet(iterable)
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, **kw)


class _Quiet:
    """What a disabled tqdm bar does: iterates its iterable; update/close/set_* do nothing."""

    def __init__(self, iterable=None):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getattr__(self, name):
        return lambda *a, **k: None
