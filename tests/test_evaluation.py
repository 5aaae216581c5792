"""tools/evaluate.py and tools/classify.py refuse weights that do not belong to the net, compute
top-k exactly as Caffe's Accuracy layer (ties, ignore_label; checked against the real
`caffe test`), show the dataset's class names, and take the TEST transform from the net
(classify on an imagenet_pt_* net: crop 224 + mean_value + scale, not the recorded crop 227)."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from google.protobuf import text_format

from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.paths import REPO_ROOT
from simplenet_caffe.runs import caffelog, evaluation, training

from _train_helpers import make_tiny_experiment, require_caffe
from conftest import run_script


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, caffe_pb2):
    """The tiny two-class net trained 40 iterations (and 1 iteration: a model that is often wrong)."""
    require_caffe()
    exp = make_tiny_experiment(tmp_path_factory.mktemp("tiny_eval"), caffe_pb2, max_iters=(40, 1))
    for solver in exp["solvers"]:
        assert training.train(solver, log_dir=exp["root"] / "logs" / solver.stem, show_progress=False,
                              tensorboard=False).rc == 0
    exp["model"] = exp["root"] / "snap" / "tiny_iter_40.caffemodel"
    exp["model1"] = exp["root"] / "snap" / "tiny_iter_1.caffemodel"
    assert exp["model"].is_file() and exp["model1"].is_file()
    return exp


def _caffe_test(net, weights, tmp_path, iterations=2) -> float:
    cp = caffe_env.run_tool("caffe", "test", f"-model={net}", f"-weights={weights}", f"-iterations={iterations}")
    log = tmp_path / "caffe_test.log"
    log.write_text(cp.stdout + cp.stderr)
    return caffelog.parse(log).test_result["accuracy"]


def _other_net_weights(caffe_pb2, tmp_path, names=("c1", "fc")):
    """A caffemodel of a net with the tiny net's shapes but other layer names (random weights)."""
    caffe = caffe_env.import_caffe()
    net = caffe_pb2.NetParameter(name="Other")
    inp = net.layer.add(name="data", type="Input", top=["data"])
    inp.input_param.shape.add().dim.extend([1, 1, 8, 8])
    c = net.layer.add(name=names[0], type="Convolution", bottom=["data"], top=["c"])
    c.convolution_param.num_output = 4
    c.convolution_param.kernel_size.append(3)
    c.convolution_param.weight_filler.type = "xavier"
    p = net.layer.add(name="pool", type="Pooling", bottom=["c"], top=["p"])
    p.pooling_param.kernel_size, p.pooling_param.stride = 2, 2
    ip = net.layer.add(name=names[1], type="InnerProduct", bottom=["p"], top=["out"])
    ip.inner_product_param.num_output = 2
    ip.inner_product_param.weight_filler.type = "xavier"
    path = tmp_path / "other.prototxt"
    path.write_text(text_format.MessageToString(net))
    out = tmp_path / "other.caffemodel"
    caffe.Net(str(path), caffe.TEST).save(str(out))
    return out


def test_weights_of_another_net_are_refused_by_name(tiny, caffe_pb2, tmp_path):
    other = _other_net_weights(caffe_pb2, tmp_path)
    cp = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", other, "--out", tmp_path / "e")
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    assert cp.stderr.count("\n") == 1 and "conv1, ip1" in cp.stderr and "--allow-partial" in cp.stderr
    assert not (tmp_path / "e").exists()
    cp = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", other, "--out", tmp_path / "e",
                    "--allow-partial")
    assert cp.returncode == 0, cp.stderr
    assert "warning: --allow-partial: 2 layer(s) keep their random fillers: conv1, ip1" in cp.stderr
    # one layer renamed: only that one is named
    half = _other_net_weights(caffe_pb2, tmp_path, names=("conv1", "fc"))
    cp = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", half, "--out", tmp_path / "e2")
    assert cp.returncode == 2 and "no weights for 1 of the net's 2 layers with weights: ip1 " in cp.stderr


