#!/usr/bin/env python3
"""Benchmark: our LMDB conversion vs Caffe's own C++ tools, same input, same job.

  1. MNIST train (60,000 records, raw idx files): tools/to_lmdb.py mnist vs convert_mnist_data
  2. an image folder (generated JPEGs + list file):  tools/to_lmdb.py folder --list vs convert_imageset

What is timed: the whole command's wall time on both sides -- process start, Python start-up
and imports (ours), shared-library loading (Caffe's), reading, writing and the final sync.
Each side runs once untimed first (warm page cache for both), then --repeat timed rounds,
interleaved ours/Caffe with the order alternating, so load from other jobs hits both alike.
Printed: min and median seconds, records/s, the ratio ours/Caffe in records/s (>1: we are
faster) for the min and the median, and the range of the per-round ratios.

Ours runs with Python's bytecode cache on (kept in the temp folder), as an installed Python
program runs; PYTHONDONTWRITEBYTECODE=1 in the caller's environment would otherwise recompile
our modules on every start (~25 ms). --no-bytecode-cache measures that case instead.

Both outputs are checked to hold the same records: the MNIST values must be byte-identical to
convert_mnist_data's; the folder Datums must parse to the same shape, label and pixels as
convert_imageset's (Caffe also stores encoded=false, so those bytes differ by that one field).
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simplenet_caffe import caffe_env
from simplenet_caffe.data import lmdbio
from simplenet_caffe.errors import UserError
from simplenet_caffe.cli import run
from simplenet_caffe.paths import REPO_ROOT, SHARED_DIR


def timed(cmd: list[str], out: Path, env) -> float:
    if out.exists():
        shutil.rmtree(out)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise UserError(f"{' '.join(cmd[:2])} failed ({p.returncode}): {p.stderr[-800:]}")
    return dt


def compare(sides: dict, rounds: int) -> dict[str, list[float]]:
    """``sides``: name → (command, output path, env). One untimed run each, then interleaved rounds."""
    for cmd, out, env in sides.values():
        timed(cmd, out, env)
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(timed(*sides[name]))
    return times


def report(title: str, records: int, times: dict[str, list[float]], caffe_name: str) -> None:
    print(f"{title}: {records} records; whole-command wall time, {len(times['ours'])} interleaved rounds")
    for name, label in (("ours", "ours  (tools/to_lmdb.py)"), ("caffe", f"caffe ({caffe_name})")):
        if name not in times:
            print(f"  caffe ({caffe_name})  not installed in this Caffe build: no ratio")
            return
        t = times[name]
        print(f"  {label:34s} min {min(t):6.3f} s ({records / min(t):8.0f} rec/s)   "
              f"median {statistics.median(t):6.3f} s ({records / statistics.median(t):8.0f} rec/s)")
    ours, caffe = times["ours"], times["caffe"]
    per_round = [c / o for o, c in zip(ours, caffe)]
    print(f"  ratio ours/caffe (records/s): min {min(caffe) / min(ours):.2f}x, median "
          f"{statistics.median(caffe) / statistics.median(ours):.2f}x, per round "
          f"{min(per_round):.2f}-{max(per_round):.2f}x")


def same_records(ours: Path, caffe: Path, exact: bool) -> None:
    """Every record of ``ours`` equals Caffe's: the bytes (``exact``) or the parsed Datum fields."""
    a, b = lmdbio.read_datums(ours), lmdbio.read_datums(caffe)
    n = 0
    fields = lambda d: (d.channels, d.height, d.width, d.label, d.data, list(d.float_data))  # noqa: E731
    for (ka, da), (kb, db) in zip(a, b):
        if ka != kb or (da.SerializeToString() != db.SerializeToString() if exact else fields(da) != fields(db)):
            raise UserError(f"record {n} ({ka!r}) differs from Caffe's ({kb!r})")
        n += 1
    a.close()
    b.close()
    if not n == lmdbio.count_lmdb(ours) == lmdbio.count_lmdb(caffe):
        raise UserError(f"record counts differ: ours {lmdbio.count_lmdb(ours)}, Caffe {lmdbio.count_lmdb(caffe)}")
    print(f"  records equal to Caffe's: all {n} ({'byte-identical values' if exact else 'same parsed Datums'})")


