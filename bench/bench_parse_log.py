"""Benchmark: simplenet_caffe.runs.caffelog.parse vs a regex-per-line parse of the same log.

The baseline is the algorithm of BVLC Caffe's tools/extra/parse_log.py (ported to Python 3
here, since the original does not import on Python 3): every line is searched with the
`Iteration`, `lr = ` and `Train|Test net output` regexes, and each iteration line's timestamp
goes through datetime.strptime. Both parsers read the file from disk on every repeat.

    .venv/bin/python bench/bench_parse_log.py [LOG] [--repeat N]

Prints MB/s for each and the ratio (ours / baseline), best of N repeats.
"""
from __future__ import annotations

import argparse
import datetime
import re
import time
from pathlib import Path

from simplenet_caffe.runs import caffelog
from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run
from simplenet_caffe.paths import SHARED_DIR

DEFAULT_LOG = SHARED_DIR / "data" / "caffe_logs" / "cifar10_zeropad_95.32.log"

_RE_ITER = re.compile(r"Iteration (\d+)")
_RE_OUT = re.compile(r"(Train|Test) net output #(\d+): (\S+) = ([\.\deE+-]+)")
_RE_LR = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)")


def baseline_parse(path: Path, year: int = 2016):
    """Regex on every line, as Caffe's parse_log.py does (rows keyed by the last iteration seen)."""
    train, test = [], []
    iteration, lr, start = -1, float("nan"), None
    train_row = test_row = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _RE_ITER.search(line)
            if m:
                iteration = int(m.group(1))
            if iteration == -1:
                continue
            try:
                t = datetime.datetime.strptime(f"{year}{line[1:5]} {line[6:21]}", "%Y%m%d %H:%M:%S.%f")
            except ValueError:
                continue
            if start is None:
                start = t
            seconds = (t - start).total_seconds()
            m = _RE_LR.search(line)
            if m:
                lr = float(m.group(1))
            m = _RE_OUT.search(line)
            if m:
                kind, name, val = m.group(1), m.group(3), float(m.group(4))
                rows = train if kind == "Train" else test
                row = train_row if kind == "Train" else test_row
                if row is None or row["NumIters"] != iteration:
                    row = {"NumIters": iteration, "Seconds": seconds, "LearningRate": lr}
                    rows.append(row)
                    if kind == "Train":
                        train_row = row
                    else:
                        test_row = row
                row[name] = val
    return train, test


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", nargs="?", default=str(DEFAULT_LOG), help="Caffe log (default: the CIFAR-10 zero-pad log)")
    ap.add_argument("--repeat", type=int, default=7, help="repeats; the best time is reported (default 7)")
    args = ap.parse_args(argv)
    path = Path(args.log)
    if not path.is_file():
        raise UserError(f"log not found: {path}")
    mb = path.stat().st_size / 1e6
    ours = caffelog.parse(path, year=2016)
    base_train, base_test = baseline_parse(path)
    t_ours = _best(lambda: caffelog.parse(path, year=2016), args.repeat)
    t_base = _best(lambda: baseline_parse(path), args.repeat)
    print(f"log: {path.name} ({mb:.2f} MB), best of {args.repeat}")
    print(f"  baseline regex-per-line (Caffe parse_log.py algorithm): {mb / t_base:7.1f} MB/s  "
          f"({t_base * 1e3:.1f} ms; {len(base_train)} train rows, {len(base_test)} test rows)")
    print(f"  simplenet_caffe.runs.caffelog.parse:                         {mb / t_ours:7.1f} MB/s  "
          f"({t_ours * 1e3:.1f} ms; {len(ours.train)} train rows, {len(ours.test)} test rows)")
    print(f"  ratio ours/baseline: {t_base / t_ours:.2f}x")
    return 0


if __name__ == "__main__":
    run(main)
