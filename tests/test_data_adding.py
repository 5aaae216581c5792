"""docs/data.md "Adding a dataset": its two code blocks (a reader and a record), executed as
written, register a new dataset that converts end to end."""
from __future__ import annotations

import json
import re

import numpy as np

from simplenet_caffe.data import layout, lmdbio
from simplenet_caffe.data.convert import convert_dataset
from simplenet_caffe.paths import REPO_ROOT


def test_adding_a_dataset_takes_one_reader_and_one_record(tmp_path, monkeypatch):
    doc = (REPO_ROOT / "docs" / "data.md").read_text()
    section = doc.split("### Adding a dataset", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    ns: dict = {}
    for b in blocks:
        exec(compile(b, "docs/data.md", "exec"), ns)     # noqa: S102 -- the documented code, run as written
    toy = ns["TOY"]
    monkeypatch.setitem(layout.DATASETS, "toy", toy)
    r = np.random.default_rng(0)
    src = tmp_path / "raw"
    src.mkdir()
    truth = {}
    for split, n in (("train", 12), ("test", 5)):
        x, y = r.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8), r.integers(0, 3, n)
        np.savez(src / f"{split}.npz", x=x, y=y)
        truth[split] = (x, y)
    rec = convert_dataset("toy", src, tmp_path / "toy", log=lambda _: None)
    for split, (x, y) in truth.items():
        got_x, got_y = lmdbio.read_arrays(tmp_path / "toy" / f"{split}_lmdb")
        np.testing.assert_array_equal(got_x, x)
        np.testing.assert_array_equal(got_y, y)
    saved = json.loads((tmp_path / "toy" / "preprocess.json").read_text())
    assert saved["class_names"] == ["circle", "square", "star"] and saved["dataset"] == "toy"
    assert rec.channel_order == "gray"
    assert toy.layouts[0].transform.as_dict() == {"scale": 1 / 255}


def test_test_transform_is_stated_once():
    """Every experiment's data transform is its layout record's, except the ones that name their
    own (only the PyTorch-family ImageNet nets, variants pt_*, whose crop 224 + mean value + scale differ from the recorded
    recipe: crop 227 + mean file); the generated TEST data layer carries exactly that transform."""
    from simplenet_caffe.nets.experiments import EXPERIMENTS
    from simplenet_caffe.protoio import read_net

    own = [e for e in EXPERIMENTS.values() if e.data.transform is not None]
    assert own and all(e.variant.startswith("pt_") for e in own)
    for name, exp in EXPERIMENTS.items():
        lay = layout.LAYOUTS[exp.data.layout]
        tf = exp.data.transform or lay.transform
        if exp.net_from:
            continue
        net = read_net(REPO_ROOT / exp.train_val_path)
        test = [lyr for lyr in net.layer if lyr.type == "Data" and any(r.phase == 1 for r in lyr.include)]
        assert len(test) == 1, name
        tp = test[0].transform_param
        assert (tp.crop_size or None) == tf.crop_size, name
        assert tp.mean_file == (lay.mean_file if tf.mean_file else ""), name
        assert tuple(tp.mean_value) == tuple(np.float32(v) for v in tf.mean_value), name
        assert (tp.scale if tp.HasField("scale") else None) == (None if tf.scale is None else np.float32(tf.scale)), name