def tool_or_none(name: str):
    try:
        return caffe_env.caffe_tool(name)
    except UserError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=None, help="MNIST idx folder (default ../shared/data/mnist)")
    ap.add_argument("--images", type=int, default=4000, help="images in the generated folder (default 4000)")
    ap.add_argument("--size", default="96x96", help="generated image size WxH (default 96x96)")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds per side (default 5)")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="run ours with the caller's bytecode setting (see above)")
    a = ap.parse_args(argv)
    py = sys.executable
    caffe_envvars = caffe_env.tool_env()
    caffe_envvars["GLOG_minloglevel"] = "1"
    mnist = Path(a.src) if a.src else SHARED_DIR / "data" / "mnist"
    if not (mnist / "train-images-idx3-ubyte.gz").is_file():
        raise UserError(f"no MNIST at {mnist} (give --src)")
    with tempfile.TemporaryDirectory(prefix="bench_lmdb_") as tmp:
        tmp = Path(tmp)
        ours_env = dict(os.environ)
        if not a.no_bytecode_cache:
            ours_env.pop("PYTHONDONTWRITEBYTECODE", None)
            ours_env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        print(f"python bytecode cache for ours: {'as the caller has it' if a.no_bytecode_cache else 'on'}; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
        raw = tmp / "mnist"
        raw.mkdir()
        for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):   # Caffe's tool needs them gunzipped
            (raw / n).write_bytes(gzip.decompress((mnist / f"{n}.gz").read_bytes()))
        sides = {"ours": ([py, str(REPO_ROOT / "tools/to_lmdb.py"), "mnist", str(raw), "-o", str(tmp / "o"),
                           "--split", "train"], tmp / "o", ours_env)}
        tool = tool_or_none("convert_mnist_data")
        if tool:
            sides["caffe"] = ([str(tool), "--backend=lmdb", str(raw / "train-images-idx3-ubyte"),
                               str(raw / "train-labels-idx1-ubyte"), str(tmp / "c")], tmp / "c", caffe_envvars)
        times = compare(sides, a.repeat)
        report("MNIST train idx -> LMDB", lmdbio.count_lmdb(tmp / "o" / "train_lmdb"), times, "convert_mnist_data")
        if tool:
            same_records(tmp / "o" / "train_lmdb", tmp / "c", exact=True)

        import cv2
        w, h = (int(v) for v in a.size.split("x"))
        root = tmp / "imgs"
        r = np.random.default_rng(0)
        lines = []
        base = r.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        for i in range(a.images):
            cls = f"c{i % 10}"
            (root / cls).mkdir(parents=True, exist_ok=True)
            img = cv2.resize(np.roll(base, i, axis=1), (w, h), interpolation=cv2.INTER_CUBIC)   # photo-like, smooth
            cv2.imwrite(str(root / cls / f"{i:06d}.jpg"), img)
            lines.append(f"{cls}/{i:06d}.jpg {i % 10}\n")
        (tmp / "list.txt").write_text("".join(lines))
        sides = {"ours": ([py, str(REPO_ROOT / "tools/to_lmdb.py"), "folder", str(root), "-o", str(tmp / "fo"),
                           "--list", str(tmp / "list.txt")], tmp / "fo", ours_env)}
        tool = tool_or_none("convert_imageset")
        if tool:
            sides["caffe"] = ([str(tool), "--backend=lmdb", str(root) + "/", str(tmp / "list.txt"), str(tmp / "fc")],
                              tmp / "fc", caffe_envvars)
        times = compare(sides, a.repeat)
        report(f"image folder ({a.images} JPEG {a.size}) -> LMDB", lmdbio.count_lmdb(tmp / "fo" / "train_lmdb"),
               times, "convert_imageset")
        if tool:
            same_records(tmp / "fo" / "train_lmdb", tmp / "fc", exact=False)


if __name__ == "__main__":
    run(main)
