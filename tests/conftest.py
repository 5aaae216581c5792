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

#: The short S300-A training of the `trained` fixture: MNIST images used, test batch.
N_TRAIN, N_TEST = 3000, 1000
TEST_BATCH = 100

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
def mnist_small(tmp_path_factory, mnist_dir) -> Path:
    """data/mnist_norm of data_prep/mnist.py on the first 200 train / 100 test real MNIST images
    (the dataset folder: train_lmdb, test_lmdb, preprocess.json)."""
    root = tmp_path_factory.mktemp("mnist_small")
    r = run_script("data_prep/mnist.py", "--src", mnist_dir, "--root", root, "--limit-train", "200",
                   "--limit-test", "100")
    assert r.returncode == 0, r.stderr
    return root / "data" / "mnist_norm"


@pytest.fixture(scope="session")
def caffe_logs_dir() -> Path:
    d = SHARED_DIR / "data" / "caffe_logs"
    need(d.is_dir(), f"real Caffe logs not found at {d}")
    return d


def tmpfs(mnt: Path, size: str):
    """Mount a tmpfs of ``size`` (e.g. "3m") on ``mnt`` (created) for a full-disk test, yield it,
    unmount it. Root only (CI runs as root); skips elsewhere (fails in CI)."""
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True,
                       text=True)
    need(r.returncode == 0, f"cannot mount a tmpfs for the full-disk test ({r.stderr.strip()}); needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def run_script(script: str, *args, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """Run a repo script (tools/x.py, data_prep/y.py) with this Python; text output captured."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("cwd", REPO_ROOT)
    return subprocess.run([PY, str(REPO_ROOT / script), *map(str, args)], check=check, **kw)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, mnist_dir, caffe_pb2):
    """Train S300-A (the demo's net) briefly on CPU on the first N_TRAIN real MNIST images; returns
    (root, train_val path, caffemodel path, log path).  Session-wide: the end-to-end and export tests share it."""
    from google.protobuf import text_format

    from simplenet_caffe.nets import netbuilder
    from simplenet_caffe.nets.experiments import EXPERIMENTS
    from simplenet_caffe.runs import training

    root = tmp_path_factory.mktemp("e2e")
    prep = run_script("data_prep/mnist.py", "--src", mnist_dir, "--root", root,
                      "--limit-train", N_TRAIN, "--limit-test", N_TEST)
    assert prep.returncode == 0, prep.stderr
    net = netbuilder.train_val_net(EXPERIMENTS["mnist_s300a_demo"])
    for lp in net.layer:
        if lp.type == "Data":
            lp.data_param.source = str(root / lp.data_param.source)
            train = any(r.phase == caffe_pb2.TRAIN for r in lp.include)
            lp.data_param.batch_size = 32 if train else TEST_BATCH
    tv = root / "train_val.prototxt"
    tv.write_text(text_format.MessageToString(net))
    solver = caffe_pb2.SolverParameter(
        net=str(tv), type="Nesterov", base_lr=0.05, momentum=0.9, weight_decay=0.0005, lr_policy="poly", power=1.0,
        max_iter=300, test_iter=[N_TEST // TEST_BATCH], test_interval=300, test_initialization=False, display=50,
        snapshot=300, snapshot_prefix=str(root / "snap" / "s300a"), random_seed=1,
        solver_mode=caffe_pb2.SolverParameter.CPU)
    sp = root / "solver.prototxt"
    sp.write_text(text_format.MessageToString(solver))
    res = training.train(sp, run_name="e2e", log_dir=root / "logs", show_progress=False)
    assert (res.rc, res.state) == (0, "done")
    weights = root / "snap" / "e2e" / "s300a_iter_300.caffemodel"   # run "e2e" snapshots into its own folder
    assert weights.is_file()
    return root, tv, weights, root / "logs" / "caffe.log"
