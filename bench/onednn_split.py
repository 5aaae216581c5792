#!/usr/bin/env python3
"""Where a benchmark net's oneDNN time goes: ``caffe time`` under ``ONEDNN_VERBOSE=profile_exec``,
each executed primitive's time summed by what it is.

The net is the one ``bench/bench_caffe.py`` times (the generated train_val net's TRAIN-phase
layers fed by an Input of the bench batch). Rows: convolution forward, backward-data and
backward-weights; reorders of activations (4-D, first dimension the batch), of weights (other 4-D
and 5-D), of biases (1-D); any other primitive by kind. Milliseconds are per forward + backward
pass, averaged over the ``iterations + 1`` passes ``caffe time`` runs (its warm-up pass included),
so they add up to a little less than ``caffe time``'s average: the rest is Caffe's own loops
(BatchNorm groups, pooling, the losses) and the layers' bookkeeping.

    .venv/bin/python bench/onednn_split.py mnist_s300a
    .venv/bin/python bench/onednn_split.py imagenet_5m_m2 --caffe <build>/bin/caffe --iterations 4
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets.timing import BENCH_NETS, input_chw, timing_net
from simplenet_caffe.paths import PROTOTXT_DIR, REPO_ROOT

_AVERAGE_RE = re.compile(r"Average Forward-Backward: ([\d.]+) ms")


def classify(line: str, batch: int) -> tuple[str, float] | None:
    """(row, ms) of one ``onednn_verbose,...,exec,...`` line, None for any other line.

    The exec line's fields: ``onednn_verbose, [timestamp,] exec, cpu, kind, impl, direction,
    memory descriptors, attributes, algorithm, problem, ms``."""
    f = line.strip().split(",")
    if "exec" not in f[:3]:
        return None
    i = f.index("exec")
    kind, direction, problem = f[i + 2], f[i + 4], f[-2]
    try:
        ms = float(f[-1])
    except ValueError:
        return None
    if kind == "convolution":
        return f"convolution {direction.replace('_training', '')}", ms
    if kind == "reorder":
        dims = problem.split("x")
        # weights' blocked tags block the output channels too (ABcd16b16a, Acdb16a); activations' do not
        tags = [t.split(":")[3] for t in f[i + 5].split() if t.count(":") >= 4]
        if len(dims) == 1:
            return "reorder: biases", ms
        if len(dims) == 4 and dims[0] == str(batch) and not any("A" in t for t in tags):
            return "reorder: activations", ms
        return "reorder: weights", ms
    return kind, ms


def split(caffe: str, stem: str, batch: int, iterations: int) -> tuple[dict[str, float], dict[str, int], float]:
    """(ms per pass by row, calls per pass by row, caffe time's forward-backward ms)."""
    train_val, deploy = PROTOTXT_DIR / f"{stem}_train_val.prototxt", PROTOTXT_DIR / f"{stem}_deploy.prototxt"
    pb2 = caffe_env.caffe_pb2()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{stem}_time.prototxt"
        protoio.write_text(model, timing_net(train_val, batch, input_chw(deploy, pb2), pb2))
        env = dict(caffe_env.tool_env(), ONEDNN_VERBOSE="profile_exec")
        cp = subprocess.run([caffe, "time", "-model", str(model), "-iterations", str(iterations)], env=env,
                            capture_output=True, text=True, cwd=REPO_ROOT)
    if cp.returncode != 0:
        raise UserError(f"{caffe} time failed on {stem}: {cp.stderr.strip()[-600:]}")
    m = _AVERAGE_RE.search(cp.stderr)
    if not m:
        raise UserError("could not read 'Average Forward-Backward' from caffe time's output")
    ms: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter = collections.Counter()
    for line in cp.stdout.splitlines():
        got = classify(line, batch)
        if got is not None:
            ms[got[0]] += got[1]
            calls[got[0]] += 1
    if not ms:
        raise UserError(f"{caffe} printed no oneDNN primitive: is it a DNN=onednn or onednn-blocked build?")
    passes = iterations + 1
    return ({k: v / passes for k, v in ms.items()}, {k: round(v / passes) for k, v in calls.items()},
            float(m.group(1)))


def main(argv=None) -> None:
    nets = {n[1]: n for n in BENCH_NETS}
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("net", choices=sorted(nets), help="a benchmark net (its bench batch)")
    ap.add_argument("--caffe", default=None, help="caffe binary (default: this venv's)")
    ap.add_argument("--iterations", type=int, default=None, help="caffe time -iterations (default: the bench's)")
    args = ap.parse_args(argv)
    title, stem, batch, iters, _ = nets[args.net]
    caffe = args.caffe or str(caffe_env.caffe_tool("caffe"))
    if not os.access(caffe, os.X_OK):
        raise UserError(f"no caffe binary at {caffe}")
    if args.iterations is not None and args.iterations < 1:
        raise UserError("--iterations must be at least 1")
    ms, calls, total = split(caffe, stem, batch, args.iterations or iters)
    print(f"{title}, batch {batch}: caffe time {total:.1f} ms per forward + backward ({caffe})")
    print(f"{'':30s} {'ms/pass':>8s} {'share':>6s} {'calls/pass':>10s}")
    for k in sorted(ms, key=lambda k: -ms[k]):
        print(f"{k:30s} {ms[k]:8.1f} {100 * ms[k] / total:5.1f}% {calls[k]:10d}")
    rest = total - sum(ms.values())
    print(f"{'outside oneDNN':30s} {rest:8.1f} {100 * rest / total:5.1f}%")


if __name__ == "__main__":
    run(main)
