"""Numbers are finite or refused (issue 20, principle 5): NaN/Inf weights are never exported,
imported, evaluated or classified into a result; count_params refuses a net whose sizes fall
below 1; numeric options are range-checked (one line, exit 2, nothing written). And evaluate
checks the recipe (principle 8): data prepared another way than the net's own is refused, or
scored with a loud warning under --allow-recipe-mismatch.

Real files throughout: a tiny net trained by the real ``caffe train``, its caffemodel with one
blob set to NaN, the committed S300-A deploy net, pycaffe, torch and onnxruntime.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from google.protobuf import text_format

from _train_helpers import make_tiny_experiment, require_caffe
from conftest import need, run_script
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import REPO_ROOT

DEMO_DEPLOY = REPO_ROOT / "prototxt" / "mnist_s300a_demo_deploy.prototxt"


def _one_error_line(r, code=2):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("note:", "transform from"))]
    assert r.returncode == code, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr[-2000:]
    return lines[0]


def _poisoned(caffe_pb2, src, dst, layer: str, value=float("nan")):
    """A copy of caffemodel ``src`` with one value of ``layer``'s first blob set to ``value``."""
    m = caffe_pb2.NetParameter()
    m.ParseFromString(src.read_bytes())
    lp = next(lp for lp in m.layer if lp.name == layer)
    lp.blobs[0].data[0] = value
    dst.write_bytes(m.SerializeToString())
    return dst


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, caffe_pb2):
    require_caffe()
    from simplenet_caffe.runs import training

    exp = make_tiny_experiment(tmp_path_factory.mktemp("tiny_nan"), caffe_pb2, max_iters=(20,))
    assert training.train(exp["solvers"][0], log_dir=exp["root"] / "logs", show_progress=False,
                          tensorboard=False).rc == 0
    exp["model"] = exp["root"] / "snap" / "tiny_iter_20.caffemodel"
    return exp


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_evaluate_refuses_non_finite_outputs(tiny, caffe_pb2, tmp_path, value):
    bad = _poisoned(caffe_pb2, tiny["model"], tmp_path / "bad.caffemodel", "ip1", value)
    r = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", bad, "--out", tmp_path / "e")
    line = _one_error_line(r)
    assert "the net's output 'ip1' of records 0 to 49 holds 50 NaN/Inf value(s) of 100" in line and "NaN/Inf value(s)" in line, line
    assert not (tmp_path / "e").exists()
    r = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", tiny["model"], "--out", tmp_path / "e")
    assert r.returncode == 0 and "top-1     " in r.stdout, r.stderr


@pytest.mark.parametrize("args,msg", [(["--limit", "-5"], "--limit must be a positive number of records, got -5"),
                                      (["--limit", "0"], "--limit must be a positive number of records, got 0"),
                                      (["--seed", "-1"], "--seed must be 0 or more, got -1")])
def test_evaluate_numeric_options(tiny, tmp_path, args, msg):
    r = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", tiny["model"], "--out", tmp_path / "e",
                   *args)
    assert msg in _one_error_line(r)
    assert not (tmp_path / "e").exists()


def test_evaluate_limit_counts_records(tiny, tmp_path):
    r = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", tiny["model"], "--out", tmp_path / "e",
                   "--limit", "7")
    assert r.returncode == 0, r.stderr
    assert "records   7" in r.stdout


def _demo_weights(caffe, path):
    caffe.Net(str(DEMO_DEPLOY), caffe.TEST).save(str(path))
    return path


def test_classify_refuses_non_finite_outputs(caffe, caffe_pb2, tmp_path):
    good = _demo_weights(caffe, tmp_path / "demo.caffemodel")
    bad = _poisoned(caffe_pb2, good, tmp_path / "bad.caffemodel", "conv1")
    recipe = {"layout": "mnist_norm", "dataset": "mnist", "channel_order": "gray", "dtype": "float",
              "size": [28, 28], "mean": [33.3], "std": [78.6], "class_names": [str(d) for d in range(10)]}
    (tmp_path / "preprocess.json").write_text(json.dumps(recipe))
    img = tmp_path / "digit.png"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8))
    args = ["--preprocess", tmp_path / "preprocess.json", "--json", img]
    r = run_script("tools/classify.py", "--model", DEMO_DEPLOY, "--weights", bad, *args)
    line = _one_error_line(r)
    assert "digit.png holds" in line and "NaN/Inf value(s)" in line and r.stdout == "", line
    r = run_script("tools/classify.py", "--model", DEMO_DEPLOY, "--weights", good, *args)
    assert r.returncode == 0, r.stderr
    probs = [t["prob"] for t in json.loads(r.stdout)[0]["top"]]
    assert len(probs) == 3 and all(0 <= p <= 1 for p in probs) and sum(probs) <= 1 + 1e-6, probs


