"""Readers: real MNIST / Fashion-MNIST, and CIFAR / SVHN / folder files written in the real formats."""
from __future__ import annotations

import gzip
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from simplenet_caffe.data import cifar, idx, imagefolder, svhn
from simplenet_caffe.errors import UserError

from _data_helpers import make_cifar, make_images, rng, write_cifar_binary, write_idx, write_svhn_mat

FASHION = Path("/usr/share/datasets/fashion-mnist")
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_real(mnist_dir):
    x, y = idx.read_mnist(mnist_dir, "train")
    xt, yt = idx.read_mnist(mnist_dir, "test")
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8
    assert xt.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(yt).tolist() == MNIST_TEST_COUNTS
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert abs(x.mean() - 33.318421) < 1e-5 and abs(x.std() - 78.567490) < 1e-5


def test_fashion_mnist_real():
    need((FASHION / "train-images-idx3-ubyte.gz").is_file(), "Debian package dataset-fashion-mnist not installed")
    x, y = idx.read_mnist(FASHION, "train")
    xt, yt = idx.read_mnist(FASHION, "test")
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert y[:5].tolist() == [9, 0, 0, 3, 0]


def _small_idx(d: Path, n=5, nlab=None, gz=True):
    d.mkdir(parents=True, exist_ok=True)
    x = rng().integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng(1).integers(0, 10, n if nlab is None else nlab).astype(np.uint8)
    sfx = ".gz" if gz else ""
    write_idx(d / f"train-images-idx3-ubyte{sfx}", x)
    write_idx(d / f"train-labels-idx1-ubyte{sfx}", y)
    return x, y


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_raw_and_gz(tmp_path, gz):
    x, y = _small_idx(tmp_path, gz=gz)
    rx, ry = idx.read_mnist(tmp_path, "train")
    assert np.array_equal(rx[:, 0], x) and np.array_equal(ry, y)


def test_idx_truncated(tmp_path):
    _small_idx(tmp_path, gz=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(UserError, match="truncated"):
        idx.read_mnist(tmp_path, "train")


def test_idx_truncated_gzip(tmp_path):
    _small_idx(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(UserError, match="damaged or truncated"):
        idx.read_mnist(tmp_path, "train")


def test_idx_wrong_magic(tmp_path):
    _small_idx(tmp_path, gz=False)
    labels = (tmp_path / "train-labels-idx1-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(labels)  # a label file where images belong
    with pytest.raises(UserError, match="wrong magic number 2049"):
        idx.read_mnist(tmp_path, "train")


def test_idx_label_count_mismatch(tmp_path):
    _small_idx(tmp_path, n=5, nlab=4)
    with pytest.raises(UserError, match="label count mismatch.*5 images but 4 labels"):
        idx.read_mnist(tmp_path, "train")


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("form", ["python", "binary"])
def test_cifar_forms(tmp_path, dataset, form):
    truth = make_cifar(tmp_path / "c", dataset, form, n_per_file=4)
    for split in ("train", "test"):
        x, y = cifar.read_cifar(tmp_path / "c", dataset, split)
        tx, ty, tc = truth[split]
        assert x.shape == (len(tx), 3, 32, 32) and np.array_equal(x, tx) and np.array_equal(y, ty)
        if dataset == "cifar100":
            _, yc = cifar.read_cifar(tmp_path / "c", dataset, split, label="coarse")
            assert np.array_equal(yc, tc)
    assert len(truth["train"][0]) == (20 if dataset == "cifar10" else 4)


def test_cifar_from_targz_and_parent_folder(tmp_path):
    truth = make_cifar(tmp_path / "cifar-10-batches-py", "cifar10", "python", n_per_file=3)
    arc = tmp_path / "raw" / "cifar-10-python.tar.gz"
    arc.parent.mkdir()
    with tarfile.open(arc, "w:gz") as t:
        t.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    for src in (arc, arc.parent, tmp_path):   # archive, folder holding it, folder above the batches
        x, y = cifar.read_cifar(src, "cifar10", "test")
        assert np.array_equal(x, truth["test"][0]) and np.array_equal(y, truth["test"][1])


def test_cifar_corrupt_pickle(tmp_path):
    make_cifar(tmp_path, "cifar10", "python", n_per_file=2)
    p = tmp_path / "data_batch_3"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(UserError, match="data_batch_3: corrupt or not a CIFAR python batch"):
        cifar.read_cifar(tmp_path, "cifar10", "train")


def test_cifar_pickle_cannot_run_code(tmp_path):
    import pickle

    make_cifar(tmp_path, "cifar10", "python", n_per_file=2)

    class Evil:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path),))

    (tmp_path / "test_batch").write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(UserError, match="refusing to load shutil.rmtree"):
        cifar.read_cifar(tmp_path, "cifar10", "test")
    assert tmp_path.exists()


