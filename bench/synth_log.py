"""A large Caffe log made from a real one: its training part repeated as one long run.

Copy k of the part after ``Solving`` has every iteration number (``Iteration N``, snapshot
``_iter_N``) increased by k x ``offset`` and every date moved k days later (the source run
lasts less than a day, so the copies follow each other in time); the source's header comes
first and its cut last lines (Ctrl-C) last. Used by bench/bench_parse_log.py and the
parser's tests; the expected values of the result follow from the source's.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

_DATE_RE = re.compile(r"^([IWEF])(\d\d)(\d\d) ", re.M)
_ITER_RE = re.compile(r"(Iteration |_iter_)(\d+)")


def split_source(text: str) -> tuple[str, str, str]:
    """(header through the ``Solving`` line, training body, cut tail from the first ``^C`` line)."""
    lines = text.splitlines(keepends=True)
    solving = next(i for i, ln in enumerate(lines) if "] Solving " in ln)
    cut = next((i for i, ln in enumerate(lines) if "^C" in ln and i > solving), len(lines))
    return "".join(lines[:solving + 1]), "".join(lines[solving + 1:cut]), "".join(lines[cut:])


def synthesize(src: str | os.PathLike, dst: str | os.PathLike, *, copies: int | None = None,
               size_mb: float | None = None, offset: int = 247500, year: int = 2016) -> int:
    """Write the synthetic log to `dst` (``copies`` copies, or as many as reach ``size_mb``
    megabytes); returns the number of copies. `year`: the year the source's ``Immdd`` dates are
    taken to be in, for moving them."""
    head, body, tail = split_source(Path(src).read_text(encoding="utf-8", errors="replace"))
    if copies is None:
        copies = max(1, round((size_mb or 0) * 1e6 / max(1, len(body.encode()))))
    with open(dst, "w", encoding="utf-8") as f:
        f.write(head)
        for k in range(copies):
            def date(m, k=k):
                d = dt.date(year, int(m.group(2)), int(m.group(3))) + dt.timedelta(days=k)
                return f"{m.group(1)}{d:%m%d} "

            def it(m, k=k):
                return f"{m.group(1)}{int(m.group(2)) + k * offset}"

            f.write(_ITER_RE.sub(it, _DATE_RE.sub(date, body)) if k else body)
        f.write(tail)
    return copies