def test_classify_refuses_weights_of_another_net(tiny, caffe_pb2, tmp_path):
    other = _other_net_weights(caffe_pb2, tmp_path)
    recipe = tmp_path / "preprocess.json"
    recipe.write_text(json.dumps({"layout": "tiny", "dataset": "tiny", "channel_order": "gray", "dtype": "uint8"}))
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((8, 8), np.uint8))
    cp = run_script("tools/classify.py", "--model", tiny["net"], "--weights", other, "--preprocess", recipe, img)
    assert cp.returncode == 2 and cp.stderr.count("\n") == 1
    assert "has no weights for any of the net's 2 layers with weights: conv1, ip1" in cp.stderr


def test_topk_counts_ties_against_the_label_like_caffe(tiny, tmp_path):
    """ip1 weights zeroed, equal biases: every class ties with the label. Caffe's Accuracy layer
    (`>=`, this Caffe's accuracy_layer.cpp) counts none correct; so must evaluate."""
    model = protoio.read_caffemodel(tiny["model"])
    ip = next(lp for lp in model.layer if lp.name == "ip1")
    ip.blobs[0].data[:] = [0.0] * len(ip.blobs[0].data)
    ip.blobs[1].data[:] = [0.5, 0.5]
    tied = tmp_path / "tied.caffemodel"
    protoio.write_binary(tied, model)
    assert _caffe_test(tiny["net"], tied, tmp_path) == 0.0
    cp = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", tied, "--out", tmp_path / "e",
                    "--batch-size", "25")
    assert cp.returncode == 0, cp.stderr
    assert "top-1     0.000000" in cp.stdout
    en = evaluation.load_eval_net(tiny["net"], tied, batch=25)
    res = evaluation.evaluate(en, en.source)
    assert res.topk(1) == 0.0 and res.topk(2) == 1.0          # 2 classes: both within the top 2


def test_topk_and_ignore_label_match_caffe_test(tiny, caffe_pb2, tmp_path):
    """A barely trained model (often wrong), and the same net with ignore_label 1: `caffe test`
    averages the per-batch accuracy of the records it does not ignore; so does topk per batch."""
    en = evaluation.load_eval_net(tiny["net"], tiny["model1"], batch=25)
    res = evaluation.evaluate(en, en.source)
    assert 0.0 < res.topk(1) < 1.0
    assert res.topk(1) == pytest.approx(_caffe_test(tiny["net"], tiny["model1"], tmp_path), abs=1e-6)
    net = protoio.read_net(tiny["net"])
    next(lp for lp in net.layer if lp.type == "Accuracy").accuracy_param.ignore_label = 1
    ign = tmp_path / "ignore_net.prototxt"
    ign.write_text(text_format.MessageToString(net))
    per_batch = [evaluation.EvalResult(res.labels[b:b + 25], res.scores[b:b + 25], 2).topk(1, ignore_label=1)
                 for b in (0, 25)]
    assert np.mean(per_batch) == pytest.approx(_caffe_test(ign, tiny["model1"], tmp_path), abs=1e-6)
    # evaluate leaves the ignored records out
    en2 = evaluation.load_eval_net(ign, tiny["model1"], batch=25)
    res2 = evaluation.evaluate(en2, en2.source)
    assert en2.ignore_label == 1 and res2.ignored == 25 and (res2.labels == 0).all()
    assert res2.topk(1) == res.topk(1, ignore_label=1)