@pytest.fixture(scope="module")
def torch():
    try:
        import onnxruntime  # noqa: F401
        import torch
    except ImportError as e:
        need(False, f"the [export] extra is not installed ({e}): pip install '.[export]'")
    return torch


@pytest.mark.parametrize("to,out", [("onnx", "x.onnx"), ("pytorch", "x.safetensors")])
def test_export_refuses_nan_weights_with_or_without_verification(caffe, caffe_pb2, torch, tmp_path, to, out):
    good = _demo_weights(caffe, tmp_path / "demo.caffemodel")
    bad = _poisoned(caffe_pb2, good, tmp_path / "bad.caffemodel", "conv1")
    for extra in ([], ["--verify", "2"]):
        r = run_script("tools/export.py", "--model", DEMO_DEPLOY, "--weights", bad, "--to", to, "--out",
                       tmp_path / out, *extra)
        assert "layer 'conv1' blob 0 holds 1 NaN/Inf value(s)" in _one_error_line(r)
        assert not (tmp_path / out).exists()
    r = run_script("tools/export.py", "--model", DEMO_DEPLOY, "--weights", good, "--to", to, "--out", tmp_path / out,
                   "--verify", "2")
    assert r.returncode == 0 and (tmp_path / out).is_file(), r.stderr


def test_import_refuses_nan_weights(caffe, torch, tmp_path):
    from safetensors.numpy import load_file, save_file

    good = _demo_weights(caffe, tmp_path / "demo.caffemodel")
    st = tmp_path / "twin.safetensors"
    r = run_script("tools/export.py", "--model", DEMO_DEPLOY, "--weights", good, "--to", "pytorch", "--out", st)
    assert r.returncode == 0, r.stderr
    from safetensors import safe_open
    with safe_open(str(st), "numpy") as f:
        meta = f.metadata()
    tensors = load_file(str(st))
    name = next(k for k in sorted(tensors) if k.endswith("weight"))
    tensors[name] = tensors[name].copy()
    tensors[name].flat[3] = np.inf
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    r = run_script("tools/import_weights.py", "--model", DEMO_DEPLOY, "--state", tmp_path / "bad.safetensors",
                   "--out", tmp_path / "x.caffemodel", "--verify", "2")
    assert "bad.safetensors: layer" in (line := _one_error_line(r)) and "1 NaN/Inf value(s)" in line, line
    assert not (tmp_path / "x.caffemodel").exists()


def test_agreement_never_passes_nan():
    from simplenet_caffe.export.verify import Agreement, rel_diff

    c = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    n = c.copy()
    n[1, 0] = np.nan
    assert rel_diff(c, n) == float("inf") and rel_diff(n, c) == float("inf") and rel_diff(c, c) == 0
    with pytest.raises(UserError, match="non-finite logits .*PyTorch 1 of 4 values"):
        Agreement().add(c, n, c)
    with pytest.raises(UserError, match="Caffe 1, PyTorch 1, onnxruntime 1"):
        Agreement().add(n, n, n)


@pytest.mark.parametrize("args,msg", [(["--check-data", "x", "--limit", "-5"], "--limit must be a positive"),
                                      (["--check-data", "x", "--limit", "0"], "--limit must be a positive"),
                                      (["--limit", "3"], "--limit applies to --check-data")])
def test_export_limit_is_checked(tmp_path, args, msg):
    r = run_script("tools/export.py", "--model", DEMO_DEPLOY, "--weights", tmp_path / "w.caffemodel", "--to",
                   "onnx", "--out", tmp_path / "x.onnx", *args)
    assert msg in _one_error_line(r)


