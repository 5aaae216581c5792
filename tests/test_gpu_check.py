"""Issue 11: the GPU check, walked on the CPU build (`make gpu-check DRY_RUN=1`), and its failure modes.

The dry run stages the bundle's assets (timing nets at batch 2, the numerics case with this
build's reference numbers, the MNIST subset, the check script) and runs every step with the
CPU build's tools. No nvcc, no CUDA wheels, no GPU needed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simplenet_caffe import caffe_env
from simplenet_caffe.gpu import check as gpu_check
from simplenet_caffe.paths import REPO_ROOT

from conftest import need, run_script


@pytest.fixture(scope="module")
def staged(tmp_path_factory, mnist_dir):
    prefix = caffe_env.caffe_prefix()
    need(prefix is not None and (prefix / "bin" / "net_pass").is_file(), "Caffe with net_pass not built: run make setup")
    out = tmp_path_factory.mktemp("gpu") / "gpu-dry"
    r = run_script("tools/gpu_bundle.py", "--dry-run", "--out", out, "--mnist", mnist_dir, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def check(bundle: Path, *args, timeout=300):
    tools = Path(caffe_env.caffe_tool("caffe")).parent
    return subprocess.run([sys.executable, str(bundle / "gpu_check.py"), "--dry-run", "--tools-dir", str(tools), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=bundle)


def test_staged_assets(staged):
    import json
    m = json.loads((staged / "bundle.json").read_text())
    assert [n["stem"] for n in m["nets"]] == ["cifar10_a5m_zeropad", "mnist_s300a", "imagenet_5m_m2"]
    caffe_net = (staged / m["nets"][0]["models"]["caffe"]).read_text()
    assert caffe_net.count("engine: CAFFE") >= 13  # every conv, pool, relu of A5M asks for Caffe's own
    assert "engine" not in (staged / m["nets"][0]["models"]["cudnn"]).read_text()
    assert 3.8 < m["nets"][0]["train_gflop_per_image"] < 4.0  # A5M: 3.91 GFLOP (docs/speed.md)
    assert (staged / "data" / "mnist_norm" / "train_lmdb" / "data.mdb").is_file()
    assert "solver_mode: GPU" in (staged / "train_solver.prototxt").read_text()
    for f in ("model.prototxt", "weights.caffemodel", "inputs.binaryproto", "cpu_reference.txt"):
        assert (staged / "numerics" / f).stat().st_size > 0
    assert not (staged / "bin").exists()  # a dry run carries no binaries


def test_dry_run_walks_every_step(staged, tmp_path):
    report = tmp_path / "report.md"
    r = check(staged, "--out", str(report))
    assert r.returncode == 0, r.stderr[-3000:]
    text = report.read_text()
    assert r.stdout.strip() == text.strip()
    assert text.startswith("# GPU check: dry run passed (CPU build)")
    for section in ("## Libraries", "## Device", "## Numerics against the CPU build", "## Training",
                    "## Caffe speed", "## PyTorch", "## Goals"):
        assert section in text, section
    worst = float(re.search(r"Largest error: `[^`]+` ([\d.e+-]+)", text).group(1))
    assert worst < 1e-5  # the same build as the reference: float32 noise at most
    first, last = map(float, re.search(r"loss at iteration 0: ([\d.]+); mean of the last \d+ displayed: ([\d.]+)",
                                       text).groups())
    assert last < gpu_check.LOSS_FALL_DRY * first
    # torch is in the test extra, so the PyTorch step runs: Caffe's table and PyTorch's
    assert "## PyTorch\n\nnot run" not in text, text[text.index("## PyTorch"):][:300]
    assert text.count("| A5M CIFAR-10 |") == 2
    assert "dry run: not judged" in text and "MISSED" not in text and "| MET" not in text


def test_failure_is_one_line(staged, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(staged, broken)
    ref = broken / "numerics" / "cpu_reference.txt"
    lines = ref.read_text().splitlines()
    name, n, *vals = lines[0].split()  # the loss
    lines[0] = f"{name} {n} {float(vals[0]) * 1.01!r}"
    ref.write_text("\n".join(lines) + "\n")
    r = check(broken)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith("gpu-check: FAILED at numerics: 1 arrays differ from the CPU build, e.g. loss")
    assert (broken / "gpu_check_report.md").read_text().startswith("# GPU check: FAILED")


def test_time_budget_stops_it(staged, tmp_path):
    r = check(staged, "--budget", "4", "--out", str(tmp_path / "r.md"))
    assert r.returncode == 1
    assert re.search(r"gpu-check: FAILED at .*(timed out after|no time left)", r.stderr.strip().splitlines()[-1])


def test_not_a_bundle(tmp_path):
    r = subprocess.run([sys.executable, str(REPO_ROOT / "simplenet_caffe" / "gpu" / "check.py"), "--bundle", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"gpu-check: {tmp_path} is not a GPU bundle (no bundle.json); make gpu-bundle makes one"


def test_bundle_launcher_here():
    """Acceptance on the build machine: the real bundle's launcher runs caffe --version with the
    CUDA wheels as stand-ins (no GPU needed to load the libraries). Only where a bundle was made."""
    bundle = REPO_ROOT / "build" / "gpu-bundle"
    gpu_py = Path(os.environ.get("GPU_VENV", REPO_ROOT / ".venv-gpu")) / "bin" / "python"
    if not (bundle / "run").is_file() or not gpu_py.is_file():
        pytest.skip("no build/gpu-bundle with its .venv-gpu here (make gpu-bundle; not part of CI)")
    r = subprocess.run([str(bundle / "run"), "caffe", "--version"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHON=str(gpu_py)))
    assert r.returncode == 0, r.stderr[-1000:]
    assert r.stdout.strip() == "caffe version 1.0.0"
