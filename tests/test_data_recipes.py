"""data_prep recipes (the paper's preprocessing), preprocess.json + apply(), download helpers."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import need, run_script
from simplenet_caffe import protoio
from simplenet_caffe.data import download, layout, lmdbio, preprocess, stats
from simplenet_caffe.errors import UserError
from simplenet_caffe.data.layout import LAYOUTS

from _data_helpers import make_cifar, make_images, rng

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _db(root: Path, layout: str, split: str) -> Path:
    d = LAYOUTS[layout]
    return root / (d.train_lmdb if split == "train" else d.test_lmdb)


def test_mnist_recipe_real(tmp_path, mnist_dir):
    r = run_script("data_prep/mnist.py", "--src", mnist_dir, "--root", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "train mean 33.318421, std 78.567490" in r.stdout          # docs/spec.md §6.4: ≈33.32 / ≈78.57
    rec = preprocess.load(tmp_path / "data" / "mnist_norm")
    assert rec.channel_order == "gray" and rec.dtype == "float" and rec.input_shape == (1, 28, 28)
    assert rec.splits["train"]["count"] == 60000 and rec.splits["test"]["count"] == 10000
    from simplenet_caffe.data.idx import read_mnist
    x, y = read_mnist(mnist_dir, "test")
    got = list(lmdbio.read_lmdb(_db(tmp_path, "mnist_norm", "test"), limit=50))
    for i, (_, a, lab) in enumerate(got):
        np.testing.assert_allclose(a, (x[i].astype(np.float32) - rec.mean[0]) / rec.std[0], rtol=1e-6, atol=1e-6)
        assert lab == y[i]
    # apply() on a raw image gives exactly the stored record
    np.testing.assert_array_equal(preprocess.apply(rec, x[3, 0]), got[3][1])
    # train records standardised: mean 0, std 1 over the whole set
    tx, _ = lmdbio.read_arrays(_db(tmp_path, "mnist_norm", "train"))
    assert abs(tx.mean()) < 1e-4 and abs(tx.std() - 1) < 1e-4
    r = run_script("data_prep/mnist.py", "--src", mnist_dir, "--root", tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr


def test_fashion_recipe_limited(tmp_path):
    need((FASHION / "train-images-idx3-ubyte.gz").is_file(), "Debian package dataset-fashion-mnist not installed")
    r = run_script("data_prep/mnist.py", "--dataset", "fashion-mnist", "--root", tmp_path,
                   "--limit-train", "1000", "--limit-test", "100")
    assert r.returncode == 0, r.stderr
    rec = preprocess.load(tmp_path / "data" / "fashion_mnist_norm")
    assert rec.layout == "fashion_mnist_norm" and rec.splits["train"]["count"] == 1000
    from simplenet_caffe.data.idx import read_mnist
    x, _ = read_mnist(FASHION, "train")
    assert abs(rec.mean[0] - x[:1000].mean()) < 1e-9 and abs(rec.std[0] - x[:1000].std()) < 1e-9


def test_cifar_recipe_both_setups(tmp_path):
    truth = make_cifar(tmp_path / "c", "cifar10", "binary", n_per_file=4)
    r = run_script("data_prep/cifar.py", "--src", tmp_path / "c", "--root", tmp_path)
    assert r.returncode == 0, r.stderr
    xtr, xte = truth["train"][0], truth["test"][0]
    # plain: uint8 RGB records identical to the files + per-pixel mean image
    x, y = lmdbio.read_arrays(_db(tmp_path, "cifar10", "train"))
    assert x.dtype == np.uint8 and np.array_equal(x, xtr) and np.array_equal(y, truth["train"][1])
    np.testing.assert_allclose(protoio.read_binaryproto(tmp_path / LAYOUTS["cifar10"].mean_file),
                               xtr.mean(axis=0), rtol=1e-6)
    # zeropad: per-channel train mean/std, standardised, 4-px zero pad → 40x40 float
    x, _ = lmdbio.read_arrays(_db(tmp_path, "cifar10_zeropad", "test"))
    assert x.shape == (len(xte), 3, 40, 40) and x.dtype == np.float32
    m = xtr.transpose(1, 0, 2, 3).reshape(3, -1).mean(axis=1)
    s = xtr.transpose(1, 0, 2, 3).reshape(3, -1).std(axis=1)
    expect = (xte.astype(np.float64) - m[:, None, None]) / s[:, None, None]
    np.testing.assert_allclose(x[:, :, 4:36, 4:36], expect, rtol=1e-5, atol=1e-5)
    assert np.all(x[:, :, :4] == 0) and np.all(x[:, :, :, 36:] == 0)
    rec = preprocess.load(tmp_path / "data" / "cifar10_zeropad")
    np.testing.assert_allclose(rec.mean, m, rtol=1e-12)
    assert rec.pad == 4 and rec.transform == {"crop_size": 32} and rec.input_shape == (3, 32, 32)
    # apply(): a BGR image as OpenCV reads it → the centre crop of the stored record
    bgr = xte[2].transpose(1, 2, 0)[:, :, ::-1]
    np.testing.assert_allclose(preprocess.apply(rec, bgr), x[2, :, 4:36, 4:36], atol=1e-5)
    plain = preprocess.load(tmp_path / "data" / "cifar10")
    assert plain.channel_order == "RGB" and plain.transform["mean_file"].endswith("mean.binaryproto")
    assert "channel R: mean" in r.stdout


def test_svhn_recipe(tmp_path):
    from _data_helpers import write_svhn_mat

    r0 = rng(3)
    parts = {}
    for split, n in (("train", 6), ("extra", 5), ("test", 4)):
        x, y = r0.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), r0.integers(0, 10, n)
        write_svhn_mat(tmp_path / f"{split}_32x32.mat", x, y)
        parts[split] = (x, y)
    r = run_script("data_prep/svhn.py", "--src", tmp_path, "--root", tmp_path / "o", "--no-shuffle")
    assert r.returncode == 0, r.stderr
    x, y = lmdbio.read_arrays(_db(tmp_path / "o", "svhn", "train"))
    assert np.array_equal(x, np.concatenate([parts["train"][0], parts["extra"][0]]))
    assert y.tolist() == parts["train"][1].tolist() + parts["extra"][1].tolist()
    rec = preprocess.load(tmp_path / "o" / "data" / "svhn")
    assert rec.transform == {"scale": 0.0039215684} and rec.splits["test"]["count"] == 4
    img = parts["test"][0][1].transpose(1, 2, 0)[:, :, ::-1]
    np.testing.assert_allclose(preprocess.apply(rec, img), parts["test"][0][1] * np.float32(0.0039215684), rtol=1e-6)
    r = run_script("data_prep/svhn.py", "--src", tmp_path, "--root", tmp_path / "s", "--seed", "5")
    assert r.returncode == 0, r.stderr
    _, ys = lmdbio.read_arrays(_db(tmp_path / "s", "svhn", "train"))
    assert sorted(ys.tolist()) == sorted(y.tolist()) and ys.tolist() != y.tolist()


def test_imagenet_recipe_folders(tmp_path):
    make_images(tmp_path / "train", classes=("n01", "n02", "n03"), per_class=3, size=(40, 30), seed=1)
    make_images(tmp_path / "val", classes=("n01", "n02", "n03"), per_class=1, size=(30, 40), seed=2)
    r = run_script("data_prep/imagenet.py", tmp_path / "train", tmp_path / "val", "--size", "16",
                   "--root", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "o" / "data" / "imagenet"
    assert (out / "labels.txt").read_text().split() == ["n01", "n02", "n03"]
    x, y = lmdbio.read_arrays(out / "train_lmdb")
    assert x.shape == (9, 3, 16, 16) and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(protoio.read_binaryproto(out / "mean.binaryproto"), x.mean(axis=0), rtol=1e-5)
    rec = preprocess.load(out)
    assert rec.channel_order == "BGR" and rec.transform["crop_size"] == 227


def test_preprocess_load_errors(tmp_path):
    with pytest.raises(UserError, match="no preprocessing recipe"):
        preprocess.load(tmp_path)
    (tmp_path / "preprocess.json").write_text("{bad json")
    with pytest.raises(UserError, match="not a valid preprocess.json"):
        preprocess.load(tmp_path)


# ----------------------------------------------------------------------------- downloads

@pytest.fixture()
def http_dir(tmp_path):
    """An HTTP server on 127.0.0.1 serving a folder the test writes."""
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


def test_download_verifies_checksums(tmp_path, http_dir, monkeypatch):
    from _data_helpers import write_idx

    root, url = http_dir
    files = {}
    for name, arr in (("train-images-idx3-ubyte.gz", np.zeros((3, 28, 28))), ("train-labels-idx1-ubyte.gz", [1, 2, 3]),
                      ("t10k-images-idx3-ubyte.gz", np.ones((2, 28, 28))), ("t10k-labels-idx1-ubyte.gz", [4, 5])):
        write_idx(root / name, np.asarray(arr, np.uint8))
        files[name] = hashlib.md5((root / name).read_bytes()).hexdigest()
    src = layout.Source(("http://example.invalid/",), tuple(layout.RemoteFile(n, m) for n, m in files.items()))
    monkeypatch.setitem(layout.DATASETS, "mnist", dataclasses.replace(layout.DATASETS["mnist"], download=src))
    out = download.download("mnist", tmp_path / "dl", mirror=url)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    from simplenet_caffe.data.idx import read_mnist
    assert read_mnist(out, "train")[1].tolist() == [1, 2, 3]
    # a corrupted server copy: checksum error, nothing left behind
    (out / "t10k-labels-idx1-ubyte.gz").unlink()
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(UserError, match="checksum mismatch.*t10k-labels"):
        download.download("mnist", out, mirror=url)
    assert not (out / "t10k-labels-idx1-ubyte.gz").exists() and not list(out.glob(".*.tmp-*"))
    # a missing file: one error naming it
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="could not download t10k-labels-idx1-ubyte.gz"):
        download.download("mnist", out, mirror=url)


def _serve_mnist(root, mnist_dir) -> dict[str, str]:
    """Copy the MNIST .gz files into the served folder; file name -> md5."""
    out = {}
    for f in layout.DATASETS["mnist"].download.files:
        (root / f.name).write_bytes((mnist_dir / f.name).read_bytes())
        out[f.name] = hashlib.md5((root / f.name).read_bytes()).hexdigest()
    return out


def test_mnist_recipe_downloads_via_mirror(tmp_path, http_dir, monkeypatch, mnist_dir):
    """data_prep/mnist.py with no local copy fetches from the mirror (a local server), checks each
    file's md5 against the dataset record and builds the LMDBs from what it fetched."""
    from simplenet_caffe.commands import prep_mnist

    root, url = http_dir
    md5s = _serve_mnist(root, mnist_dir)
    src = layout.Source(("http://example.invalid/",), tuple(layout.RemoteFile(n, m) for n, m in md5s.items()))
    monkeypatch.setitem(layout.DATASETS, "mnist", dataclasses.replace(layout.DATASETS["mnist"], download=src))
    monkeypatch.setattr(layout, "SHARED_DIR", tmp_path / "none")
    monkeypatch.setattr(layout, "DATA_DIR", tmp_path / "none")
    monkeypatch.setenv("MNIST_DIR", "")
    monkeypatch.setenv("SIMPLENET_DATA_MIRROR", url)
    prep_mnist.main(["--root", str(tmp_path), "--limit-train", "10", "--limit-test", "10", "--raw-dir", str(tmp_path / "raw")])
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(md5s)
    assert lmdbio.count_lmdb(tmp_path / "data" / "mnist_norm" / "train_lmdb") == 10


