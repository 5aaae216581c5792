"""Helpers for the data tests: small files in the real formats, and a tiny real Caffe net."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from simplenet_caffe.caffe_env import caffe_pb2, run_tool


def rng(seed=0):
    return np.random.default_rng(seed)


def make_cifar(dirpath: Path, dataset: str, form: str, n_per_file: int = 8, seed: int = 0):
    """Write a small CIFAR-10/100 file set; returns {split: (images N×3×32×32, labels[, coarse])}."""
    from simplenet_caffe.data.cifar import FILES, write_cifar_binary, write_cifar_python

    r = rng(seed)
    dirpath.mkdir(parents=True, exist_ok=True)
    truth = {}
    for split, names in FILES[(dataset, form)].items():
        xs, fine, coarse = [], [], []
        for name in names:
            x = r.integers(0, 256, (n_per_file, 3, 32, 32), dtype=np.uint8)
            if dataset == "cifar10":
                y = r.integers(0, 10, n_per_file)
                if form == "python":
                    write_cifar_python(dirpath / name, x, {"labels": y})
                else:
                    write_cifar_binary(dirpath / name, x, y)
                fine.append(y)
            else:
                yf, yc = r.integers(0, 100, n_per_file), r.integers(0, 20, n_per_file)
                if form == "python":
                    write_cifar_python(dirpath / name, x, {"fine_labels": yf, "coarse_labels": yc})
                else:
                    write_cifar_binary(dirpath / name, x, yc, yf)
                fine.append(yf)
                coarse.append(yc)
            xs.append(x)
        truth[split] = (np.concatenate(xs), np.concatenate(fine), np.concatenate(coarse) if coarse else None)
    return truth


def make_images(root: Path, classes=("cat", "dog"), per_class=3, size=(20, 14), seed=0, ext=".png"):
    """Class folders of small colour images; returns [(relpath, label, BGR HWC array)]."""
    import cv2

    r = rng(seed)
    out = []
    for label, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = r.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            rel = f"{c}/img {i}{ext}"          # a space in every name
            cv2.imwrite(str(root / rel), img)
            out.append((rel, label, cv2.imread(str(root / rel))))
    return out


def write_tiny_net(tmp: Path, source: str, num_output: int = 10, batch: int = 10, mean_file: str | None = None,
                   max_iter: int = 4, backend: str = "LMDB") -> Path:
    """A real Caffe train net (Data → InnerProduct → SoftmaxWithLoss) and solver, via caffe_pb2."""
    from google.protobuf import text_format

    pb = caffe_pb2()
    net = pb.NetParameter(name="tiny")
    data = net.layer.add(name="data", type="Data", top=["data", "label"])
    data.data_param.source = str(source)
    data.data_param.batch_size = batch
    data.data_param.backend = getattr(pb.DataParameter, backend)
    if mean_file:
        data.transform_param.mean_file = str(mean_file)
    ip = net.layer.add(name="ip", type="InnerProduct", bottom=["data"], top=["ip"])
    ip.inner_product_param.num_output = num_output
    ip.inner_product_param.weight_filler.type = "xavier"
    net.layer.add(name="loss", type="SoftmaxWithLoss", bottom=["ip", "label"], top=["loss"])
    net_path = tmp / "tiny_net.prototxt"
    net_path.write_text(text_format.MessageToString(net))
    solver = pb.SolverParameter(net=str(net_path), base_lr=0.01, lr_policy="fixed", max_iter=max_iter, display=1,
                                solver_mode=pb.SolverParameter.CPU, snapshot_after_train=False, random_seed=1)
    solver_path = tmp / "tiny_solver.prototxt"
    solver_path.write_text(text_format.MessageToString(solver))
    return solver_path


def caffe_train(solver: Path, cwd: Path):
    return run_tool("caffe", "train", f"-solver={solver}", check=False, cwd=str(cwd))


def files_under(path: Path) -> list[str]:
    return sorted(os.path.relpath(p, path) for p in Path(path).rglob("*"))
