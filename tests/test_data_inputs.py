"""Bad input never becomes a bad result (issue 20, principles 1-4 and 9): labels are checked,
never remapped or truncated; splits agree on the record shape; list-file paths stay inside the
image root; images are bounded before they are decoded, and ``--encoded`` stores only what
Caffe's data layer decodes to the record; the label map's duplicate check is linear.

Every input is a real file in its real format, written by the test: list files, CIFAR python
batches, SVHN ``.mat`` files, MNIST idx files, PNG/JPEG images. The tools run as a user runs
them; each refusal is one line and exit 2, and nothing is written.
"""
from __future__ import annotations

import json
import os
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest

from _data_helpers import make_cifar, make_images
from conftest import run_script
from simplenet_caffe.errors import UserError


def _one_error_line(r, code=2):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == code, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr[-2000:]
    return lines[0]


# ---------------------------------------------------------------------------- 1. labels

def test_list_file_labels_that_contradict_the_label_map_are_refused(tmp_path):
    make_images(tmp_path / "img", classes=("bird", "cat"), per_class=2)
    (tmp_path / "labels.txt").write_text("bird\ncat\n")
    lst = tmp_path / "val.txt"
    lst.write_text("bird/img 0.png 0\n# a comment\ncat/img 0.png 0\n")
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--list", lst,
                   "--split", "val", "--labels", tmp_path / "labels.txt")
    line = _one_error_line(r)
    assert line.endswith("val.txt:3: cat/img 0.png is in class folder 'cat', which the label map numbers 1, "
                         "but the line gives label 0"), line
    assert not (tmp_path / "out").exists()
    lst.write_text("bird/img 0.png 0\ncat/img 0.png 1\ncat/img 1.png 2\n")
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--list", lst,
                   "--split", "val", "--labels", tmp_path / "labels.txt")
    assert "val.txt:3: label 2 is not in the dataset's label map (2 classes, 0 to 1)" in _one_error_line(r)
    lst.write_text("bird/img 0.png 0\ncat/img 0.png 1\n")
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--list", lst,
                   "--split", "val", "--labels", tmp_path / "labels.txt")
    assert r.returncode == 0, r.stderr
    from simplenet_caffe.data import lmdbio
    assert [lab for _, _, lab in lmdbio.read_lmdb(tmp_path / "out" / "val_lmdb")] == [0, 1]


@pytest.mark.parametrize("label", [str(2**31), str(2**70)])
def test_list_file_label_beyond_int32_is_one_line(tmp_path, label):
    make_images(tmp_path / "img", per_class=1)
    (tmp_path / "l.txt").write_text(f"cat/img 0.png {label}\n")
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--list", tmp_path / "l.txt")
    assert f"l.txt:1: label {label} is out of range (0 to 2147483647, Caffe's int32)" in _one_error_line(r)


@pytest.mark.parametrize("labels,msg", [
    ([None] * 10, "label of record 0 is None"),
    ([1] * 9 + [2**70], f"label of record 9 is {2**70}"),
    (["3"] * 10, "label of record 0 is '3'"),
    ([1.5] * 10, "label of record 0 is 1.5"),
    ([1] * 5 + [-1] * 5, "label of record 5 is -1"),
    (None, "labels must be one number per record"),
])
def test_cifar_batches_with_bad_labels(tmp_path, labels, msg):
    truth = make_cifar(tmp_path / "c", "cifar10", "python", n_per_file=10)
    batch = tmp_path / "c" / "data_batch_3"
    d = pickle.loads(batch.read_bytes(), encoding="bytes")
    d[b"labels"] = labels
    batch.write_bytes(pickle.dumps(d))
    r = run_script("tools/to_lmdb.py", "cifar10", tmp_path / "c", "-o", tmp_path / "out")
    line = _one_error_line(r)
    assert "data_batch_3" in line and msg in line, line
    assert not (tmp_path / "out").exists()
    assert len(truth["train"][1]) == 50


@pytest.mark.parametrize("y,msg", [(np.array([["1"], ["2"]]), "label of record 0 is '1'"),
                                   (np.array([[1.5], [2.0]]), "label of record 0 is 1.5"),
                                   (np.array([[3.0], [11.0]]), "label of record 1 is 11.0"),
                                   (np.array([[3.0], [np.nan]]), "label of record 1 is nan")])
def test_svhn_labels_are_whole_numbers_1_to_10(tmp_path, y, msg):
    import scipy.io
    x = np.zeros((32, 32, 3, 2), np.uint8)
    (tmp_path / "s").mkdir()
    scipy.io.savemat(str(tmp_path / "s" / "test_32x32.mat"), {"X": x, "y": y})
    r = run_script("tools/to_lmdb.py", "svhn", tmp_path / "s", "-o", tmp_path / "out", "--split", "test")
    line = _one_error_line(r)
    assert msg in line and "whole numbers 1 to 10" in line, line
    # whole numbers stored as floats are fine (1.0 -> 1, 10.0 -> digit 0)
    scipy.io.savemat(str(tmp_path / "s" / "test_32x32.mat"), {"X": x, "y": np.array([[1.0], [10.0]])})
    r = run_script("tools/to_lmdb.py", "svhn", tmp_path / "s", "-o", tmp_path / "out", "--split", "test")
    assert r.returncode == 0, r.stderr
    from simplenet_caffe.data import lmdbio
    assert [lab for _, _, lab in lmdbio.read_lmdb(tmp_path / "out" / "test_lmdb")] == [1, 0]


