#!/usr/bin/env python3
"""Accuracy check between Caffe builds: the demo's schedule (S300-A on MNIST, 600 iterations,
solvers/mnist_s300a_demo_solver.prototxt) trained with each build and each solver seed, and the
final test accuracy (10,000 MNIST test images, the log's last test pass) compared per seed.

Training is chaotic in float rounding, so two builds that compute the same formulas in another
summation order end a short run a few hundredths of a point apart either way; the mean over
seeds says whether a build is systematically lower. Needs the demo's LMDBs (``make demo``
builds them, data/mnist_norm). Each run takes about a minute on 2 cores; runs are sequential.

  .venv/bin/python bench/demo_seeds.py --caffe .venv/bin/caffe --caffe /tmp/venv-mkl/bin/caffe --seeds 1,2,3,4
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import REPO_ROOT
from simplenet_caffe.progress import progress
from simplenet_caffe.runs import caffelog

SOLVER = REPO_ROOT / "solvers" / "mnist_s300a_demo_solver.prototxt"


def final_accuracy(caffe: str, seed: int, work: Path) -> tuple[float, float]:
    """(final test accuracy in %, wall seconds) of the demo schedule with ``caffe`` and solver ``seed``."""
    solver = protoio.read_solver(SOLVER)
    solver.random_seed = seed
    solver.snapshot = 0
    solver.snapshot_after_train = False
    solver.snapshot_prefix = str(work / "snap")
    path = work / f"solver_{seed}.prototxt"
    protoio.write_text(path, solver)
    log = work / f"seed{seed}.log"
    t = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run([caffe, "train", "-solver", str(path)], cwd=REPO_ROOT, stdout=f,
                            stderr=subprocess.STDOUT, env=caffe_env.tool_env()).returncode
    wall = time.perf_counter() - t
    if rc != 0:
        raise UserError(f"{caffe} train (seed {seed}) failed with status {rc}: see {log}")
    stats = caffelog.run_stats(caffelog.parse(log))
    if stats["final_accuracy"] is None or stats["final_iteration"] != solver.max_iter:
        raise UserError(f"{log}: no test pass at iteration {solver.max_iter}")
    return 100 * stats["final_accuracy"], wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--caffe", action="append", required=True,
                    help="caffe binary (a venv's bin/caffe wrapper); give two or more to compare")
    ap.add_argument("--seeds", default="1,2,3,4", help="comma-separated solver random_seed values")
    a = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds must be integers separated by commas, not {a.seeds!r}")
    for c in a.caffe:
        if not os.access(c, os.X_OK):
            raise UserError(f"{c}: not an executable caffe binary")
    if not (REPO_ROOT / "data" / "mnist_norm").is_dir():
        raise UserError("data/mnist_norm missing: run `make demo` once to build the demo's LMDBs")
    acc: dict[str, list[float]] = {c: [] for c in a.caffe}
    runs = [(seed, c) for seed in seeds for c in a.caffe]
    with tempfile.TemporaryDirectory() as d:
        bar = progress(total=len(runs), desc="demo trainings", unit="run")
        for seed, c in runs:
            bar.set_postfix_str(f"seed {seed}, {c}")
            pct, wall = final_accuracy(c, seed, Path(d))
            acc[c].append(pct)
            bar.update(1)
            print(f"seed {seed}: {c}: {pct:.2f} % ({wall:.0f} s)", flush=True)
        bar.close()
    print(f"\nfinal test accuracy (%), demo schedule, seeds {seeds}:")
    ref = a.caffe[-1]
    for c in a.caffe:
        line = f"  {c}: " + " ".join(f"{v:.2f}" for v in acc[c]) + f"  mean {statistics.mean(acc[c]):.3f}"
        if c != ref:
            diff = [x - y for x, y in zip(acc[c], acc[ref])]
            line += f"  minus last build: mean {statistics.mean(diff):+.3f}, range {min(diff):+.2f}..{max(diff):+.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    run(main)
