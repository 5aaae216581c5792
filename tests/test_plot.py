"""simplenet_caffe.runs.plotting and tools/plot_log.py on the real CIFAR-10 zero-pad log (best test
accuracy 0.953201 at iteration 135500) and the stitched CIFAR-100 pair."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from simplenet_caffe.runs import caffelog, plotting

from conftest import run_script


@pytest.fixture(scope="module")
def c10(caffe_logs_dir):
    return caffelog.parse(caffe_logs_dir / "cifar10_zeropad_95.32.log")


def annotations(svg_path):
    return re.findall(r"best [0-9.e+-]+ @ \d+", svg_path.read_text())


def test_plot_single_run_png_size_and_best_annotation(c10, tmp_path):
    written = plotting.plot_runs(c10, tmp_path, size=(8, 5), dpi=100)
    names = sorted(p.name for p in written)
    assert names == sorted(f"cifar10_zeropad_95.32.{m}.{f}" for m in plotting.DEFAULT_METRICS for f in ("png", "svg"))
    for p in written:
        if p.suffix == ".png":
            assert Image.open(p).size == (800, 500)
    assert annotations(tmp_path / "cifar10_zeropad_95.32.test_accuracy.svg") == ["best 0.953201 @ 135500"]
    # lowest test loss of the log (grep/sort: 0.16198 at iteration 137000)
    assert annotations(tmp_path / "cifar10_zeropad_95.32.test_loss.svg") == ["best 0.16198 @ 137000"]
    assert annotations(tmp_path / "cifar10_zeropad_95.32.lr.svg") == []
    assert not list(tmp_path.glob("*.tmp"))


def test_plot_overlay_seconds_smoothing_logy(c10, caffe_logs_dir, tmp_path):
    misc = caffelog.parse(caffe_logs_dir / "cifar100_misc_caffe.log", caffe_logs_dir / "cifar100_misc_caffe_resumed1.log")
    written = plotting.plot_runs([c10, misc], tmp_path, metrics=["test_accuracy", "train:loss"], x="seconds",
                                 smooth=0.6, logy=["train:loss"], name="both", size=(6, 4), dpi=50)
    assert sorted(p.name for p in written) == ["both.test_accuracy.png", "both.test_accuracy.svg",
                                              "both.train-loss.png", "both.train-loss.svg"]
    assert Image.open(tmp_path / "both.test_accuracy.png").size == (300, 200)
    svg = (tmp_path / "both.test_accuracy.svg").read_text()
    assert annotations(tmp_path / "both.test_accuracy.svg") == ["best 0.953201 @ 135500", "best 0.745 @ 172000"]
    assert "cifar10_zeropad_95.32" in svg and "cifar100_misc_caffe" in svg and "wall time (h)" in svg
    # fixed colours: run 0 is tab10 blue, run 1 tab10 orange, in every chart
    for f in ("both.test_accuracy.svg", "both.train-loss.svg"):
        t = (tmp_path / f).read_text()
        assert "#1f77b4" in t and "#ff7f0e" in t


def test_plot_epochs_and_ema():
    import numpy as np
    assert plotting.ema(np.array([1.0, 1.0, 1.0]), 0.9).tolist() == pytest.approx([1.0, 1.0, 1.0])
    y = plotting.ema(np.array([0.0, 10.0]), 0.5)
    assert y.tolist() == pytest.approx([0.0, 10.0 * 0.5 / 0.75])
    with pytest.raises(ValueError):
        plotting.resolve_metric("nope")


def test_plot_log_cli(caffe_logs_dir, tmp_path):
    cp = run_script("tools/plot_log.py", caffe_logs_dir / "bookworm_glog06_tiny_train.log", "-o", tmp_path,
                    "--x", "epoch", "--dataset-size", "640", "--metric", "test_accuracy", "--format", "png")
    assert cp.returncode == 0, cp.stderr
    assert "best test accuracy 1 @ iteration 25" in cp.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["bookworm_glog06_tiny_train.test_accuracy.png"]
    cp = run_script("tools/plot_log.py", caffe_logs_dir / "bookworm_glog06_tiny_train.log", "--x", "epoch")
    assert cp.returncode == 2 and "--dataset-size" in cp.stderr and "Traceback" not in cp.stderr
    cp = run_script("tools/plot_log.py", tmp_path / "nothing.log")
    assert cp.returncode == 2 and "no such file" in cp.stderr
