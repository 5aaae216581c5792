"""simplenet_caffe.runs.results and tools/results_table.py: numbers from the real logs (docs/spec.md §7:
95.32 @ 135,500, 13.1 h, 17.7 s/100 it on the GTX 980), seeds as mean ± std, params via the
counter."""
from __future__ import annotations

import csv
import io
import statistics

import pytest

from simplenet_caffe.runs import caffelog, results
from simplenet_caffe.paths import PROTOTXT_DIR

from conftest import run_script


@pytest.fixture(scope="module")
def runs(caffe_logs_dir):
    d = caffe_logs_dir
    return {"c10": caffelog.parse(d / "cifar10_zeropad_95.32.log"),
            "mnist": caffelog.parse(d / "mnist_finetune_99.75.log"),
            "misc": caffelog.parse(d / "cifar100_misc_caffe.log", d / "cifar100_misc_caffe_resumed1.log")}


def test_one_row_per_run(runs):
    t = results.results_table([runs["c10"], runs["misc"]], labels=["c10", None])
    c10, misc = t.rows
    assert c10["experiment"] == "c10" and misc["experiment"] == "cifar100_misc_caffe"
    assert (c10["best_accuracy"], c10["best_iteration"]) == (0.953201, 135500)
    assert (c10["final_accuracy"], c10["final_iteration"], c10["iterations"]) == (0.9481, 247000, 247400)
    assert c10["wall_hours"] == pytest.approx(13.1128, abs=1e-4)
    assert 17.6 < c10["seconds_per_100_iters"] < 17.8
    assert (misc["best_accuracy"], misc["best_iteration"], misc["iterations"]) == (0.745, 172000, 181900)
    md = t.to_markdown()
    assert "| c10 | 1 | 95.32 | 135,500 | 94.81 | 247,000 | 247,400 | 13.1 | 17.73 | – |" in md


def test_seeds_give_mean_and_std(runs):
    t = results.results_table([runs["c10"], runs["mnist"]], labels=["x", "x"])
    (row,) = t.rows
    assert row["n"] == 2 and row["runs"] == ["cifar10_zeropad_95.32", "mnist_finetune_99.75"]
    assert row["best_accuracy"] == pytest.approx((0.953201 + 0.9975) / 2)
    assert row["best_accuracy_std"] == pytest.approx(statistics.stdev([0.953201, 0.9975]))
    assert row["best_iteration"] == pytest.approx((135500 + 6000) / 2)
    assert "97.54 ± 3.13" in t.to_markdown()
    rows = list(csv.DictReader(io.StringIO(t.to_csv())))
    assert float(rows[0]["best_accuracy"]) == pytest.approx(0.9753505)
    assert float(rows[0]["best_accuracy_std"]) == pytest.approx(0.044299 / 2 ** 0.5, abs=1e-9)


def test_params_from_the_net(runs):
    net = PROTOTXT_DIR / "cifar10_a5m_zeropad_train_val.prototxt"
    if not net.is_file():
        pytest.skip("generated prototxt not present")
    t = results.results_table([runs["c10"]], nets=net)
    assert t.rows[0]["params"] == 5_493_258       # docs/spec.md §12: A5M-DROP 3x32x32, full learnable
    assert "5,493,258" in t.to_markdown()


def test_results_table_cli(caffe_logs_dir, tmp_path):
    d = caffe_logs_dir
    cp = run_script("tools/results_table.py", f"misc={d / 'cifar100_misc_caffe.log'},{d / 'cifar100_misc_caffe_resumed1.log'}",
                    d / "mnist_finetune_99.75.log", "-o", tmp_path, "--name", "t")
    assert cp.returncode == 0, cp.stderr
    assert "| misc | 1 | 74.50 | 172,000 | 74.24 | 181,000 | 181,900 |" in cp.stdout
    assert "| mnist_finetune_99.75 | 1 | 99.75 | 6,000 | 99.73 | 36,000 | 36,100 | 1.8 | 16.89 |" in cp.stdout
    assert (tmp_path / "t.md").read_text() == cp.stdout
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [r["experiment"] for r in rows] == ["misc", "mnist_finetune_99.75"]
    assert rows[0]["device"] == "GPU 0: GeForce GTX 980"
    cp = run_script("tools/results_table.py", d / "mnist_finetune_99.75.log", "--net", tmp_path / "none.prototxt")
    assert cp.returncode == 2 and "net prototxt not found" in cp.stderr and "Traceback" not in cp.stderr


