"""Issue 2: the Caffe that `make setup` builds is real, complete and the one the project uses."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, text_format

from simplenet_caffe import caffe_env
from simplenet_caffe.paths import REPO_ROOT

from conftest import need


@pytest.fixture(scope="module")
def prefix():
    p = caffe_env.caffe_prefix()
    need(p is not None and (p / "bin").is_dir(), "Caffe is not built: run make setup")
    return p


def test_caffe_version_runs(prefix):
    out = subprocess.run([str(caffe_env.caffe_tool("caffe")), "--version"], capture_output=True, text=True,
                         env=caffe_env.tool_env())
    assert out.returncode == 0
    assert out.stdout.strip() == "caffe version 1.0.0"


@pytest.mark.parametrize("tool", ["caffe", "convert_imageset", "compute_image_mean", "upgrade_net_proto_text",
                                  "upgrade_solver_proto_text", "convert_mnist_data", "extract_features"])
def test_sibling_tools_in_venv(prefix, tool):
    path = caffe_env.caffe_tool(tool)
    assert path.is_file()
    # The binary lives in the cache outside the repo; the venv only holds a wrapper.
    assert not (prefix / "bin" / tool).resolve().is_relative_to(REPO_ROOT)


def test_pycaffe_comes_from_cache(caffe, prefix):
    from pathlib import Path
    mod_file = Path(caffe.__file__).resolve()
    assert mod_file.is_relative_to(prefix.resolve())
    assert not mod_file.is_relative_to(REPO_ROOT)
    # and plain `import caffe` in the venv's python resolves to the same place
    out = subprocess.run([sys.executable, "-c", "import caffe; print(caffe.__file__)"], capture_output=True, text=True,
                         env={**caffe_env.tool_env(), "GLOG_minloglevel": "2"})
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).resolve() == mod_file


NET_STRING = """
name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 5 kernel_size: 3 pad: 1
                            weight_filler { type: "constant" value: 0.5 } bias_filler { type: "constant" value: 1 } } }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
        inner_product_param { num_output: 7 weight_filler { type: "constant" value: 0.25 } } }
"""


def test_pycaffe_builds_net_from_prototxt_string(caffe, tmp_path):
    f = tmp_path / "tiny.prototxt"
    f.write_text(NET_STRING)
    net = caffe.Net(str(f), caffe.TEST)
    assert net.blobs["conv"].data.shape == (2, 5, 4, 4)
    # Caffe pools with ceil: (4 - 3) / 2 rounded up + 1 = 2
    assert net.blobs["pool"].data.shape == (2, 5, 2, 2)
    assert net.params["ip"][0].data.shape == (7, 20)
    net.blobs["data"].data[...] = 1.0
    net.forward()
    # centre pixels see 27 ones * 0.5 + 1 = 14.5; every pool window holds a centre pixel
    np.testing.assert_allclose(net.blobs["pool"].data, 14.5)
    np.testing.assert_allclose(net.blobs["ip"].data, 20 * 14.5 * 0.25)


def test_caffe_pb2_is_built_from_this_caffes_proto(caffe_pb2, prefix, tmp_path):
    import google.protobuf
    major, minor = (int(x) for x in google.protobuf.__version__.split(".")[:2])
    assert (major, minor) >= (3, 20)
    assert caffe_env.caffe_pb2() is caffe_pb2
    proto = prefix / "share" / "caffe" / "caffe.proto"
    need(proto.is_file(), f"{proto} missing: this Caffe install does not ship its caffe.proto")
    out = tmp_path / "caffe.desc"
    subprocess.run(["protoc", f"--proto_path={proto.parent}", f"--descriptor_set_out={out}", proto.name], check=True)
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    expected = fds.file[0]
    got = descriptor_pb2.FileDescriptorProto()
    caffe_pb2.DESCRIPTOR.CopyToProto(got)
    assert {m.name for m in got.message_type} == {m.name for m in expected.message_type}
    for m_exp in expected.message_type:
        m_got = next(m for m in got.message_type if m.name == m_exp.name)
        assert [(f.name, f.number) for f in m_got.field] == [(f.name, f.number) for f in m_exp.field], m_exp.name
    # BVLC's schema (not the brocolli fork): pooling has round_mode, BatchNorm has moving_average_fraction
    assert "round_mode" in caffe_pb2.PoolingParameter.DESCRIPTOR.fields_by_name
    assert "moving_average_fraction" in caffe_pb2.BatchNormParameter.DESCRIPTOR.fields_by_name
    with pytest.raises(text_format.ParseError):
        text_format.Merge("layer { name: 'x' ceil_mode: true }", caffe_pb2.NetParameter())


def _tiny_dataset(n=200, seed=0):
    """Two separable classes of 1x8x8 uint8 images: bright left half (0) or bright right half (1)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = i % 2
        img = rng.integers(0, 60, size=(1, 8, 8), dtype=np.uint8)
        if label == 0:
            img[:, :, :4] += 150
        else:
            img[:, :, 4:] += 150
        yield img, label