def test_count_params_refuses_sizes_below_one(tmp_path, caffe_pb2):
    net = caffe_pb2.NetParameter(name="neg")
    inp = net.layer.add(name="in", type="Input", top=["data"])
    inp.input_param.shape.add(dim=[1, 3, 4, 4])
    c = net.layer.add(name="conv", type="Convolution", bottom=["data"], top=["c"])
    c.convolution_param.num_output = 2
    c.convolution_param.kernel_size.append(9)
    (tmp_path / "neg.prototxt").write_text(text_format.MessageToString(net))
    r = run_script("tools/count_params.py", tmp_path / "neg.prototxt")
    line = _one_error_line(r)
    assert "layer 'conv' (Convolution): its output would be 2x-4x-4, a size below 1, from an input of 3x4x4" in line
    assert r.stdout == ""
    inp.input_param.shape[0].dim[2] = 0
    (tmp_path / "zero.prototxt").write_text(text_format.MessageToString(net))
    r = run_script("tools/count_params.py", tmp_path / "zero.prototxt")
    assert "layer 'in': input shape (3, 0, 4) has a size below 1" in _one_error_line(r)


# ---------------------------------------------------------------------------- 8. the recipe

def _float_lmdb(path, shape=(1, 8, 8)):
    """The tiny experiment's test images, standardised to floats (another recipe than the net's uint8)."""
    from _train_helpers import tiny_images
    from simplenet_caffe.data.lmdbio import write_lmdb

    items = ((np.resize((img.astype(np.float32) - 100) / 50, shape), lab) for img, lab in tiny_images(50, seed=2))
    write_lmdb(path, items, total=50)
    return path


def test_evaluate_refuses_data_prepared_another_way(tiny, tmp_path):
    data = _float_lmdb(tmp_path / "float_lmdb")
    args = ["--model", tiny["net"], "--weights", tiny["model"], "--data", data, "--out", tmp_path / "e"]
    line = _one_error_line(run_script("tools/evaluate.py", *args))
    assert f"{data} was prepared another way than the net's own data {tiny['root'] / 'test_lmdb'}: kind float vs " \
           "uint8 (this data vs the net's); prepare it with the net's recipe, or --allow-recipe-mismatch" in line, line
    assert not (tmp_path / "e").exists()
    r = run_script("tools/evaluate.py", *args, "--allow-recipe-mismatch")
    assert r.returncode == 0 and "top-1     " in r.stdout, r.stderr
    assert "WARNING: " in r.stderr and "scored anyway (--allow-recipe-mismatch)" in r.stderr
    other = _float_lmdb(tmp_path / "shape_lmdb", (1, 10, 10))
    line = _one_error_line(run_script("tools/evaluate.py", *args[:4], "--data", other, "--out", tmp_path / "e"))
    assert "kind float vs uint8; shape (1, 10, 10) vs (1, 8, 8)" in line, line


def test_evaluate_compares_the_recipes(tiny, tmp_path):
    """Same record kind and shape, but preprocess.json says another mean/std: refused by name."""
    import shutil

    from simplenet_caffe.data.preprocess import Recipe

    shutil.copytree(tiny["root"] / "test_lmdb", tmp_path / "copy" / "test_lmdb")
    common = dict(layout="tiny", dataset="tiny", channel_order="gray", dtype="uint8")
    Recipe(**common).save(tiny["root"])
    try:
        Recipe(**common, mean=[12.5], std=[3.0]).save(tmp_path / "copy")
        args = ["--model", tiny["net"], "--weights", tiny["model"], "--data", tmp_path / "copy" / "test_lmdb",
                "--out", tmp_path / "e"]
        line = _one_error_line(run_script("tools/evaluate.py", *args))
        assert "mean [12.5] vs None; std [3.0] vs None (this data vs the net's)" in line, line
        Recipe(**common).save(tmp_path / "copy")
        r = run_script("tools/evaluate.py", *args)
        assert r.returncode == 0 and "WARNING" not in r.stderr, r.stderr
    finally:
        (tiny["root"] / "preprocess.json").unlink()