def test_topk_by_hand():
    scores = np.array([[0.2, 0.5, 0.3],    # label 1: best -> top-1
                       [0.4, 0.4, 0.2],    # label 0 tied with 1: one other >= -> not top-1, top-2
                       [0.1, 0.1, 0.1],    # label 2, all tied: two others >= -> only top-3
                       [0.6, 0.3, 0.1]])   # label 2: last
    res = evaluation.EvalResult(np.array([1, 0, 2, 2]), scores.astype(np.float32), 3)
    assert [res.topk(k) for k in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert res.topk(1, ignore_label=2) == 0.5
    assert res.topk(1, ignore_label=0) == pytest.approx(1 / 3)


def test_evaluate_shows_class_names(tiny, tmp_path):
    """Class names from the dataset's preprocess.json label per_class.csv, the confusion matrix and stdout."""
    recipe = {"layout": "tiny", "dataset": "tiny", "channel_order": "gray", "dtype": "uint8",
              "class_names": ["top", "bottom"]}
    (tiny["root"] / "preprocess.json").write_text(json.dumps(recipe))
    try:
        cp = run_script("tools/evaluate.py", "--model", tiny["net"], "--weights", tiny["model1"],
                        "--out", tmp_path / "e")
        assert cp.returncode == 0, cp.stderr
        rows = list(csv.reader((tmp_path / "e" / "per_class.csv").open()))
        assert [r[0] for r in rows] == ["class", "top", "bottom"]
        cm = list(csv.reader((tmp_path / "e" / "confusion.csv").open()))
        assert cm[0] == ["true\\pred", "top", "bottom"] and [r[0] for r in cm[1:]] == ["top", "bottom"]
        assert "lowest per-class accuracy: " in cp.stdout and ("top: " in cp.stdout and "bottom: " in cp.stdout)
    finally:
        (tiny["root"] / "preprocess.json").unlink()


def test_classify_takes_the_transform_from_the_net(caffe_pb2, tmp_path):
    """imagenet_small_m1_05 (a PyTorch-family net): crop 224, mean_value, scale in its TEST layer. The
    ImageNet recipe records the default experiment's transform (crop 227 + mean file), which gives a
    227x227 input the net cannot take; classify must use the net's own."""
    caffe = caffe_env.import_caffe()
    deploy = REPO_ROOT / "prototxt" / "imagenet_small_m1_05_deploy.prototxt"
    weights = tmp_path / "random.caffemodel"
    caffe.Net(str(deploy), caffe.TEST).save(str(weights))
    names = [f"class_{i:03d}" for i in range(1000)]
    recipe = {"layout": "imagenet", "dataset": "folder", "channel_order": "BGR", "dtype": "uint8",
              "size": [256, 256], "resize_mode": "squash", "mirror_train": True, "class_names": names,
              "transform": {"crop_size": 227, "mean_file": "data/imagenet/mean.binaryproto"}}
    (tmp_path / "preprocess.json").write_text(json.dumps(recipe))
    img = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(img), rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    cp = run_script("tools/classify.py", "--model", deploy, "--weights", weights, "--preprocess",
                    tmp_path / "preprocess.json", "--json", "-k", "2", img)
    assert cp.returncode == 0, cp.stderr
    top = json.loads(cp.stdout)[0]["top"]
    assert top[0]["name"] == names[top[0]["class"]]
    # the array the net saw: the recipe's resize, then the TEST layer's crop/mean_value/scale
    from simplenet_caffe.data import preprocess
    from simplenet_caffe.runs import classification
    rec = classification.input_recipe(deploy, tmp_path / "preprocess.json")
    assert sorted(rec.transform) == ["crop_size", "mean_value", "scale"] and rec.transform["crop_size"] == 224
    assert rec.transform["mean_value"] == pytest.approx([103.53, 116.28, 123.675]) and \
        rec.transform["scale"] == pytest.approx(0.017352)
    x = preprocess.apply(rec, img)
    assert x.shape == (3, 224, 224)
    raw = cv2.resize(cv2.imread(str(img)), (256, 256), interpolation=cv2.INTER_LINEAR)[16:240, 16:240]
    want = (raw.transpose(2, 0, 1).astype(np.float32) - np.array([103.53, 116.28, 123.675], np.float32)[:, None, None]) \
        * np.float32(0.017352)
    assert np.allclose(x, want, atol=1e-4)
