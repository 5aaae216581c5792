"""One label map per dataset (issue 15): fixed by the train split or --labels, checked and
reused for every other split, never renumbered; class names carried from the source format
into preprocess.json (read back with preprocess.class_names_for)."""
from __future__ import annotations

import json
import pickle
import shutil

import numpy as np

from conftest import run_script
from _data_helpers import make_cifar, make_images
from simplenet_caffe.data import lmdbio
from simplenet_caffe.data.preprocess import class_names_for


def _labels(db):
    return sorted({lab for _, _, lab in lmdbio.read_lmdb(db)})


def test_folder_splits_share_the_train_label_map(tmp_path):
    make_images(tmp_path / "train", classes=("bird", "cat", "dog"), per_class=2)
    make_images(tmp_path / "val", classes=("bird", "cat", "dog"), per_class=1, seed=1)
    shutil.rmtree(tmp_path / "val" / "cat")                       # val lacks one class
    out = tmp_path / "ds"
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "train", "-o", out)
    assert r.returncode == 0, r.stderr
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "val", "-o", out, "--split", "val")
    assert r.returncode == 0, r.stderr
    assert "no images of 1 of the 3 classes (cat)" in r.stdout
    assert _labels(out / "train_lmdb") == [0, 1, 2] and _labels(out / "val_lmdb") == [0, 2]   # dog stays 2
    rec = json.loads((out / "preprocess.json").read_text())
    assert rec["class_names"] == ["bird", "cat", "dog"] and set(rec["splits"]) == {"train", "val"}
    assert rec["splits"]["val"]["missing_classes"] == ["cat"]
    assert (out / "labels.txt").read_text() == "bird\ncat\ndog\n"
    assert class_names_for(out / "val_lmdb") == ["bird", "cat", "dog"]

    make_images(tmp_path / "test", classes=("bird", "emu"), per_class=1)
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "test", "-o", out, "--split", "test")
    assert r.returncode == 2 and "not in the dataset's label map: emu" in r.stderr and "Traceback" not in r.stderr
    assert not (out / "test_lmdb").exists()
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "val", "-o", tmp_path / "ds2", "--split", "val")
    assert r.returncode == 2 and "convert the train split first" in r.stderr


def test_labels_file_fixes_the_map(tmp_path):
    make_images(tmp_path / "val", classes=("cat", "dog"), per_class=1)
    (tmp_path / "labels.txt").write_text("ant\ncat\ndog\n")
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "val", "-o", tmp_path / "o", "--split", "val",
                   "--labels", tmp_path / "labels.txt")
    assert r.returncode == 0, r.stderr
    assert _labels(tmp_path / "o" / "val_lmdb") == [1, 2]
    assert class_names_for(tmp_path / "o") == ["ant", "cat", "dog"]


def test_cifar_and_mnist_names_come_from_the_source(tmp_path, mnist_dir):
    make_cifar(tmp_path / "c", "cifar10", "python", n_per_file=2)
    names = [f"class{i}" for i in range(10)]
    with open(tmp_path / "c" / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in names], b"num_vis": 3072}, f, protocol=2)
    r = run_script("tools/to_lmdb.py", "cifar10", tmp_path / "c", "-o", tmp_path / "o", "--split", "test")
    assert r.returncode == 0, r.stderr
    assert class_names_for(tmp_path / "o") == names
    r = run_script("data_prep/mnist.py", "--root", tmp_path, "--src", mnist_dir, "--limit-train", "100",
                   "--limit-test", "20")
    assert r.returncode == 0, r.stderr
    assert class_names_for(tmp_path / "data" / "mnist_norm") == [str(d) for d in range(10)]
    rec = json.loads((tmp_path / "data" / "mnist_norm" / "preprocess.json").read_text())
    assert rec["label_map"] == {"source": "mnist files", "num_classes": 10}
    assert np.asarray(_labels(tmp_path / "data" / "mnist_norm" / "test_lmdb")).max() <= 9


def test_prep_imagenet_val_is_checked_against_train(tmp_path):
    make_images(tmp_path / "train", classes=("bird", "cat", "dog"), per_class=2, size=(40, 30))
    make_images(tmp_path / "val", classes=("bird", "dog"), per_class=1, size=(40, 30), seed=1)
    r = run_script("data_prep/imagenet.py", tmp_path / "train", tmp_path / "val", "--root", tmp_path, "--size", "32")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "data" / "imagenet"
    assert _labels(out / "val_lmdb") == [0, 2] and class_names_for(out) == ["bird", "cat", "dog"]
    make_images(tmp_path / "val2", classes=("bird", "emu"), per_class=1, size=(40, 30))
    r = run_script("data_prep/imagenet.py", tmp_path / "train", tmp_path / "val2", "--root", tmp_path, "--size", "32",
                   "--force")
    assert r.returncode == 2 and "not in the dataset's label map: emu" in r.stderr
    assert _labels(out / "val_lmdb") == [0, 2]                  # the previous output is kept