def _write_mnist(folder: Path, train_hw=(28, 28), test_hw=(28, 28), train_labels=None, n=20):
    from _data_helpers import write_idx
    folder.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(0)
    for split, hw in (("train", train_hw), ("t10k", test_hw)):
        write_idx(folder / f"{split}-images-idx3-ubyte", r.integers(0, 256, (n, *hw), dtype=np.uint8))
        labels = train_labels if split == "train" and train_labels is not None else r.integers(0, 10, n)
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.asarray(labels, np.uint8))


def test_mnist_label_out_of_range_names_the_record(tmp_path):
    _write_mnist(tmp_path / "m", train_labels=[1] * 7 + [200] + [1] * 12)
    r = run_script("tools/to_lmdb.py", "mnist", tmp_path / "m", "-o", tmp_path / "out")
    assert "(train): label of record 7 is 200: labels are whole numbers 0 to 9" in _one_error_line(r)


# ---------------------------------------------------------------------------- 2. splits agree

def test_splits_with_another_image_shape_are_refused(tmp_path):
    _write_mnist(tmp_path / "m", train_hw=(28, 28), test_hw=(14, 14))
    r = run_script("tools/to_lmdb.py", "mnist", tmp_path / "m", "-o", tmp_path / "out")
    assert "the test split's records are 1x14x14 (C×H×W), not the train split's 1x28x28" in _one_error_line(r)
    assert not (tmp_path / "out").exists()
    r = run_script("data_prep/mnist.py", "--root", tmp_path / "root", "--src", tmp_path / "m")
    assert "the test split's records are 1x14x14 (C×H×W), not the expected 1x28x28" in _one_error_line(r)
    # a split added later to an existing folder is checked against the splits there
    _write_mnist(tmp_path / "m2", train_hw=(14, 14), test_hw=(14, 14))
    _write_mnist(tmp_path / "m3")
    assert run_script("tools/to_lmdb.py", "mnist", tmp_path / "m2", "-o", tmp_path / "o2", "--split", "train").returncode == 0
    r = run_script("tools/to_lmdb.py", "mnist", tmp_path / "m3", "-o", tmp_path / "o2", "--split", "test")
    assert "the test split's records are 1x28x28" in _one_error_line(r)


# ---------------------------------------------------------------------------- 3. paths inside the root

@pytest.mark.parametrize("entry", ["../outside/secret.png", "/etc/x.png", "cat/../../outside/secret.png"])
def test_list_file_paths_outside_the_root_are_refused(tmp_path, entry):
    make_images(tmp_path / "img", per_class=1)
    make_images(tmp_path / "outside", classes=("x",), per_class=1)
    (tmp_path / "l.txt").write_text(f"cat/img 0.png 0\n{entry} 1\n")
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--list", tmp_path / "l.txt")
    assert f"l.txt:2: {entry} is not a path inside the image root" in _one_error_line(r)
    assert not (tmp_path / "out").exists()


def test_images_behind_a_symlinked_subfolder_are_included(tmp_path):
    make_images(tmp_path / "img", per_class=2)
    make_images(tmp_path / "more", classes=("extra",), per_class=3)
    os.symlink(tmp_path / "more" / "extra", tmp_path / "img" / "cat" / "linked")
    os.symlink(tmp_path / "img" / "cat", tmp_path / "img" / "cat" / "linked" / "loop")   # a link loop
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    from simplenet_caffe.data import lmdbio
    keys = [k for k, _ in lmdbio.read_datums(tmp_path / "out" / "train_lmdb")]
    assert len(keys) == 7 and sum("cat/linked/" in k for k in keys) == 3, keys


@pytest.mark.parametrize("name", ["two\nlines", " padded", "cr\r"])
def test_class_names_labels_txt_cannot_keep_are_refused(tmp_path, name):
    make_images(tmp_path / "img", classes=("cat", name), per_class=1)
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out")
    assert "which labels.txt (one name a line) cannot keep; rename the folder" in _one_error_line(r)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- 4. images bounded

