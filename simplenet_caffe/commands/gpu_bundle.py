"""Build the GPU bundle: a CUDA Caffe and everything `gpu_check.py` needs, for a GPU machine.

    make gpu-bundle                      # minimal CUDA build (own venv .venv-gpu) + this script
    tools/gpu_bundle.py --caffe-prefix ~/.cache/simplenet-caffe/caffe-gpu-open-minimal-<key>
    tools/gpu_bundle.py --dry-run --out build/gpu-dry     # assets only, for `make gpu-check DRY_RUN=1`

Writes build/gpu-bundle/ and build/gpu-bundle.tar.gz (at most 60 MiB; refused if larger). On
the GPU machine: `tar xzf gpu-bundle.tar.gz && python3 gpu-bundle/gpu_check.py` (docs/gpu.md).
The numerics reference comes from this venv's (CPU) Caffe; MNIST from --mnist, $MNIST_DIR,
data/raw/mnist or ../shared/data/mnist.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.gpu import bundle as gpu
from simplenet_caffe.nets.timing import BENCH_NETS, input_chw, timing_net
from simplenet_caffe.paths import PROTOTXT_DIR, REPO_ROOT, SHARED_DIR

# caffe time / caffe train iterations on the GPU, per net (bench/bench_caffe.py's NETS order)
GPU_ITERATIONS = {"cifar10_a5m_zeropad": 50, "mnist_s300a": 50, "imagenet_5m_m2": 10}


def train_batch(train_val: Path, pb2) -> int:
    """batch_size of the TRAIN-phase data layer: the GPU check times each net at its own batch
    (bench/bench_caffe.py's smaller CPU batches would leave a GPU idle)."""
    net = protoio.read_net(train_val)
    for l in net.layer:
        if l.type == "Data" and any(r.phase == pb2.TRAIN for r in l.include):
            return l.data_param.batch_size
    raise UserError(f"{train_val}: no TRAIN Data layer")


def find_mnist(given: str | None) -> Path:
    for cand in [given, os.environ.get("MNIST_DIR"), REPO_ROOT / "data" / "raw" / "mnist", SHARED_DIR / "data" / "mnist"]:
        if cand and (Path(cand) / "train-images-idx3-ubyte.gz").exists():
            return Path(cand)
    raise UserError("MNIST idx files not found: give --mnist DIR (train-images-idx3-ubyte.gz ...) or set MNIST_DIR")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--caffe-prefix", help="the CUDA Caffe install to bundle (not with --dry-run)")
    ap.add_argument("--dry-run", action="store_true",
                    help="assets only (nets, numerics, MNIST subset, check script) for the CPU dry run")
    ap.add_argument("-o", "--out", default=None, help="bundle folder (default build/gpu-bundle, build/gpu-dry with --dry-run)")
    ap.add_argument("--mnist", default=None, help="folder with MNIST's idx.gz files")
    ap.add_argument("--no-archive", action="store_true", help="do not write <out>.tar.gz")
    args = ap.parse_args(argv)
    if args.dry_run == bool(args.caffe_prefix):
        raise UserError("give either --caffe-prefix (a CUDA build) or --dry-run")
    out = Path(args.out or REPO_ROOT / "build" / ("gpu-dry" if args.dry_run else "gpu-bundle")).resolve()
    prefix = caffe_env.caffe_prefix() if args.dry_run else Path(args.caffe_prefix).expanduser().resolve()
    if prefix is None or not (prefix / "bin").is_dir():
        raise UserError(f"no Caffe build at {prefix}: run make setup")
    pb2 = caffe_env.caffe_pb2()
    nets = []
    for title, stem, _, _, _ in BENCH_NETS:
        chw = input_chw(PROTOTXT_DIR / f"{stem}_deploy.prototxt", pb2)
        train_val = PROTOTXT_DIR / f"{stem}_train_val.prototxt"
        batch = train_batch(train_val, pb2)
        nets.append((title, stem, batch, GPU_ITERATIONS[stem], timing_net(train_val, batch, chw, pb2)))
    m = gpu.make_bundle(out, prefix, find_mnist(args.mnist), nets, dry_run=args.dry_run,
                        archive=not args.no_archive)
    print(f"gpu bundle: {out}" + (f" ({m['tree_bytes'] / 2 ** 20:.1f} MiB unpacked)" if "tree_bytes" in m else ""))


def entry():
    run(main)