def test_cifar_binary_bad_size_and_labels(tmp_path):
    make_cifar(tmp_path, "cifar10", "binary", n_per_file=2)
    p = tmp_path / "test_batch.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(UserError, match="not a multiple of the 3073-byte"):
        cifar.read_cifar(tmp_path, "cifar10", "test")
    write_cifar_binary(p, np.zeros((2, 3, 32, 32), np.uint8), [3, 12])
    with pytest.raises(UserError, match="label of record 1 is 12: labels are whole numbers 0 to 9"):
        cifar.read_cifar(tmp_path, "cifar10", "test")


def test_cifar_missing_files(tmp_path):
    make_cifar(tmp_path, "cifar10", "python", n_per_file=2)
    (tmp_path / "data_batch_5").unlink()
    with pytest.raises(UserError, match="no complete cifar10 file set"):
        cifar.read_cifar(tmp_path, "cifar10", "train")


def test_svhn_mat(tmp_path):
    x = rng().integers(0, 256, (7, 3, 32, 32), dtype=np.uint8)
    y = np.array([0, 1, 2, 9, 0, 5, 3])
    write_svhn_mat(tmp_path / "train_32x32.mat", x, y)
    import scipy.io
    raw = scipy.io.loadmat(tmp_path / "train_32x32.mat")
    assert raw["X"].shape == (32, 32, 3, 7) and raw["y"].ravel().tolist() == [10, 1, 2, 9, 10, 5, 3]
    rx, ry = svhn.read_svhn(tmp_path, "train")
    assert np.array_equal(rx, x) and ry.tolist() == y.tolist()
    assert rx[0, 0, 5, 7] == raw["X"][5, 7, 0, 0]   # channel 0 = R, row 5, col 7


def test_svhn_corrupt_and_wrong(tmp_path):
    (tmp_path / "test_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 50)
    with pytest.raises(UserError, match="corrupt or not a MATLAB .mat file"):
        svhn.read_svhn(tmp_path, "test")
    import scipy.io
    scipy.io.savemat(tmp_path / "extra_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]])})
    with pytest.raises(UserError, match="labels are whole numbers 1 to 10"):
        svhn.read_svhn(tmp_path, "extra")
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1]])})
    with pytest.raises(UserError, match="label count mismatch"):
        svhn.read_svhn(tmp_path, "train")


def test_folder_scan_and_list(tmp_path):
    imgs = make_images(tmp_path / "root", classes=("b", "a"), per_class=2)
    items, classes = imagefolder.scan_folder(tmp_path / "root")
    assert classes == ["a", "b"]                                   # sorted names → labels
    assert items == [("a/img 0.png", 0), ("a/img 1.png", 0), ("b/img 0.png", 1), ("b/img 1.png", 1)]
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\na/img 0.png 3\n\nb/img 1.png\t7  \n  a/img 1.png   0\n")
    assert imagefolder.read_list(lst) == [("a/img 0.png", 3), ("b/img 1.png", 7), ("a/img 1.png", 0)]
    recs = list(imagefolder.iter_images(tmp_path / "root", items))
    by_path = {rel: img for rel, _, img in imgs}
    for chw, label, rel, raw in recs:
        assert np.array_equal(chw, by_path[rel].transpose(2, 0, 1)) and raw is None   # BGR CHW


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty folder"):
        imagefolder.scan_folder(tmp_path / "empty")
    (tmp_path / "empty" / "cls").mkdir()
    with pytest.raises(UserError, match="class folder.*with no images: cls"):
        imagefolder.scan_folder(tmp_path / "empty")
    lst = tmp_path / "bad.txt"
    lst.write_text("a.png 1\nb.png cat\n")
    with pytest.raises(UserError, match="bad.txt:2: expected 'path label'"):
        imagefolder.read_list(lst)
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="x.png: not an image"):
        list(imagefolder.iter_images(tmp_path, [("x.png", 0)]))
