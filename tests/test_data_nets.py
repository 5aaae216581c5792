"""The recipes' outputs in the generated nets: data layers of prototxt/*_train_val.prototxt read the
DBs and mean files where LAYOUTS puts them, and a real `caffe train` runs on the MNIST recipe."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import need, run_script
from simplenet_caffe.data import lmdbio
from simplenet_caffe.caffe_env import run_tool
from simplenet_caffe.paths import PROTOTXT_DIR

from _data_helpers import make_cifar


def _data_only(caffe_pb2, prototxt: Path, out: Path) -> Path:
    """The net's Data layers alone (same source, batch, transform_param), for a cheap forward."""
    from google.protobuf import text_format

    net = caffe_pb2.NetParameter()
    text_format.Parse(prototxt.read_text(), net)
    keep = [l for l in net.layer if l.type == "Data"]
    assert keep, f"{prototxt.name} has no Data layer"
    del net.layer[:]
    net.layer.extend(keep)
    out.write_text(text_format.MessageToString(net))
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Tiny CIFAR-10 (fake files in the real binary format) through data_prep/cifar.py."""
    root = tmp_path_factory.mktemp("prep")
    truth = make_cifar(root / "raw", "cifar10", "binary", n_per_file=20)
    r = run_script("data_prep/cifar.py", "--src", root / "raw", "--root", root)
    assert r.returncode == 0, r.stderr
    return root, truth


@pytest.mark.parametrize("net", ["cifar10_a5m_meanfile", "cifar10_a5m_zeropad", "cifar10_s300a"])
def test_generated_cifar_data_layers_read_recipe_output(prepared, caffe, caffe_pb2, net, monkeypatch, tmp_path):
    proto = PROTOTXT_DIR / f"{net}_train_val.prototxt"
    need(proto.is_file(), f"{proto} not generated")
    root, truth = prepared
    monkeypatch.chdir(root)                      # sources are relative to the repo root
    path = _data_only(caffe_pb2, proto, tmp_path / "data.prototxt")
    for phase in (caffe.TRAIN, caffe.TEST):
        n = caffe.Net(str(path), phase)
        n.forward()
        data, label = n.blobs["data"].data, n.blobs["label"].data
        assert data.shape[1:] == (3, 32, 32)
        if phase == caffe.TEST:
            sel = np.arange(len(data)) % len(truth["test"][0])     # the data layer wraps around the DB
            x, y = truth["test"][0][sel], truth["test"][1][sel]
            assert label.tolist() == y.tolist()
            if "meanfile" in net:                # record - per-pixel train mean
                np.testing.assert_allclose(data, x - truth["train"][0].mean(axis=0), atol=1e-3)
            elif "mirror" not in net:            # centre crop of the padded record = standardised image
                xt = truth["train"][0].transpose(1, 0, 2, 3).reshape(3, -1)
                expect = (x - xt.mean(axis=1)[:, None, None]) / xt.std(axis=1)[:, None, None]
                np.testing.assert_allclose(data, expect, atol=1e-4)


@pytest.mark.slow
def test_caffe_train_generated_mnist_net_on_recipe_output(tmp_path, mnist_dir, caffe_pb2):
    """Acceptance: `caffe train` with a generated MNIST net runs on data_prep/mnist.py's DBs."""
    proto = PROTOTXT_DIR / "mnist_s300a_demo_train_val.prototxt"
    need(proto.is_file(), f"{proto} not generated")
    r = run_script("data_prep/mnist.py", "--src", mnist_dir, "--root", tmp_path,
                   "--limit-train", "300", "--limit-test", "200")
    assert r.returncode == 0, r.stderr
    from google.protobuf import text_format

    solver = caffe_pb2.SolverParameter(net=str(proto), base_lr=0.01, lr_policy="fixed", max_iter=2, display=1,
                                       test_iter=[1], test_interval=2, solver_mode=caffe_pb2.SolverParameter.CPU,
                                       snapshot_after_train=False, random_seed=1)
    (tmp_path / "solver.prototxt").write_text(text_format.MessageToString(solver))
    p = run_tool("caffe", "train", "-solver=solver.prototxt", check=False, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Opened lmdb data/mnist_norm/train_lmdb" in p.stderr and "Opened lmdb data/mnist_norm/test_lmdb" in p.stderr
    assert "Iteration 2, Testing net (#0)" in p.stderr and "Optimization Done" in p.stderr
    assert lmdbio.count_lmdb(tmp_path / "data/mnist_norm/train_lmdb") == 300
