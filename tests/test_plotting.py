"""simplenet_caffe.runs.plotting and tools/plot_log.py on the real CIFAR-10 zero-pad log (best test
accuracy 0.953201 at iteration 135500) and the stitched CIFAR-100 pair."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from simplenet_caffe.runs import caffelog, plotting

from conftest import run_script


@pytest.fixture(scope="module")
def c10(caffe_logs_dir):
    return caffelog.parse(caffe_logs_dir / "cifar10_zeropad_95.32.log")


def annotations(svg_path):
    return re.findall(r"best [0-9.e+-]+%? @ (?:epoch )?[0-9.]+(?: [hs])?", svg_path.read_text())


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
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # no temp of write_atomic left


def test_plot_overlay_seconds_smoothing_logy(c10, caffe_logs_dir, tmp_path):
    misc = caffelog.parse(caffe_logs_dir / "cifar100_misc_caffe.log", caffe_logs_dir / "cifar100_misc_caffe_resumed1.log")
    written = plotting.plot_runs([c10, misc], tmp_path, metrics=["test_accuracy", "train:loss"], x="seconds",
                                 smooth=0.6, logy=["train:loss"], name="both", size=(6, 4), dpi=50)
    assert sorted(p.name for p in written) == ["both.test_accuracy.png", "both.test_accuracy.svg",
                                              "both.train-loss.png", "both.train-loss.svg"]
    assert Image.open(tmp_path / "both.test_accuracy.png").size == (300, 200)
    svg = (tmp_path / "both.test_accuracy.svg").read_text()
    # annotated in the x unit shown: hours of wall time (135,500 at 7.19 h, 172,000 at 13.2 h)
    assert annotations(tmp_path / "both.test_accuracy.svg") == ["best 0.953201 @ 7.19 h", "best 0.745 @ 13.2 h"]
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
    # and the lock file of the figure set (simplenet_caffe/atomic.py keeps it, hidden)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bookworm_glog06_tiny_train.lock",
                                                         "bookworm_glog06_tiny_train.test_accuracy.png"]
    cp = run_script("tools/plot_log.py", caffe_logs_dir / "bookworm_glog06_tiny_train.log", "--x", "epoch")
    assert cp.returncode == 2 and "--dataset-size" in cp.stderr and "Traceback" not in cp.stderr
    cp = run_script("tools/plot_log.py", tmp_path / "nothing.log")
    assert cp.returncode == 2 and "no such file" in cp.stderr


# --- paper-ready figures (issue 15) -----------------------------------------------------------

def _texts_inside(fig) -> list[str]:
    """The drawn texts of a figure (titles, axis labels, tick labels in view, legend, notes and
    annotations) whose extent leaves the figure."""
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    out = []
    for ax in fig.axes:
        items = [("x tick labels", ax.xaxis.get_tightbbox(renderer)), ("y tick labels", ax.yaxis.get_tightbbox(renderer))]
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.get_legend():
            texts += ax.get_legend().get_texts()
        items += [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text()]
        for what, e in items:
            if e.x0 < box.x0 - 0.5 or e.y0 < box.y0 - 0.5 or e.x1 > box.x1 + 0.5 or e.y1 > box.y1 + 0.5:
                out.append(f"{what!r} at {e}")
    return out


@pytest.mark.parametrize("size", [(8, 5), (4, 3), (3.2, 2.4)])
def test_labels_never_clipped(c10, caffe_logs_dir, size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    misc = caffelog.parse(caffe_logs_dir / "cifar100_misc_caffe.log", caffe_logs_dir / "cifar100_misc_caffe_resumed1.log")
    for metric in ("test_accuracy", "test_loss", "lr"):
        fig = plotting.figure([c10, misc], metric, x="epoch", dataset_size=50000, size=size, dpi=100,
                              paper=[("cifar10_a5m_zeropad_mirrortest", 95.32)], percent=True)
        FigureCanvasAgg(fig).draw()
        assert _texts_inside(fig) == [], (metric, size)
        assert tuple(fig.get_size_inches()) == size


def test_robust_y_range_leaves_out_iteration_0_and_says_so(c10, tmp_path):
    fig = plotting.figure([c10], "test_loss", dpi=50)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    # the log's test losses: 78.6029 at iteration 0, then between 0.16198 and 1.8 or so
    assert hi < 5 and lo < 0.16198
    notes = [t.get_text() for t in ax.texts if t.get_gid() == "note"]
    assert notes == ["left out of the y range: the first point (78.6029 at iteration 0)"]
    # accuracy's first point (0.1) is no outlier: nothing left out, no note
    acc = plotting.figure([c10], "test_accuracy", dpi=50).axes[0]
    assert [t for t in acc.texts if t.get_gid() == "note"] == [] and acc.get_ylim()[0] < 0.1
    # an explicit --ylim wins, and log axes keep every point
    assert plotting.figure([c10], "test_loss", ylim=(0, 2), dpi=50).axes[0].get_ylim() == (0, 2)
    assert plotting.figure([c10], "test_loss", logy=True, dpi=50).axes[0].get_ylim()[1] > 78


def test_paper_line_reference_run_percent_and_pdf(c10, caffe_logs_dir, tmp_path):
    ref = caffelog.parse(caffe_logs_dir / "mnist_finetune_99.75.log")
    written = plotting.plot_runs(c10, tmp_path, metrics=["test_accuracy"], references=[ref],
                                 reference_labels=["authors"], paper_value=("cifar10_a5m_zeropad_mirrortest", 95.32),
                                 percent=True, formats=["pdf", "svg", "png"], size=(4, 3))
    assert sorted(p.suffix for p in written) == [".pdf", ".png", ".svg"]
    assert (tmp_path / "cifar10_zeropad_95.32.test_accuracy.pdf").read_bytes().startswith(b"%PDF")
    png = Image.open(tmp_path / "cifar10_zeropad_95.32.test_accuracy.png")
    assert png.size == (1200, 900) and round(png.info["dpi"][0]) == 300     # 300 dpi by default
    svg = (tmp_path / "cifar10_zeropad_95.32.test_accuracy.svg").read_text()
    assert annotations(tmp_path / "cifar10_zeropad_95.32.test_accuracy.svg") == ["best 95.3201% @ 135500"]
    assert "paper: 95.32% (cifar10_a5m_zeropad_mirrortest)" in svg and "authors" in svg
    fig = plotting.figure([c10], "test_accuracy", references=[ref], paper=[("", 95.32)], dpi=50)
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "paper-0"]
    assert line.get_ydata()[0] == pytest.approx(0.9532)                    # 0-1 without --percent
    ref_line = [ln for ln in ax.lines if ln.get_label() == "reference: mnist_finetune_99.75"]
    assert ref_line and ref_line[0].get_linestyle() == "--"
    assert max(ref_line[0].get_ydata()) == 0.9975


def test_annotations_in_the_x_unit(c10):
    def best_text(fig):
        return [t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith("best")]
    assert best_text(plotting.figure([c10], "test_accuracy", dpi=50)) == ["best 0.953201 @ 135500"]
    # batch 100 (from the log), 50,000 images: iteration 135,500 is epoch 271
    assert best_text(plotting.figure([c10], "test_accuracy", x="epoch", dataset_size=50000, dpi=50)) == \
        ["best 0.953201 @ epoch 271"]
    assert best_text(plotting.figure([c10], "test_accuracy", x="seconds", dpi=50)) == ["best 0.953201 @ 7.19 h"]


def test_known_experiment_gets_its_paper_line(caffe_logs_dir, tmp_path):
    assert plotting.reported_accuracy("cifar10_a5m_zeropad_mirrortest") == ("cifar10_a5m_zeropad_mirrortest", 95.32)
    assert plotting.reported_accuracy("cifar10_a5m_zeropad_seed2") == ("cifar10_a5m_zeropad", 95.16)
    assert plotting.reported_accuracy("cifar10_zeropad_95.32") is None
    assert plotting.reported_accuracy("mnist_s300a_demo") is None          # its own entry: no paper number
    assert plotting.reported_accuracy("mnist_s300a_seed3") == ("mnist_s300a", 99.72)
    run_dir = tmp_path / "logs" / "mnist_a5m_nodrop_ft_fixed"
    run_dir.mkdir(parents=True)
    (run_dir / "caffe.log").write_bytes((caffe_logs_dir / "mnist_finetune_99.75.log").read_bytes())
    cp = run_script("tools/plot_log.py", run_dir, "-o", tmp_path, "--metric", "test_accuracy", "--format", "svg",
                    "--percent", "--xlim", "0:20000", "--ylim", "test_accuracy=99:100")
    assert cp.returncode == 0, cp.stderr
    svg = (tmp_path / "mnist_a5m_nodrop_ft_fixed.test_accuracy.svg").read_text()
    assert "paper: 99.75% (mnist_a5m_nodrop_ft_fixed)" in svg
    assert "year is a guess" in cp.stderr
    for bad in (["--xlim", "5"], ["--ylim", "3:1"], ["--paper-value", "120"], ["--experiment", "nope"],
                ["--format", "jpg"], ["--paper-value", "90", "--no-paper"], ["--ylim", "nope=0:1"]):
        cp = run_script("tools/plot_log.py", run_dir, "-o", tmp_path, *bad)
        assert cp.returncode == 2 and "Traceback" not in cp.stderr and "error" in cp.stderr, (bad, cp.stderr)


def test_a_short_runs_first_test_point_is_kept_in_the_y_range():
    """The demo tests at 200/400/600 (no iteration-0 pass): its 0.9263 at 200 is a measurement,
    not the untrained net's outlier, so the y range keeps it and no note is written."""
    ys = np.array([0.9263, 0.9664, 0.9909])
    assert plotting._robust_limits([(200, ys)]) == ((None, None), [])
    loss = np.array([78.6, 0.30, 0.14, 0.03])
    (lo, hi), dropped = plotting._robust_limits([(0, loss)])
    assert dropped == [(0, 78.6)] and hi < 1.0


