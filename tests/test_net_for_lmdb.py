"""tools/net_for_lmdb.py: a variant's train_val/deploy/solver for the user's LMDBs, trained by real Caffe."""
from __future__ import annotations

import json
import re

import numpy as np

from conftest import run_script
from simplenet_caffe.protoio import read_net, read_solver


def test_net_for_real_mnist_lmdbs_trains_with_caffe(mnist_small, tmp_path, caffe):
    from simplenet_caffe.caffe_env import run_tool

    out = tmp_path / "mynet"
    r = run_script("tools/net_for_lmdb.py", "--variant", "s300a", "--train", mnist_small / "train_lmdb",
                   "--test", mnist_small / "test_lmdb", "--out", out, "--batch-size", "20", "--test-batch", "40",
                   "--max-iter", "6", "--cpu", "--name", "digits")
    assert r.returncode == 0, r.stderr
    assert "10 classes, input 1x28x28" in r.stdout and "test 3 x 40" in r.stdout
    tv = read_net(out / "train_val.prototxt")
    data = [lp for lp in tv.layer if lp.type == "Data"]
    assert [d.data_param.source for d in data] == [str(mnist_small / "train_lmdb"), str(mnist_small / "test_lmdb")]
    assert [d.data_param.batch_size for d in data] == [20, 40]
    assert not data[0].transform_param.ListFields()           # standardised floats: no mean, no scale
    assert [lp for lp in tv.layer if lp.type == "InnerProduct"][0].inner_product_param.num_output == 10
    dep = read_net(out / "deploy.prototxt")
    assert list(dep.layer[0].input_param.shape[0].dim) == [1, 1, 28, 28]
    sp = read_solver(out / "solver.prototxt")
    assert (sp.max_iter, sp.test_iter[0], sp.type) == (6, 3, "Nesterov")
    # real Caffe trains it end to end
    cp = run_tool("caffe", "train", "-solver", out / "solver.prototxt", check=False, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr[-3000:]
    assert "Optimization Done" in cp.stderr
    accs = [float(x) for x in re.findall(r"Test net output #0: accuracy = ([\d.]+)", cp.stderr)]
    assert accs and 0 <= accs[-1] <= 1
    snap = out / "snapshots" / "digits" / "digits_iter_6.caffemodel"
    assert snap.is_file()
    net = caffe.Net(str(out / "deploy.prototxt"), str(snap), caffe.TEST)
    assert net.blobs["prob"].data.shape == (1, 10)
    assert np.isfinite(net.params["ip1"][0].data).all()


def test_uint8_colour_recipe_carries_mean_file_and_crop(tmp_path):
    """An image-folder dataset (data_prep/imagenet.py): 3 classes from the folder names, the
    recipe's mean file and crop; a crop larger than the records is refused, nothing written."""
    import cv2

    r = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in ("ant", "bee", "cat"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(tmp_path / split / c / f"{i}.png"), r.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    p = run_script("data_prep/imagenet.py", tmp_path / "train", tmp_path / "val", "--size", "36", "--root", tmp_path / "o")
    assert p.returncode == 0, p.stderr
    db = tmp_path / "o" / "data" / "imagenet"
    args = ["--train", db / "train_lmdb", "--test", db / "val_lmdb"]
    bad = run_script("tools/net_for_lmdb.py", "--variant", "s300a", *args, "--out", tmp_path / "bad")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "crop_size 227 is larger than the records (36x36)" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad").exists()
    # the same LMDBs with the crop the user wants: mean file and crop carried over, 3 classes
    rec = json.loads((db / "preprocess.json").read_text())
    rec["transform"]["crop_size"] = 32
    (db / "preprocess.json").write_text(json.dumps(rec))
    ok = run_script("tools/net_for_lmdb.py", "--variant", "s300a", *args, "--out", tmp_path / "ok", "--cpu")
    assert ok.returncode == 0, ok.stderr
    assert "3 classes, input 3x32x32" in ok.stdout
    tv = read_net(tmp_path / "ok" / "train_val.prototxt")
    train = next(lp for lp in tv.layer if lp.type == "Data")
    assert train.transform_param.crop_size == 32 and train.transform_param.mirror
    assert train.transform_param.mean_file == str((db / "mean.binaryproto").resolve())


def test_bad_input_is_one_line(tmp_path, mnist_small):
    for args, msg in [(["--train", tmp_path, "--test", tmp_path, "--out", tmp_path / "o"], "is not an LMDB folder"),
                      (["--variant", "nope", "--train", mnist_small / "train_lmdb", "--test", mnist_small / "test_lmdb",
                        "--out", tmp_path / "o"], "unknown variant 'nope'"),
                      (["--train", mnist_small / "train_lmdb"], "give --test, --out")]:
        r = run_script("tools/net_for_lmdb.py", *args)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