def test_caffe_train_tiny_net_loss_falls(caffe_pb2, tmp_path):
    from simplenet_caffe.data import lmdbio
    from simplenet_caffe.runs.caffelog import parse

    db = tmp_path / "tiny_lmdb"
    lmdbio.write_lmdb(db, _tiny_dataset())
    net = caffe_pb2.NetParameter(name="tiny_train")
    data = net.layer.add(name="data", type="Data", top=["data", "label"])
    data.data_param.source = str(db)
    data.data_param.backend = caffe_pb2.DataParameter.LMDB
    data.data_param.batch_size = 20
    data.transform_param.scale = 1.0 / 255
    ip = net.layer.add(name="ip", type="InnerProduct", bottom=["data"], top=["ip"])
    ip.inner_product_param.num_output = 2
    ip.inner_product_param.weight_filler.type = "gaussian"
    ip.inner_product_param.weight_filler.std = 0.01
    net.layer.add(name="loss", type="SoftmaxWithLoss", bottom=["ip", "label"], top=["loss"])
    (tmp_path / "net.prototxt").write_text(text_format.MessageToString(net))
    solver = caffe_pb2.SolverParameter(net=str(tmp_path / "net.prototxt"), base_lr=0.1, momentum=0.9,
                                       lr_policy="fixed", max_iter=20, display=1, random_seed=1,
                                       snapshot_after_train=False, solver_mode=caffe_pb2.SolverParameter.CPU)
    (tmp_path / "solver.prototxt").write_text(text_format.MessageToString(solver))
    proc = caffe_env.run_tool("caffe", "train", f"-solver={tmp_path / 'solver.prototxt'}", check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = tmp_path / "caffe.log"
    log.write_text(proc.stderr)
    assert "Optimization Done." in proc.stderr
    run = parse(log)
    rows = [r for r in run.train if r.get("loss") is not None]  # raw per-iteration outputs (display 1)
    losses = [r["loss"] for r in rows]
    assert [r["iteration"] for r in rows] == list(range(20))
    assert run.train[-1]["iteration"] == 20  # the closing "Iteration 20, loss = ..." line
    assert losses[0] == pytest.approx(np.log(2), abs=0.05)  # tiny weights: uniform softmax
    assert losses[-1] < 0.2 * losses[0]


def _fake_venv(tmp_path, stamp: str):
    """A venv folder holding only what `setup.sh --if-needed` looks at: bin/python, bin/caffe (both
    failing at once if run, so a setup that goes on stops at its first use of the venv's Python), the stamp."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "caffe"):
        (venv / "bin" / name).write_text("#!/bin/sh\nexit 3\n")
        (venv / "bin" / name).chmod(0o755)
    (venv / ".setup-stamp").write_text(stamp)
    return venv


def _if_needed(venv, **env):
    import os
    keep = {k: v for k, v in os.environ.items() if k not in ("CUDA", "BLAS", "DNN", "MINIMAL", "CAFFE_ROOT")}
    return subprocess.run(["bash", "setup/setup.sh", "--if-needed"], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**keep, "VENV": str(venv), "SKIP_APT": "1", **env})


def test_setup_if_needed_is_a_no_op_after_setup_and_reruns_when_stale(tmp_path):
    """`make test` / `make demo` run `setup.sh --if-needed`: nothing when the venv's stamp matches
    the inputs and options, the whole setup (here stopped at its venv step) when it does not."""
    stamp = REPO_ROOT / ".venv" / ".setup-stamp"
    need(stamp.is_file(), "no .venv/.setup-stamp: run make setup")
    text = stamp.read_text()
    fresh = _if_needed(_fake_venv(tmp_path / "a", text))
    assert fresh.returncode == 0 and fresh.stdout == "" and fresh.stderr == "", fresh.stdout + fresh.stderr
    rec = dict(line.split("=", 1) for line in text.splitlines())
    other_blas = "open" if rec["BLAS"] != "open" else "mkl"
    stale_cases = [(_fake_venv(tmp_path / "b", text.replace(f"inputs={rec['inputs']}", "inputs=0")), {}),
                   (_fake_venv(tmp_path / "c", text), {"BLAS": other_blas})]
    for venv, env in stale_cases:
        out = _if_needed(venv, **env)
        assert out.returncode != 0, out.stdout
        assert "is missing or out of date: running setup/setup.sh" in out.stdout
        assert 'error in step "python venv"' in out.stderr
        assert not (venv / ".setup-stamp").exists()
