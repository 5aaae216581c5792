"""A tiny real Caffe experiment for the training/log tests: 8x8 one-channel images of two
classes (bright top half vs bright bottom half), written with simplenet_caffe.data.lmdbio, and a
net and solver built with caffe_pb2 + text_format. Trains on CPU in about a second."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_images(n: int, seed: int):
    """Yield (CHW uint8 1x8x8 array, label): label 0 = bright top half, 1 = bright bottom half."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = i % 2
        img = rng.integers(0, 160, size=(1, 8, 8), dtype=np.uint8)
        rows = slice(0, 4) if label == 0 else slice(4, 8)
        img[:, rows, :] += 40
        yield img, label


def tiny_net(pb2, train_lmdb: str, test_lmdb: str):
    """Data -> Conv(4, 3x3) -> ReLU -> MaxPool 2 -> InnerProduct(2) -> SoftmaxWithLoss (+ Accuracy in TEST)."""
    net = pb2.NetParameter(name="TinyTwoClass")
    for phase, src, bs in ((pb2.TRAIN, train_lmdb, 20), (pb2.TEST, test_lmdb, 25)):
        d = net.layer.add(name="data", type="Data", top=["data", "label"])
        d.include.add(phase=phase)
        d.transform_param.scale = 1.0 / 255
        d.data_param.source = src
        d.data_param.batch_size = bs
        d.data_param.backend = pb2.DataParameter.LMDB
    c = net.layer.add(name="conv1", type="Convolution", bottom=["data"], top=["conv1"])
    c.convolution_param.num_output = 4
    c.convolution_param.kernel_size.append(3)
    c.convolution_param.weight_filler.type = "xavier"
    net.layer.add(name="relu1", type="ReLU", bottom=["conv1"], top=["conv1"])
    p = net.layer.add(name="pool1", type="Pooling", bottom=["conv1"], top=["pool1"])
    p.pooling_param.pool = pb2.PoolingParameter.MAX
    p.pooling_param.kernel_size = 2
    p.pooling_param.stride = 2
    ip = net.layer.add(name="ip1", type="InnerProduct", bottom=["pool1"], top=["ip1"])
    ip.inner_product_param.num_output = 2
    ip.inner_product_param.weight_filler.type = "xavier"
    acc = net.layer.add(name="accuracy", type="Accuracy", bottom=["ip1", "label"], top=["accuracy"])
    acc.include.add(phase=pb2.TEST)
    net.layer.add(name="loss", type="SoftmaxWithLoss", bottom=["ip1", "label"], top=["loss"])
    return net


def tiny_solver(pb2, net_path: str, snapshot_prefix: str, max_iter: int, display: int = 10,
                test_interval: int = 20, snapshot: int = 20):
    s = pb2.SolverParameter(net=net_path, base_lr=0.01, momentum=0.9, lr_policy="step", gamma=0.5,
                            stepsize=30, display=display, max_iter=max_iter, test_interval=test_interval,
                            snapshot=snapshot, snapshot_prefix=snapshot_prefix, random_seed=7,
                            solver_mode=pb2.SolverParameter.CPU)
    s.test_iter.append(2)
    return s


def require_caffe() -> None:
    """Skip (fail in CI) when the caffe binary is not built."""
    from conftest import need
    from simplenet_caffe import caffe_env

    try:
        caffe_env.caffe_tool("caffe")
    except Exception as e:  # noqa: BLE001
        need(False, f"caffe binary not available ({e})")


def make_tiny_experiment(root: Path, pb2, max_iters=(40,), **solver_kw) -> dict:
    """Write LMDBs, the net and one solver per max_iter under `root`; absolute paths inside."""
    from google.protobuf import text_format

    from simplenet_caffe.data.lmdbio import write_lmdb

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    train_db, test_db = root / "train_lmdb", root / "test_lmdb"
    if not train_db.exists():
        write_lmdb(train_db, tiny_images(200, seed=1), total=200)
        write_lmdb(test_db, tiny_images(50, seed=2), total=50)
    net_path = root / "tiny_train_val.prototxt"
    net_path.write_text(text_format.MessageToString(tiny_net(pb2, str(train_db), str(test_db))))
    solvers = []
    for mi in max_iters:
        sp = root / f"tiny_{mi}_solver.prototxt"
        sp.write_text(text_format.MessageToString(
            tiny_solver(pb2, str(net_path), str(root / "snap" / "tiny"), mi, **solver_kw)))
        solvers.append(sp)
    return {"root": root, "net": net_path, "solvers": solvers, "snap_prefix": root / "snap" / "tiny"}


def solver_copy(exp: dict, tmp_path: Path, name: str = "t", **fields) -> Path:
    """A copy of `exp`'s first tiny solver with `fields` changed and its own snapshot prefix,
    named <name>_solver.prototxt (so its default run name is <name>)."""
    from simplenet_caffe import protoio

    sp = protoio.read_solver(exp["solvers"][0])
    sp.snapshot_prefix = str(tmp_path / "snap" / name / name)
    for k, v in fields.items():
        setattr(sp, k, v)
    path = tmp_path / f"{name}_solver.prototxt"
    protoio.write_text(path, sp)
    return path
