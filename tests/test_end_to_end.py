"""Issue 6: the pipeline end to end on real MNIST with real Caffe.

One short real training of S300-A (the demo experiment's net; the `trained` fixture in conftest.py)
on the first 3,000 MNIST training images; its weights then feed evaluate (against `caffe test`) and
classify (against evaluate).
"""
from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from conftest import N_TEST, TEST_BATCH, run_script


@pytest.mark.slow
def test_short_training_beats_chance_by_far(trained):
    from simplenet_caffe.runs.caffelog import parse

    *_, log = trained
    run = parse(log)
    final = run.final_test("accuracy")
    assert final["iteration"] == 300
    assert final["accuracy"] >= 0.90          # 10 classes: chance is 0.10
    losses = [r["loss"] for r in run.train if r.get("loss") is not None]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_evaluate_agrees_with_caffe_test(trained, tmp_path):
    from simplenet_caffe import caffe_env
    from simplenet_caffe.runs.caffelog import parse

    root, tv, weights, _ = trained
    iters = N_TEST // TEST_BATCH
    proc = caffe_env.run_tool("caffe", "test", f"-model={tv}", f"-weights={weights}", f"-iterations={iters}")
    log = tmp_path / "test.log"
    log.write_text(proc.stderr)
    caffe_acc = parse(log).test_result["accuracy"]

    out = run_script("tools/evaluate.py", "--model", tv, "--weights", weights, "--out", tmp_path / "eval",
                     "--batch-size", TEST_BATCH)
    assert out.returncode == 0, out.stderr
    ours = float(re.search(r"^top-1\s+([0-9.]+)", out.stdout, re.M).group(1))
    assert re.search(r"^records\s+1000$", out.stdout, re.M)
    assert ours == pytest.approx(caffe_acc, abs=1e-6)
    cm = np.loadtxt(tmp_path / "eval" / "confusion.csv", delimiter=",", skiprows=1, usecols=range(1, 11))
    assert cm.sum() == N_TEST
    assert np.trace(cm) / N_TEST == pytest.approx(ours, abs=1e-6)
    png = cv2.imread(str(tmp_path / "eval" / "confusion.png"))
    assert png is not None and png.shape[0] > 300


@pytest.mark.slow
def test_classify_png_digits_matches_evaluate(trained, mnist_dir, tmp_path):
    from simplenet_caffe.runs import evaluation
    from simplenet_caffe.data.idx import read_mnist
    from simplenet_caffe.paths import REPO_ROOT

    root, tv, weights, _ = trained
    images, labels = read_mnist(mnist_dir, "test")
    files = []
    for i in range(20):
        f = tmp_path / f"digit_{i:02d}.png"
        assert cv2.imwrite(str(f), images[i].reshape(28, 28))
        files.append(f)
    en = evaluation.load_eval_net(tv, weights, batch=TEST_BATCH)
    res = evaluation.evaluate(en, en.source, limit=20)
    assert (res.labels == labels[:20]).all()

    deploy = REPO_ROOT / "prototxt" / "mnist_s300a_demo_deploy.prototxt"
    out = run_script("tools/classify.py", "--model", deploy, "--weights", weights,
                     "--preprocess", root / "data" / "mnist_norm", "--json", "-k", "2", *files)
    assert out.returncode == 0, out.stderr
    import json
    got = json.loads(out.stdout)
    assert [g["top"][0]["class"] for g in got] == res.predictions.tolist()
    for g in got:
        p = [t["prob"] for t in g["top"]]
        assert p[0] >= p[1] and 0 < sum(p) <= 1 + 1e-5


def test_mismatched_weights_named_by_layer(trained, tmp_path):
    _, _, weights, _ = trained
    from simplenet_caffe.paths import REPO_ROOT

    # the CIFAR-10 S300-A net has 3 input channels: conv1 cannot take MNIST's 1-channel weights
    out = run_script("tools/evaluate.py", "--model", REPO_ROOT / "prototxt" / "cifar10_s300a_deploy.prototxt",
                     "--weights", weights, "--data", tmp_path / "nowhere")
    assert out.returncode == 2
    assert "conv1" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("error:") == 1


@pytest.mark.parametrize("script", ["tools/evaluate.py", "tools/classify.py", "tools/demo.py", "tools/reproduce.py"])
def test_help(script):
    out = run_script(script, "--help")
    assert out.returncode == 0 and "usage:" in out.stdout


def test_reproduce_unknown_experiment():
    out = run_script("tools/reproduce.py", "no_such_experiment")
    assert out.returncode == 2
    assert "unknown experiment" in out.stderr and "Traceback" not in out.stderr


def test_reproduce_names_the_missing_data_recipe():
    from simplenet_caffe.nets.experiments import EXPERIMENTS
    from simplenet_caffe.paths import REPO_ROOT

    exp = EXPERIMENTS["cifar10_a5m_zeropad"]
    if (REPO_ROOT / exp.layout.train_lmdb).exists():
        pytest.skip("CIFAR-10 zero-pad LMDBs exist here; the missing-data path cannot be shown")
    out = run_script("tools/reproduce.py", "cifar10_a5m_zeropad")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "data/cifar10_zeropad/train_lmdb" in out.stderr
    assert "data_prep/cifar.py --dataset cifar10 --setup zeropad" in out.stderr


def test_every_layout_has_a_prep_command():
    from simplenet_caffe.data.layout import LAYOUTS
    from simplenet_caffe.paths import REPO_ROOT

    for cmd in (lay.command for lay in LAYOUTS.values()):
        script = cmd.split()[1]
        assert (REPO_ROOT / script).is_file(), cmd
