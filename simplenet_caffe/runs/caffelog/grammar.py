"""The line grammar of Caffe's glog output: the message patterns, number tokens, cut lines.

A glog line is ``<severity><date> <time> <thread> <file>:<line>] <message>``; the patterns
below match the *message* part (after ``"] "``). Numbers are read as Caffe printed them
(``%g``-style, MSVC's ``1.#INF``/``-1.#IND``, ``4.1066e-005``); a token that is not a whole
number (cut by a crash or Ctrl-C) gives None, never a value.
"""
from __future__ import annotations

import math
import re
from typing import Any

_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|(?:nan|inf|infinity)|\d\.#(?:INF|IND|QNAN|SNAN)\d*)"
NUM_RE = re.compile(_NUM + r"\Z", re.IGNORECASE)
ITER_LOSS_RE = re.compile(r"Iteration (\d+)(?: \(([^)]*)\))?, loss = (\S+)\Z")
ITER_LR_RE = re.compile(r"Iteration (\d+), lr = (\S+)\Z")
ITER_TEST_RE = re.compile(r"Iteration (\d+), Testing net \(#(\d+)\)\Z")
OUTPUT_RE = re.compile(r"(Train|Test) net output #(\d+): (\S+) = (\S+)(?: \(\* (\S+) = (\S+) loss\))?\Z")
BATCH_RE = re.compile(r"Batch (\d+), (\S+) = (\S+)\Z")
FINAL_RE = re.compile(r"(\S+) = (\S+)(?: \(\* (\S+) = (\S+) loss\))?\Z")
DATA_SIZE_RE = re.compile(r"output data size: (\d+),(\d+),(\d+),(\d+)\Z")
SNAP_ITER_RE = re.compile(r"_iter_(\d+)\.")
HEADER_YEAR_RE = re.compile(rb"Log file created at: (\d{4})/(\d\d)/(\d\d)")
# Keywords a data line starts with; a message that begins like one of them but does not
# parse was cut or garbled.
KEYWORDS = ("Iteration ", "Train net output #", "Test net output #", "Batch ", "Loss: ")


def to_float(tok: str) -> float | None:
    """A printed number -> float; None when the token is not a whole number (truncated/garbled)."""
    if "_" not in tok:
        try:
            return float(tok)        # also nan/inf; "0***" or "0.00^C" raise
        except ValueError:
            pass
    if "#" in tok and NUM_RE.match(tok):  # MSVC: 1.#INF, -1.#IND, 1.#QNAN
        t = tok.lower()
        if "inf" in t:
            return -math.inf if t.startswith("-") else math.inf
        return math.nan
    return None


def looks_cut(msg: str) -> bool:
    """True when a message was cut: a crash/Ctrl-C wrote into it, or it stops inside a keyword."""
    if "***" in msg[1:] or "^C" in msg:
        return True
    return any(4 <= len(msg) < len(kw) and kw.startswith(msg) for kw in KEYWORDS)


def proto_scalars(lines: list[str]) -> dict:
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
                f = to_float(v)
                val = f if f is not None else v
        if k in out:
            if not isinstance(out[k], list):
                out[k] = [out[k]]
            out[k].append(val)
        else:
            out[k] = val
    return out
