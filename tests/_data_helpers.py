"""Helpers for the data tests: small files in the real formats, and a tiny real Caffe net."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np

from simplenet_caffe.caffe_env import caffe_pb2, run_tool


# --- writers of the real file formats (the package only reads them) --------------------------------

def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip when the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = head + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_cifar_python(path: str | os.PathLike, images: np.ndarray, labels: dict[str, list]) -> None:
    """Write a batch in the official pickle layout (bytes keys, protocol 2)."""
    d = {b"batch_label": b"written by simplenet_caffe", b"data": np.asarray(images, np.uint8).reshape(len(images), -1)}
    for k, v in labels.items():
        d[k.encode()] = list(map(int, v))
    d[b"filenames"] = [f"img_{i}.png".encode() for i in range(len(images))]
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


def write_cifar_binary(path: str | os.PathLike, images: np.ndarray, *label_columns) -> None:
    """Write records ``<labels...><3072 pixel bytes>`` (CIFAR-100: coarse then fine)."""
    x = np.asarray(images, np.uint8).reshape(len(images), -1)
    cols = [np.asarray(c, np.uint8).reshape(-1, 1) for c in label_columns]
    Path(path).write_bytes(np.hstack([*cols, x]).tobytes())


def write_svhn_mat(path: str | os.PathLike, images_nchw: np.ndarray, digits: np.ndarray) -> None:
    """Write a format-2 file (digit 0 stored as 10)."""
    import scipy.io

    y = np.asarray(digits, np.uint8).copy()
    y[y == 0] = 10
    scipy.io.savemat(str(path), {"X": np.asarray(images_nchw, np.uint8).transpose(2, 3, 1, 0), "y": y.reshape(-1, 1)})


def rng(seed=0):
    return np.random.default_rng(seed)


def make_cifar(dirpath: Path, dataset: str, form: str, n_per_file: int = 8, seed: int = 0):
    """Write a small CIFAR-10/100 file set; returns {split: (images N×3×32×32, labels[, coarse])}."""
    from simplenet_caffe.data.cifar import FILES

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