def test_mnist_recipe_refuses_a_mirror_copy_with_another_checksum(tmp_path, http_dir, mnist_dir):
    """The shared MNIST files are re-compressed, so their md5s are not the official ones: fetched
    through the mirror they are refused in one line, and nothing is left behind."""
    root, url = http_dir
    md5s = _serve_mnist(root, mnist_dir)
    official = {f.name: f.md5 for f in layout.DATASETS["mnist"].download.files}
    assert all(md5s[n] != official[n] for n in official)     # the premise of this test
    r = run_script("data_prep/mnist.py", "--root", tmp_path, "--limit-train", "10", "--limit-test", "10",
                   "--raw-dir", tmp_path / "raw",
                   env={**os.environ, "MNIST_DIR": "", "SIMPLENET_DATA_MIRROR": url,
                        "SIMPLENET_SHARED": str(tmp_path / "none")})
    assert r.returncode == 2 and "checksum mismatch" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2, r.stderr   # "reading ..." is on stdout
    assert not (tmp_path / "data" / "mnist_norm").exists()
    assert not (tmp_path / "raw").exists() or not list((tmp_path / "raw").iterdir())


def test_sources_table():
    sources = {d.name: d.download for d in layout.DATASETS.values() if d.download}
    assert set(sources) == {"mnist", "fashion-mnist", "cifar10", "cifar100", "svhn"}
    for name, src in sources.items():
        assert src.urls and all(u.startswith(("http://", "https://")) and u.endswith("/") for u in src.urls)
        assert all(len(f.md5) == 32 and int(f.md5, 16) >= 0 for f in src.files)
    assert [f.name for f in sources["svhn"].files] == ["train_32x32.mat", "test_32x32.mat", "extra_32x32.mat"]


def test_to_lmdb_download_rejects_bad_checksum(tmp_path, http_dir):
    """to_lmdb.py --download against a local server whose file is not the official one."""
    import os
    import tarfile

    root, url = http_dir
    make_cifar(tmp_path / "cifar-10-batches-py", "cifar10", "python", n_per_file=2)
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as t:
        t.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    r = run_script("tools/to_lmdb.py", "cifar10", tmp_path / "raw", "-o", tmp_path / "out", "--download",
                   env={**os.environ, "SIMPLENET_DATA_MIRROR": url})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "checksum mismatch" in r.stderr and "c58f30108f718f92721af3b95e74349a" in r.stderr
    assert not (tmp_path / "out").exists() and not list((tmp_path / "raw").glob("*"))