def _png(width: int, height: int, depth: int = 8, colour: int = 2, rows: bytes | None = None) -> bytes:
    """A valid PNG of zero pixels (or ``rows``), compressed: small however large it is."""
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    per_px = {0: 1, 2: 3, 4: 2, 6: 4}[colour] * depth // 8
    if rows is None:
        comp = zlib.compressobj(9)
        line = b"\0" * (1 + width * per_px)
        idat = b"".join(comp.compress(line) for _ in range(height)) + comp.flush()
    else:
        idat = zlib.compress(rows, 9)
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, colour, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_an_image_above_the_pixel_limit_is_refused_before_decoding(tmp_path):
    make_images(tmp_path / "img", per_class=1)
    big = _png(20000, 20000, colour=0)
    assert len(big) < 1 << 19                     # under 512 KiB on disk, 1.2 GB decoded as BGR
    (tmp_path / "img" / "cat" / "bomb.png").write_bytes(big)
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out")
    line = _one_error_line(r)
    assert "bomb.png: 20000×20000 pixels is more than the limit of 100,000,000" in line, line
    assert "--max-pixels N raises the limit" in line
    # the option lowers (or raises) the limit
    (tmp_path / "img" / "cat" / "bomb.png").write_bytes(_png(300, 200))
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--max-pixels", "50000")
    assert "bomb.png: 300×200 pixels is more than the limit of 50,000" in _one_error_line(r)
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--max-pixels", "0")
    assert "--max-pixels must be a positive number of pixels" in _one_error_line(r)
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / "out", "--max-pixels", "60000")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("depth,colour", [(16, 2), (16, 0), (8, 4), (8, 6)])
def test_encoded_stores_only_what_caffe_decodes_to_the_record(tmp_path, caffe, depth, colour):
    """16-bit and alpha PNGs are re-encoded as 8-bit PNGs of the record's channels: Caffe's data
    layer reads them back equal to the raw record, and compute_mean agrees with --mean."""
    from _data_helpers import write_tiny_net
    from simplenet_caffe.data import lmdbio

    (tmp_path / "img" / "a").mkdir(parents=True)
    (tmp_path / "img" / "b").mkdir(parents=True)
    r = np.random.default_rng(1)
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    for k, cls in enumerate("ab"):
        px = r.integers(0, 2**depth, (6, 5, ch)).astype(">u2" if depth == 16 else np.uint8)
        rows = b"".join(b"\0" + px[y].tobytes() for y in range(6))
        (tmp_path / "img" / cls / f"{k}.png").write_bytes(_png(5, 6, depth, colour, rows))
    for args, out in ((["--encoded", "png"], "enc"), (["--mean"], "raw")):
        r = run_script("tools/to_lmdb.py", "folder", tmp_path / "img", "-o", tmp_path / out, *args)
        assert r.returncode == 0, r.stderr
    raw = [a for _, a, _ in lmdbio.read_lmdb(tmp_path / "raw" / "train_lmdb")]
    for _, datum in lmdbio.read_datums(tmp_path / "enc" / "train_lmdb"):
        data = bytes(datum.data)
        assert data[24] == 8 and data[25] == 2 and datum.channels == 3     # 8-bit colour PNG
    # Caffe's own Data layer on the encoded DB gives the raw records
    write_tiny_net(tmp_path, str(tmp_path / "enc" / "train_lmdb"), batch=2)
    n = caffe.Net(str(tmp_path / "tiny_net.prototxt"), caffe.TEST)
    n.forward()
    assert np.array_equal(n.blobs["data"].data, np.stack(raw).astype(np.float32))
    # compute_mean of the encoded DB equals to_lmdb's --mean of the raw one
    r = run_script("tools/compute_mean.py", tmp_path / "enc" / "train_lmdb")
    assert r.returncode == 0, r.stderr
    m_enc = json.loads((tmp_path / "enc" / "mean.json").read_text())
    m_raw = json.loads((tmp_path / "raw" / "mean.json").read_text())
    assert m_enc["global_mean"] == pytest.approx(m_raw["global_mean"]) and 0 <= m_enc["global_mean"] <= 255


def test_an_encoded_16_bit_record_from_elsewhere_is_refused(tmp_path, caffe_pb2):
    from simplenet_caffe.data import lmdbio

    d = caffe_pb2.Datum(channels=1, height=6, width=5, encoded=True, label=0,
                        data=_png(5, 6, 16, 0, b"".join(b"\0" + b"\x80\x00" * 5 for _ in range(6))))
    with pytest.raises(UserError, match="16-bit image of 1 channel.*Caffe's data layer takes only 8-bit"):
        lmdbio.datum_to_array(d)


# ---------------------------------------------------------------------------- 9. linear

def test_label_map_duplicate_check_is_linear(tmp_path):
    """60,000 names with one duplicate: found and named (a quadratic check took 39 s on them)."""
    from simplenet_caffe.data import imagefolder

    names = [f"class{i:05d}" for i in range(60000)]
    (tmp_path / "ok.txt").write_text("\n".join(names) + "\n")
    assert imagefolder.read_labels_file(tmp_path / "ok.txt") == names
    (tmp_path / "dup.txt").write_text("\n".join(names + ["class00042"]) + "\n")
    with pytest.raises(UserError, match=r"class name\(s\) listed twice: class00042$"):
        imagefolder.read_labels_file(tmp_path / "dup.txt")
