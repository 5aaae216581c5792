"""Shared test fixtures.

Data that is absent makes a test skip with the reason -- except in CI (CI=true), where a
missing dataset or a missing Caffe build is a failure, never a silent skip.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simplenet_caffe.paths import REPO_ROOT, SHARED_DIR

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PY = sys.executable


def need(condition: bool, why: str) -> None:
    """Skip (locally) or fail (in CI) when `condition` is false."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def caffe():
    """pycaffe, imported through caffe_env (CPU mode)."""
    from simplenet_caffe import caffe_env
    try:
        mod = caffe_env.import_caffe()
    except Exception as e:  # noqa: BLE001
        need(False, f"pycaffe not available ({e}); run make setup")
    mod.set_mode_cpu()
    return mod


@pytest.fixture(scope="session")
def caffe_pb2():
    from simplenet_caffe import caffe_env
    try:
        return caffe_env.caffe_pb2()
    except Exception as e:  # noqa: BLE001
        need(False, f"caffe_pb2 not available ({e}); run make setup")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST idx.gz files: $MNIST_DIR, else data/raw/mnist, else ../shared/data/mnist."""
    for cand in [os.environ.get("MNIST_DIR"), REPO_ROOT / "data" / "raw" / "mnist", SHARED_DIR / "data" / "mnist"]:
        if cand and (Path(cand) / "train-images-idx3-ubyte.gz").exists():
            return Path(cand)
    need(False, "real MNIST not found (set MNIST_DIR or run tools/to_lmdb.py --download)")


@pytest.fixture(scope="session")
def caffe_logs_dir() -> Path:
    d = SHARED_DIR / "data" / "caffe_logs"
    need(d.is_dir(), f"real Caffe logs not found at {d}")
    return d


def run_script(script: str, *args, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """Run a repo script (tools/x.py, data_prep/y.py) with this Python; text output captured."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("cwd", REPO_ROOT)
    return subprocess.run([PY, str(REPO_ROOT / script), *map(str, args)], check=check, **kw)
