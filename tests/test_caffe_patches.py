"""The project's changes to Caffe's own tools (setup/patches), run through the real binaries.

- 0005: a CPU-only build trains a solver file that says ``solver_mode: GPU`` on the CPU, with one
  warning line; an explicit ``-gpu`` still stops with Caffe's message.
- 0006: ``net_pass`` (one forward/backward pass, every array as text; the GPU check compares
  builds with it) gives pycaffe's numbers for the same net, weights and inputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from simplenet_caffe import caffe_env
from simplenet_caffe.paths import REPO_ROOT

from _train_helpers import make_tiny_experiment
from conftest import need


@pytest.fixture(scope="module")
def cpu_only_build():
    prefix = caffe_env.caffe_prefix()
    need(prefix is not None and (prefix / "bin").is_dir(), "Caffe is not built: run make setup")
    info = (prefix / "BUILD_INFO").read_text() if (prefix / "BUILD_INFO").is_file() else ""
    if "variant=gpu" in info:
        pytest.skip("this venv's Caffe is a CUDA build: solver_mode GPU means the GPU there")
    return prefix


@pytest.fixture()
def gpu_solver(tmp_path, caffe_pb2, cpu_only_build):
    """A tiny real experiment whose solver file says solver_mode: GPU, as the generated ones do."""
    exp = make_tiny_experiment(tmp_path, caffe_pb2, max_iters=(4,), display=1, test_interval=100, snapshot=0)
    (tmp_path / "snap").mkdir()
    path = exp["solvers"][0]
    sp = text_format.Parse(path.read_text(), caffe_pb2.SolverParameter())
    sp.solver_mode = caffe_pb2.SolverParameter.GPU
    path.write_text(text_format.MessageToString(sp))
    return path


def test_solver_mode_gpu_trains_on_the_cpu_with_one_warning(gpu_solver, tmp_path):
    r = caffe_env.run_tool("caffe", "train", f"-solver={gpu_solver}", check=False, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    warnings = [l for l in r.stderr.splitlines() if "solver_mode: GPU" in l]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("W") and "CPU-only" in warnings[0] and str(gpu_solver) in warnings[0]
    assert "Use CPU." in r.stderr
    losses = [float(l.rsplit("=", 1)[1]) for l in r.stderr.splitlines() if "solver.cpp" in l and "Iteration" in l
              and ", loss = " in l]
    assert len(losses) == 5 and all(np.isfinite(losses))  # iterations 0..3 and the final 4: it trained
    assert "Optimization Done." in r.stderr


def test_explicit_gpu_flag_still_fails(gpu_solver, tmp_path):
    r = caffe_env.run_tool("caffe", "train", f"-solver={gpu_solver}", "-gpu", "0", check=False, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "Cannot use GPU in CPU-only Caffe" in r.stderr
    assert "Optimization Done." not in r.stderr


def test_pycaffe_solver_ignores_solver_mode(gpu_solver, caffe, tmp_path, monkeypatch):
    """pycaffe takes the mode from caffe.set_mode_*, never from the solver file (no patch needed)."""
    monkeypatch.chdir(tmp_path)
    solver = caffe.get_solver(str(gpu_solver))
    solver.step(2)
    assert solver.iter == 2
    assert np.isfinite(float(solver.net.blobs["loss"].data))


def test_net_pass_matches_pycaffe(caffe, caffe_pb2, tmp_path, cpu_only_build):
    from simplenet_caffe.gpu import bundle as gpu
    from simplenet_caffe.gpu import check as gpu_check
    files = gpu.write_numerics_case(tmp_path, caffe, caffe_pb2)
    r = caffe_env.run_tool("net_pass", f"-model={files['model']}", f"-weights={files['weights']}",
                           f"-inputs={files['inputs']}", f"-out={tmp_path / 'pass.txt'}", check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    got = gpu_check.read_arrays(tmp_path / "pass.txt")
    want = files["pycaffe"]
    assert 0.5 < got["loss"][0] < 10
    assert set(want) <= set(got)
    for k, v in want.items():
        np.testing.assert_allclose(np.asarray(got[k]), v.ravel(), rtol=0, atol=1e-6 * max(1.0, np.abs(v).max()),
                                   err_msg=k)
    assert not (tmp_path / "pass.txt.part").exists()


def test_net_pass_usage_error(cpu_only_build):
    r = caffe_env.run_tool("net_pass", check=False)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("net_pass: need -model")


def test_train_py_hands_multi_gpu_ids_to_caffe(gpu_solver, tmp_path):
    """tools/train.py --gpu 0,1 (and make reproduce GPU=...) reach `caffe train -gpu` unchanged; this
    CPU-only build then stops with Caffe's message, after logging the devices it was given."""
    from conftest import run_script
    r = run_script("tools/train.py", gpu_solver, "--gpu", "0,1", "--log-dir", tmp_path / "logs", timeout=120)
    assert r.returncode != 0
    log = (tmp_path / "logs" / "caffe.log").read_text()
    assert "Using GPUs 0, 1" in log
    assert "Cannot use GPU in CPU-only Caffe" in log


PATCH_DIR = REPO_ROOT / "setup" / "patches"


def _series() -> list[tuple[str, str]]:
    out = []
    for line in (PATCH_DIR / "series").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, *tag = line.split()
            out.append((name, tag[0] if tag else ""))
    return out


def test_the_series_orders_every_patch_and_numbers_follow_it():
    series = _series()
    names = [n for n, _ in series]
    assert sorted(p.name for p in PATCH_DIR.rglob("*.patch")) == sorted(names)   # every patch, once, no folders
    assert [int(n[:4]) for n in names] == list(range(1, len(names) + 1)), names
    assert {t for _, t in series} <= {"", "speed", "onednn", "blocked", "cuda"}


def test_each_patch_says_what_it_is_for_and_applies_at_p1():
    import re
    for name, _ in _series():
        text = (PATCH_DIR / name).read_text()
        header = text[: re.search(r"^(--- |diff )", text, re.M).start()]
        fields = dict(re.findall(r"^([A-Z][\w-]*): (.*)$", header, re.M))
        assert len(fields.get("Description", "")) > 20, f"{name}: no DEP-3 Description"
        assert "Author" in fields or "Origin" in fields, f"{name}: no Author or Origin"
        assert fields.get("Forwarded") == "not-needed", name
        for path in re.findall(r"^(?:---|\+\+\+) (\S+)", text, re.M):  # one leading folder: patch -p1
            assert path == "/dev/null" or (path.count("/") >= 1 and path.split("/")[0] in ("a", "b", "x")), (name, path)
