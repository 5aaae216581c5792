"""Benchmark: the log parser on a large synthetic log vs BVLC Caffe's parse_log.py algorithm.

The log is the real CIFAR-10 zero-pad log's training part repeated as one long run
(bench/synth_log.py) up to --size-mb megabytes (default 200). Each parser runs in its own
process, one after the other, reading the file from disk; each reports its wall time, its
CPU time (user + system: what it costs on an idle machine; the wall time also counts waiting
for a busy one) and its peak RSS (ru_maxrss). The named baseline is the algorithm of BVLC Caffe's
tools/extra/parse_log.py (ported to Python 3, since the original does not import there):
every line is searched with the `Iteration`, `lr = ` and `Train|Test net output` regexes and
each timestamp goes through datetime.strptime; it keeps only its rows, like ours.

    .venv/bin/python bench/bench_parse_log.py [--size-mb 200] [--log SOURCE] [--keep FILE]

Ours is simplenet_caffe.runs.caffelog.parse plus the s/100-iterations query (the step that
was quadratic). Prints time, MB/s and peak RSS for each, and the time ratio.
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import SHARED_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_log  # noqa: E402  (bench/ is not a package)

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


def _child(which: str, path: str) -> None:
    """Run one parser in this (fresh) process and print a JSON line with its numbers."""
    t = time.perf_counter()
    if which == "ours":
        from simplenet_caffe.runs import caffelog
        r = caffelog.parse(path, year=2016)
        s100 = r.seconds_per_100_iters()
        rows = (len(r.train), len(r.test))
        extra = {"s_per_100": s100, "best": r.best_test()["accuracy"]}
    else:
        tr, te = baseline_parse(Path(path))
        rows, extra = (len(tr), len(te)), {}
    dt = time.perf_counter() - t
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": dt, "cpu": use.ru_utime + use.ru_stime, "rss_mb": use.ru_maxrss / 1024.0,
                      "rows": rows, **extra}))


def _measure(which: str, path: Path) -> dict:
    cp = subprocess.run([sys.executable, __file__, "--child", which, str(path)], capture_output=True, text=True)
    if cp.returncode != 0:
        raise UserError(f"{which} parser failed: {cp.stderr.strip().splitlines()[-1:]}")
    return json.loads(cp.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=200.0, help="size of the synthetic log (default 200)")
    ap.add_argument("--log", default=str(DEFAULT_LOG), help="real log it is made from (default: the CIFAR-10 zero-pad log)")
    ap.add_argument("--keep", help="write the synthetic log here and keep it (default: a temp file, removed)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    if not 0 < args.size_mb <= 4096:
        raise UserError("--size-mb must be in (0, 4096]")
    src = Path(args.log)
    if not src.is_file():
        raise UserError(f"log not found: {src}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "synthetic.log"
        t = time.perf_counter()
        copies = synth_log.synthesize(src, path, size_mb=args.size_mb)
        mb = path.stat().st_size / 1e6
        print(f"log: {src.name} x {copies} as one run = {mb:.1f} MB (made in {time.perf_counter() - t:.1f} s)",
              flush=True)
        base = _measure("baseline", path)
        print(f"  baseline, BVLC parse_log.py algorithm: {base['seconds']:6.1f} s wall  {base['cpu']:6.1f} s CPU  "
              f"{mb / base['seconds']:5.1f} MB/s  peak RSS {base['rss_mb']:4.0f} MB  "
              f"({base['rows'][0]} train rows, {base['rows'][1]} test rows)", flush=True)
        ours = _measure("ours", path)
        print(f"  simplenet_caffe caffelog.parse + s/100: {ours['seconds']:6.1f} s wall  {ours['cpu']:6.1f} s CPU  "
              f"{mb / ours['seconds']:5.1f} MB/s  peak RSS {ours['rss_mb']:4.0f} MB  "
              f"({ours['rows'][0]} train rows, {ours['rows'][1]} test rows; s/100 it {ours['s_per_100']:.2f}, "
              f"best {ours['best']})")
        print(f"  ratio baseline/ours: wall {base['seconds'] / ours['seconds']:.2f}x, CPU {base['cpu'] / ours['cpu']:.2f}x")
    return 0


if __name__ == "__main__":
    run(main)
