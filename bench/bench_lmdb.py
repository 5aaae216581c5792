#!/usr/bin/env python3
"""Benchmark: our LMDB conversion vs Caffe's own C++ tools, same input, same run.

  1. MNIST train (60,000 records, raw idx files): tools/to_lmdb.py mnist vs convert_mnist_data
  2. an image folder (generated JPEGs + list file):  tools/to_lmdb.py folder --list vs convert_imageset

Both sides run as separate processes (start-up included), each --repeat times; the best
wall time counts. Prints records/s for each and the ratio ours/Caffe (>1 means we are faster).
Both outputs are checked to hold the same record count.
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from simplenet_caffe import caffe_env, lmdbio  # noqa: E402
from simplenet_caffe.cli import UserError, run  # noqa: E402
from simplenet_caffe.paths import REPO_ROOT, SHARED_DIR  # noqa: E402


def timed(cmd: list[str], env=None) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise UserError(f"{' '.join(cmd[:2])} failed ({p.returncode}): {p.stderr[-800:]}")
    return dt


def best_of(n: int, make_cmd, out: Path, env=None) -> float:
    times = []
    for _ in range(n):
        if out.exists():
            shutil.rmtree(out)
        times.append(timed(make_cmd(), env))
    return min(times)


def report(name: str, records: int, ours: float, caffe: float | None, caffe_name: str) -> None:
    print(f"{name}: {records} records")
    print(f"  ours  (tools/to_lmdb.py)  {ours:7.3f} s  {records / ours:10.0f} records/s")
    if caffe is None:
        print(f"  caffe ({caffe_name})  not installed in this Caffe build: no ratio")
        return
    print(f"  caffe ({caffe_name})  {caffe:7.3f} s  {records / caffe:10.0f} records/s")
    print(f"  ratio ours/caffe (records/s): {caffe / ours:.2f}x")


def tool_or_none(name: str):
    try:
        return caffe_env.caffe_tool(name)
    except UserError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnist-dir", default=None, help="MNIST idx folder (default ../shared/data/mnist)")
    ap.add_argument("--images", type=int, default=4000, help="images in the generated folder (default 4000)")
    ap.add_argument("--size", default="96x96", help="generated image size WxH (default 96x96)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side; the best counts (default 3)")
    a = ap.parse_args(argv)
    py = sys.executable
    env = caffe_env.tool_env()
    env["GLOG_minloglevel"] = "1"
    mnist = Path(a.mnist_dir) if a.mnist_dir else SHARED_DIR / "data" / "mnist"
    if not (mnist / "train-images-idx3-ubyte.gz").is_file():
        raise UserError(f"no MNIST at {mnist} (give --mnist-dir)")
    with tempfile.TemporaryDirectory(prefix="bench_lmdb_") as tmp:
        tmp = Path(tmp)
        raw = tmp / "mnist"
        raw.mkdir()
        for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):   # Caffe's tool needs them gunzipped
            (raw / n).write_bytes(gzip.decompress((mnist / f"{n}.gz").read_bytes()))
        ours = best_of(a.repeat, lambda: [py, str(REPO_ROOT / "tools/to_lmdb.py"), "mnist", str(raw), str(tmp / "o"),
                                          "--split", "train"], tmp / "o")
        n_ours = lmdbio.count_lmdb(tmp / "o" / "train_lmdb")
        tool = tool_or_none("convert_mnist_data")
        caffe = None
        if tool:
            caffe = best_of(a.repeat, lambda: [str(tool), "--backend=lmdb", str(raw / "train-images-idx3-ubyte"),
                                               str(raw / "train-labels-idx1-ubyte"), str(tmp / "c")], tmp / "c", env)
            assert lmdbio.count_lmdb(tmp / "c") == n_ours
        report("MNIST train idx -> LMDB", n_ours, ours, caffe, "convert_mnist_data")

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
        ours = best_of(a.repeat, lambda: [py, str(REPO_ROOT / "tools/to_lmdb.py"), "folder", str(root), str(tmp / "fo"),
                                          "--list", str(tmp / "list.txt")], tmp / "fo")
        n_ours = lmdbio.count_lmdb(tmp / "fo" / "train_lmdb")
        tool = tool_or_none("convert_imageset")
        caffe = None
        if tool:
            caffe = best_of(a.repeat, lambda: [str(tool), "--backend=lmdb", str(root) + "/", str(tmp / "list.txt"),
                                               str(tmp / "fc")], tmp / "fc", env)
            assert lmdbio.count_lmdb(tmp / "fc") == n_ours
        report(f"image folder ({a.images} JPEG {a.size}) -> LMDB", n_ours, ours, caffe, "convert_imageset")


if __name__ == "__main__":
    run(main)