def test_zoom_panel_repeats_the_curves_over_its_range(caffe_logs_dir, tmp_path):
    """--zoom: a second panel with the same curves (reference and paper line included) over that
    x range, its y range fitted to the values shown there; the range is shaded in the first panel."""
    log = caffe_logs_dir / "mnist_slim310k_99.72.log"
    run = caffelog.parse(log)
    fig = plotting.figure([run], "test_accuracy", percent=True, paper=[("", 99.72)], xlim=(0, 40000),
                          zoom=(30000, 40000))
    main, zoom = fig.axes
    assert zoom.get_xlim() == (30000, 40000)
    shown = [100 * r["accuracy"] for r in run.test.rows if 30000 <= r["iteration"] <= 40000]
    lo, hi = zoom.get_ylim()
    assert lo < min(shown) < max(shown) < hi and hi - lo < 1.2 * (max(shown) - min(shown)) + 0.5
    assert [ln.get_ydata()[0] for ln in zoom.get_lines() if ln.get_linestyle() == ":"] == [99.72]
    assert any(p.get_x() == 30000 for p in main.patches)          # the shaded range
    cp = run_script("tools/plot_log.py", log, "--metric", "test_accuracy", "--zoom", "30000:40000",
                    "--format", "png", "-o", tmp_path)
    assert cp.returncode == 0, cp.stderr
    w, h = Image.open(tmp_path / f"{log.stem}.test_accuracy.png").size
    assert w > 1.5 * h
    cp = run_script("tools/plot_log.py", log, "--zoom", "40000:30000", "-o", tmp_path)
    assert cp.returncode == 2 and "LO must be below HI" in cp.stderr