def test_reference_report_phase_by_phase(caffe_logs_dir, tmp_path):
    """tools/reference_report.py on a run folder holding the authors' own MNIST log (so "this run"
    equals the authors' to the digit), and on its part before iteration 19,800 (no after-step phase)."""
    import shutil

    authors = caffe_logs_dir / "mnist_slim310k_99.72.log"
    same = tmp_path / "same"
    same.mkdir()
    shutil.copy(authors, same / "caffe.log")
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(authors, other / "caffe.log")
    cp = run_script("tools/reference_report.py", same, "--authors", authors, "--experiment", "mnist_s300a",
                    "--early", other, "--seeds", other)
    assert cp.returncode == 0, cp.stderr
    md = (same / "results.md").read_text()
    # --seeds: each run's own numbers, their mean and range, the authors' over the same iterations
    assert "| run | seed | best (%) | final (%) | mean 33,000–40,000 (%) | mean before the step (%) | " \
           "mean 32,000–112,200 (%) | best ≥ 99.65 % |" in md
    assert "| `same` | – | 99.72 @ 36,600 | 99.68 @ 112,200 | 99.69 |" in md
    assert "| `other` | – | 99.72 @ 36,600 | 99.68 @ 112,200 | 99.69 |" in md
    assert "| range of the runs (points) |  | 0.00 | 0.00 | 0.00 | 0.00 | 0.00 |  |" in md
    assert "| the authors' log | none | 99.72 @ 36,600 | 99.68 @ 112,200 | 99.69 |" in md
    assert "| iteration | authors | same | other | spread of the runs (points) |" in md
    assert "| 600 | 96.96 | 96.96 | 96.96 | 0.00 |" in md and "| 3,000 | " in md and "| 3,600 | " not in md
    assert "| best test accuracy (%) | 99.72 @ 36,600 | 99.72 @ 36,600 |" in md
    assert "best test accuracy ≥ 99.65 %: **met**" in md and "authors': **met** (+0.00)" in md
    before = next(ln for ln in md.splitlines() if ln.startswith("| before the first lr step"))
    cells = [c.strip() for c in before.strip("|").split("|")]
    # 53 tests at 600..31,800 (iteration 0 left out), equal means
    run = caffelog.parse(authors)
    accs = [r["accuracy"] for r in run.test.rows if 0 < r["iteration"] < 32000]
    assert cells[1:6] == ["1–31,999", "53", f"{100 * statistics.mean(accs):.2f}", f"{100 * statistics.mean(accs):.2f}",
                          "+0.00"]
    for ext in ("png", "svg", "pdf"):
        assert (same / f"same.test_accuracy.{ext}").stat().st_size > 1000
    assert "![same.test_accuracy](same.test_accuracy.png)" in md
    # up to iteration 19,800 only: the goals are not met, the window has no tests
    short = tmp_path / "short"
    short.mkdir()
    lines = authors.read_text(errors="replace").splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if "Iteration 19800, Testing net" in ln)
    (short / "caffe.log").write_text("".join(lines[:cut]))
    cp = run_script("tools/reference_report.py", short, "--authors", authors, "--experiment", "mnist_s300a")
    assert cp.returncode == 0, cp.stderr
    md = (short / "results.md").read_text()
    assert "≥ 99.65 %: **not met**" in md and "| window 33,000–40,000 | 33,000–40,000 | 0 |" in md
    cp = run_script("tools/reference_report.py", tmp_path / "nothing", "--authors", authors)
    assert cp.returncode == 2 and "no Caffe logs" in cp.stderr


def test_run_list_phase_means(caffe_logs_dir, tmp_path):
    """The run list's before/after-step means for the authors' S300-A log as a run, against the
    test rows read straight from the log text (multistep, first step at 32,000)."""
    import re
    import shutil

    from simplenet_caffe.runs import runlist

    authors = caffe_logs_dir / "mnist_slim310k_99.72.log"
    (tmp_path / "authors").mkdir()
    shutil.copy(authors, tmp_path / "authors" / "caffe.log")
    acc, it = {}, None
    for ln in authors.read_text(errors="replace").splitlines():
        m = re.search(r"Iteration (\d+), Testing net", ln)
        if m:
            it = int(m.group(1))
        m = re.search(r"Test net output #\d+: accuracy = ([0-9.]+)", ln)
        if m and it is not None:
            acc[it] = float(m.group(1))
    before = statistics.mean(v for i, v in acc.items() if 0 < i < 32000)
    after = statistics.mean(v for i, v in acc.items() if i >= 32000)
    (row,) = runlist.list_runs(tmp_path)
    assert row.first_step == 32000
    assert row.before_step == pytest.approx(before, abs=1e-9) and row.after_step == pytest.approx(after, abs=1e-9)
    assert 0.97 < before < 0.99 and after > 0.996
    table = runlist.format_table([row])
    assert f"{100 * before:.2f} / {100 * after:.2f} @32000" in table


def test_best_goal_counts_whole_test_images():
    """0.996499 is Caffe's float mean for 9,965 of 10,000 right: it reaches 99.65 %; 9,964 does not."""
    from simplenet_caffe.runs.reference import reaches
    assert reaches(0.996499, 99.65) and reaches(0.9965, 99.65) and reaches(0.9972, 99.65)
    assert not reaches(0.9964, 99.65) and not reaches(None, 99.65)
