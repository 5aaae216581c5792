"""The LMDB writer/reader, tools/to_lmdb.py, mean files -- read back by pycaffe and the real caffe."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lmdb
import numpy as np
import pytest

from conftest import PY, REPO_ROOT, run_script
from simplenet_caffe import protoio
from simplenet_caffe.data import idx, lmdbio
from simplenet_caffe.errors import UserError

from _data_helpers import caffe_train, files_under, make_cifar, make_images, rng, write_idx, write_tiny_net


def _items(n, shape=(3, 4, 5), dtype=np.uint8, seed=0):
    r = rng(seed)
    for i in range(n):
        a = r.integers(0, 256, shape).astype(dtype)
        yield a, i % 3


def test_write_read_uint8_float(tmp_path):
    s = lmdbio.write_lmdb(tmp_path / "u8", _items(25), total=25)
    assert (s.count, s.shape, s.dtype, s.label_counts) == (25, (3, 4, 5), "uint8", {0: 9, 1: 8, 2: 8})
    back = list(lmdbio.read_lmdb(tmp_path / "u8"))
    assert [k for k, _, _ in back] == [f"{i:08d}" for i in range(25)]
    for (a, lab), (_, b, blab) in zip(_items(25), back):
        assert b.dtype == np.uint8 and np.array_equal(a, b) and lab == blab
    f = [(a.astype(np.float32) / 7 - 3, lab) for a, lab in _items(5)]
    s = lmdbio.write_lmdb(tmp_path / "f", f)
    assert s.dtype == "float32"
    for (a, _), (_, b, _) in zip(f, lmdbio.read_lmdb(tmp_path / "f")):
        assert b.dtype == np.float32 and np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("labels", [[0, 1, 2, 9], [0, 127, 128, 300, 70000, -1, 2**31 - 1]],
                         ids=["one-byte-labels", "mixed-varint-lengths"])
def test_fast_path_bytes_equal_full_datum(tmp_path, caffe_pb2, dtype, labels):
    """Block (numpy-assembled) and single-record values are byte for byte what
    caffe_pb2.Datum(...).SerializeToString() gives, and parse back to the same fields."""
    r = rng(3)
    n = 2 * len(labels)
    arrays = r.integers(0, 256, (n, 3, 5, 7)).astype(dtype)
    if dtype != np.uint8:
        arrays = arrays / 7 - 11.5
        arrays[0, 0, 0, :3] = [-0.0, np.inf, 1e-40]          # sign of zero, inf, a subnormal
    labs = np.array(labels * 2)

    def expected(a, lab):
        d = caffe_pb2.Datum(channels=3, height=5, width=7, label=int(lab))
        if dtype == np.uint8:
            d.data = a.tobytes()
        else:
            d.float_data.extend(a.astype(np.float32).ravel().tolist())
        return d.SerializeToString()

    want = [expected(a, lab) for a, lab in zip(arrays, labs)]
    kind = "uint8" if dtype == np.uint8 else "float32"
    assert [bytes(v) for v in lmdbio.DatumCodec((3, 5, 7), kind).many(arrays, labs)] == want
    assert [lmdbio.DatumCodec((3, 5, 7), kind).one(a, lab) for a, lab in zip(arrays, labs)] == want
    # through the writer: Blocks and single records mixed, keys in order
    lmdbio.write_lmdb(tmp_path / "db", [lmdbio.Block(arrays[:3], labs[:3]), (arrays[3], labs[3]),
                                        lmdbio.Block(arrays[4:], labs[4:])], commit_every=2)
    env = lmdb.open(str(tmp_path / "db"), readonly=True, lock=False)
    with env.begin() as txn:
        got = list(txn.cursor())
    env.close()
    assert got == [(b"%08d" % i, v) for i, v in enumerate(want)]
    d = caffe_pb2.Datum()
    d.ParseFromString(got[1][1])
    assert (d.channels, d.height, d.width, d.label, d.encoded) == (3, 5, 7, labels[1], False)


def test_map_grows_and_batches(tmp_path):
    # 300 records of 30 KB into a 1 MiB initial map: must double several times
    s = lmdbio.write_lmdb(tmp_path / "big", _items(300, (3, 100, 100)), map_size=1 << 20, commit_every=7)
    assert s.count == 300 and lmdbio.count_lmdb(tmp_path / "big") == 300
    env = lmdb.open(str(tmp_path / "big"), readonly=True, lock=False)
    assert env.info()["map_size"] >= 300 * 30000
    env.close()


def test_refuses_overwrite_and_force(tmp_path):
    lmdbio.write_lmdb(tmp_path / "db", _items(3))
    with pytest.raises(UserError, match="already exists.*--force"):
        lmdbio.write_lmdb(tmp_path / "db", _items(5))
    assert lmdbio.count_lmdb(tmp_path / "db") == 3
    lmdbio.write_lmdb(tmp_path / "db", _items(5), force=True)
    assert lmdbio.count_lmdb(tmp_path / "db") == 5
    assert files_under(tmp_path) == ["db", "db/data.mdb", "db/lock.mdb"]


def test_failure_leaves_nothing(tmp_path):
    def bad():
        yield from _items(1500)
        raise UserError("boom")

    with pytest.raises(UserError, match="boom"):
        lmdbio.write_lmdb(tmp_path / "db", bad())
    assert files_under(tmp_path) == []


def test_interrupted_process_leaves_no_complete_db(tmp_path):
    """SIGKILL mid-write: no folder under the target name (only a hidden .db.tmp-<host>-<pid>-* one,
    which the next write recognises as stale and removes)."""
    code = ("import numpy as np, sys\nfrom simplenet_caffe.data import lmdbio\n"
            "def items():\n    i = 0\n    while True:\n        i += 1\n"
            "        if i == 2000: print('go', flush=True)\n"
            "        yield np.zeros((1, 28, 28), np.uint8), 0\n"
            f"lmdbio.write_lmdb({str(tmp_path / 'db')!r}, items())\n")
    p = subprocess.Popen([PY, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "go"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (tmp_path / "db").exists()
    left = os.listdir(tmp_path)
    assert left and all(name.startswith(f".db.tmp-") and f"-{p.pid}-" in name for name in left)
    lmdbio.write_lmdb(tmp_path / "db", [(np.zeros((1, 2, 2), np.uint8), 0)])   # the next run removes the leftover
    assert os.listdir(tmp_path) == ["db"]


def test_encoded_png_jpg_have_shape_and_gray(tmp_path, caffe):
    imgs = make_images(tmp_path / "imgs", per_class=2, size=(12, 10))
    out = tmp_path / "out"
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "imgs", "-o", out, "--encoded", "png")
    assert r.returncode == 0, r.stderr
    _, d = next(lmdbio.read_datums(out / "train_lmdb"))
    assert d.encoded and (d.channels, d.height, d.width) == (3, 10, 12) and d.data[:4] == b"\x89PNG"
    assert d.data == (tmp_path / "imgs" / imgs[0][0]).read_bytes()          # unchanged file bytes kept
    for key, arr, lab in lmdbio.read_lmdb(out / "train_lmdb"):
        rel = key.split("_", 1)[1]
        assert np.array_equal(arr, next(i for p, _, i in imgs if p == rel).transpose(2, 0, 1))
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "imgs", "-o", tmp_path / "g", "--encoded", "jpg", "--gray",
                   "--resize", "8x6")
    assert r.returncode == 0, r.stderr
    _, d = next(lmdbio.read_datums(tmp_path / "g" / "train_lmdb"))
    assert d.encoded and (d.channels, d.height, d.width) == (1, 6, 8) and d.data[:2] == b"\xff\xd8"
    assert caffe.io.datum_to_array  # pycaffe's own decoder ignores encoded; ours decodes:
    assert next(lmdbio.read_lmdb(tmp_path / "g" / "train_lmdb"))[1].shape == (1, 6, 8)


def test_seeded_shuffle_is_reproducible(tmp_path):
    make_cifar(tmp_path / "c", "cifar10", "binary", n_per_file=6)
    keys = []
    for run in ("a", "b", "c"):
        seed = "7" if run != "c" else "8"
        r = run_script("tools/to_lmdb.py", "cifar10", tmp_path / "c", "-o", tmp_path / run, "--split", "train",
                       "--shuffle", "--seed", seed)
        assert r.returncode == 0, r.stderr
        keys.append([lab for _, _, lab in lmdbio.read_lmdb(tmp_path / run / "train_lmdb")])
    assert keys[0] == keys[1] and keys[0] != keys[2] and sorted(keys[0]) == sorted(keys[2])


def test_to_lmdb_cifar100_coarse_resize_modes(tmp_path):
    truth = make_cifar(tmp_path / "c", "cifar100", "python", n_per_file=5)
    r = run_script("tools/to_lmdb.py", "cifar100", tmp_path / "c", "-o", tmp_path / "o", "--label", "coarse",
                   "--channel-order", "BGR", "--mean")
    assert r.returncode == 0, r.stderr
    x, y = lmdbio.read_arrays(tmp_path / "o" / "test_lmdb")
    assert np.array_equal(x, truth["test"][0][:, ::-1]) and np.array_equal(y, truth["test"][2])
    meta = json.loads((tmp_path / "o" / "preprocess.json").read_text())
    assert meta["channel_order"] == "BGR" and meta["labels"] == "coarse"
    m = protoio.read_binaryproto(tmp_path / "o" / "mean.binaryproto")
    np.testing.assert_allclose(m, truth["train"][0][:, ::-1].mean(axis=0), rtol=1e-6)
    for mode, size in (("squash", "20x10"), ("crop", "20x10"), ("fill", "20x10")):
        r = run_script("tools/to_lmdb.py", "cifar100", tmp_path / "c", "-o", tmp_path / mode, "--split", "test",
                       "--resize", size, "--resize-mode", mode)
        assert r.returncode == 0, r.stderr
        xs, _ = lmdbio.read_arrays(tmp_path / mode / "test_lmdb")
        assert xs.shape == (5, 3, 10, 20)
        if mode == "fill":   # 32x32 fitted into 20x10 → 10x10 centred, black bars
            assert xs[:, :, :, :5].max() == 0 and xs[:, :, :, 15:].max() == 0
    assert "summary" not in r.stdout and "5 records, shape 3x10x20" in r.stdout


BAD_INPUTS = {
    "truncated idx": lambda d: _bad_idx(d, "truncate"),
    "wrong magic": lambda d: _bad_idx(d, "magic"),
    "label count mismatch": lambda d: _bad_idx(d, "count"),
    "corrupt pickle": lambda d: _bad_cifar(d),
    "corrupt .mat": lambda d: _bad_mat(d),
    "unreadable image": lambda d: _bad_image(d),
    "empty folder": lambda d: ("folder", d / "in"),
}


def _bad_idx(d, how):
    src = d / "in"
    src.mkdir()
    for split, n in (("train", 6), ("t10k", 4)):
        write_idx(src / f"{split}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        write_idx(src / f"{split}-labels-idx1-ubyte", np.zeros(n if how != "count" or split == "train" else n + 1, np.uint8))
    p = src / "t10k-images-idx3-ubyte"
    if how == "truncate":
        p.write_bytes(p.read_bytes()[:-1])
    elif how == "magic":
        p.write_bytes(b"\x00\x00\x08\x01" + p.read_bytes()[4:])
    return "mnist", src


def _bad_cifar(d):
    make_cifar(d / "in", "cifar10", "python", n_per_file=2)
    (d / "in" / "test_batch").write_bytes(b"\x80\x02}q\x00garbage")
    return "cifar10", d / "in"


def _bad_mat(d):
    from _data_helpers import write_svhn_mat
    (d / "in").mkdir()
    write_svhn_mat(d / "in" / "train_32x32.mat", np.zeros((2, 3, 32, 32), np.uint8), [1, 2])
    (d / "in" / "test_32x32.mat").write_bytes((d / "in" / "train_32x32.mat").read_bytes()[:300])
    return "svhn", d / "in"


def _bad_image(d):
    make_images(d / "in", per_class=1500 // 2 + 1, size=(4, 4))    # > one commit batch before the bad one
    (d / "in" / "dog" / "zz broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return "folder", d / "in"


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_error_no_db(tmp_path, case):
    (tmp_path / "in").mkdir(exist_ok=True) if case == "empty folder" else None
    dataset, src = BAD_INPUTS[case](tmp_path)
    out = tmp_path / "out"
    r = run_script("tools/to_lmdb.py", dataset, src, "-o", out)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    err = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("to_lmdb.py: error: "), r.stderr
    expect = {"truncated idx": "truncated", "wrong magic": "wrong magic number 2049",
              "label count mismatch": "label count mismatch", "corrupt pickle": "corrupt or not a CIFAR python batch",
              "corrupt .mat": "corrupt or not a MATLAB", "unreadable image": "truncated PNG",
              "empty folder": "empty folder"}[case]
    assert expect in err[0]
    assert not out.exists() or files_under(out) == [] or "train_lmdb" not in files_under(out)
    assert not list(out.glob("*_lmdb")) if out.exists() else True


def test_mnist_cli_all_70000_roundtrip_pycaffe(tmp_path, mnist_dir, caffe):
    """Acceptance: to_lmdb.py mnist builds both splits; pycaffe reads every record back exactly."""
    out = tmp_path / "mnist"
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "60000 records, shape 1x28x28" in r.stdout and "10000 records" in r.stdout
    for split, n in (("train", 60000), ("test", 10000)):
        x, y = idx.read_mnist(mnist_dir, split)
        env = lmdb.open(str(out / f"{split}_lmdb"), readonly=True, lock=False)
        datum = caffe.proto.caffe_pb2.Datum()
        got = np.empty_like(x)
        labels = np.empty(n, np.int64)
        with env.begin() as txn:
            assert txn.stat()["entries"] == n
            for i, (k, v) in enumerate(txn.cursor()):
                assert k == b"%08d" % i
                datum.ParseFromString(v)
                got[i] = caffe.io.datum_to_array(datum)
                labels[i] = datum.label
        env.close()
        assert np.array_equal(got, x) and np.array_equal(labels, y)
        assert np.bincount(labels).tolist() == np.bincount(y).tolist()


@pytest.mark.slow
def test_caffe_train_reads_to_lmdb_output(tmp_path, mnist_dir, caffe):
    """A real `caffe train` (Data layer, LMDB backend) on a DB made by tools/to_lmdb.py."""
    out = tmp_path / "m"
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", out, "--split", "test", "--limit", "200")
    assert r.returncode == 0, r.stderr
    solver = write_tiny_net(tmp_path, out / "test_lmdb", max_iter=4)
    p = caffe_train(solver, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Iteration 4" in p.stderr and "Optimization Done" in p.stderr
    assert "output data size: 10,1,28,28" in p.stderr


def test_mean_binaryproto_in_caffe_and_pycaffe(tmp_path, caffe):
    """mean.binaryproto: pycaffe reads it; Caffe's transform_param.mean_file subtracts it exactly."""
    truth = make_cifar(tmp_path / "c", "cifar10", "binary", n_per_file=4)
    r = run_script("tools/to_lmdb.py", "cifar10", tmp_path / "c", "-o", tmp_path / "o", "--split", "train", "--mean")
    assert r.returncode == 0, r.stderr
    mean_file = tmp_path / "o" / "mean.binaryproto"
    blob = caffe.proto.caffe_pb2.BlobProto()
    blob.ParseFromString(mean_file.read_bytes())
    arr = caffe.io.blobproto_to_array(blob)
    expect = truth["train"][0].astype(np.float64).mean(axis=0)
    assert arr.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(arr[0], expect, rtol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "o" / "mean.npy"), expect, rtol=1e-6)
    js = json.loads((tmp_path / "o" / "mean.json").read_text())
    np.testing.assert_allclose(js["channel_mean"], expect.reshape(3, -1).mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(js["channel_std"], truth["train"][0].transpose(1, 0, 2, 3).reshape(3, -1).std(axis=1),
                               rtol=1e-9)
    # the real data layer with mean_file: its output is record - mean
    solver = write_tiny_net(tmp_path, tmp_path / "o" / "train_lmdb", batch=5, mean_file=mean_file)
    net = caffe.Net(str(tmp_path / "tiny_net.prototxt"), caffe.TRAIN)
    net.forward()
    np.testing.assert_allclose(net.blobs["data"].data, truth["train"][0][:5] - expect[None], atol=1e-4)
    assert net.blobs["label"].data.tolist() == truth["train"][1][:5].tolist()
    assert solver.is_file()
    # and show_mean prints its per-channel values
    r = run_script("tools/show_mean.py", mean_file, "--json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["channel_order"] == "RGB"
    np.testing.assert_allclose(shown["channel_mean"], js["channel_mean"], rtol=1e-5)


def test_compute_mean_tool_matches_caffe_compute_image_mean(tmp_path):
    make_cifar(tmp_path / "c", "cifar10", "python", n_per_file=3)
    run_script("tools/to_lmdb.py", "cifar10", tmp_path / "c", "-o", tmp_path / "o", "--split", "train", check=True)
    r = run_script("tools/compute_mean.py", tmp_path / "o" / "train_lmdb", "-o", tmp_path / "ours")
    assert r.returncode == 0, r.stderr
    from simplenet_caffe.caffe_env import run_tool
    run_tool("compute_image_mean", tmp_path / "o" / "train_lmdb", tmp_path / "caffe.binaryproto")
    ours = protoio.read_binaryproto(tmp_path / "ours" / "mean.binaryproto")
    theirs = protoio.read_binaryproto(tmp_path / "caffe.binaryproto")
    assert ours.shape == theirs.shape == (3, 32, 32)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    r = run_script("tools/compute_mean.py", tmp_path / "nope")
    assert r.returncode == 2 and "not an LMDB folder" in r.stderr
