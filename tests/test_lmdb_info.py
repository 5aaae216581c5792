"""tools/lmdb_info.py on real MNIST (data_prep/mnist.py) and on an encoded colour LMDB the test writes."""
from __future__ import annotations

import json

import numpy as np

from conftest import run_script
from simplenet_caffe.data import lmdbinfo, lmdbio


def test_real_mnist_survey_and_grid(mnist_small, tmp_path):
    from PIL import Image

    test = mnist_small / "test_lmdb"
    _, labels = lmdbio.read_arrays(test)
    png = tmp_path / "grid.png"
    r = run_script("tools/lmdb_info.py", test, "-o", png, "--samples", "10")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"{test}: 100 records, data.mdb" in out
    assert "shape     1x28x28 (CxHxW): 100 records" in out and "dtype     float32: 100" in out
    assert "channels  gray" in out
    names = json.loads((mnist_small / "preprocess.json").read_text())["class_names"]
    counts = np.bincount(labels, minlength=10)
    for lab in range(10):
        if counts[lab]:
            assert any(line.split()[:3] == [str(lab), names[lab], str(counts[lab])] for line in out.splitlines()), lab
    img = Image.open(png)
    assert img.format == "PNG" and img.size[0] > 200 and img.size[1] > 200
    assert len(np.unique(np.asarray(img))) > 20        # images, not a blank canvas


def test_encoded_colour_lmdb_and_limit(tmp_path):
    r = np.random.default_rng(0)
    imgs = [r.integers(0, 256, (3, 12, 16), dtype=np.uint8) for _ in range(7)]
    lmdbio.write_lmdb(tmp_path / "enc", ((a, i % 3) for i, a in enumerate(imgs)), encode="png")
    info = lmdbinfo.survey(tmp_path / "enc")
    assert info.count == info.scanned == 7 and info.kinds == {"encoded PNG": 7}
    assert info.shapes == {(3, 12, 16): 7} and info.labels == {0: 3, 1: 2, 2: 2} and info.class_names is None
    assert lmdbinfo.survey(tmp_path / "enc", limit=4).labels == {0: 2, 1: 1, 2: 1}
    grid = lmdbinfo.grid_png(tmp_path / "enc", tmp_path / "g.png", n=4, info=info)
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_line(tmp_path):
    for args, msg in [((tmp_path,), "is not an LMDB folder"),
                      ((tmp_path / "none",), "is not an LMDB folder"),
                      ((tmp_path, "--limit", "0"), "--limit must be at least 1")]:
        r = run_script("tools/lmdb_info.py", *args)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
