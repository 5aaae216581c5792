"""The committed reference runs (logs/reference/mnist_s300a/, seed 1; mnist_s300a_seed2/; and
mnist_s300a_seed3/, the reference with results.md and figures): their records, stitched logs and
results.md agree with each other and with the authors' schedule, and the report made again from the
committed files says what the committed results.md says."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from simplenet_caffe import protoio
from simplenet_caffe.paths import REPO_ROOT
from simplenet_caffe.runs import caffelog, record, reference

from conftest import run_script

RUN = REPO_ROOT / "logs" / "reference" / "mnist_s300a"
SEED2 = REPO_ROOT / "logs" / "reference" / "mnist_s300a_seed2"
SEED3 = REPO_ROOT / "logs" / "reference" / "mnist_s300a_seed3"


def test_record_and_logs_agree():
    rec = record.read(RUN)
    assert rec.experiment == "mnist_s300a" and rec.seed == 1 and rec.max_iter == 40000
    assert record.sha256_file(RUN / "solver.prototxt") == rec.solver_sha256
    sp = protoio.read_solver(RUN / "solver.prototxt")
    # the authors' schedule: base_lr 0.01, Nesterov, multistep from 32,000, weight decay 0.005
    assert (sp.type, sp.lr_policy, list(sp.stepvalue)[:1]) == ("Nesterov", "multistep", [32000])
    assert (sp.base_lr, sp.weight_decay) == (pytest.approx(0.01), pytest.approx(0.005))
    assert [s.log for s in rec.segments] == ["caffe.log", "caffe.1.log", "caffe.2.log", "caffe.3.log"]
    assert all(a.end_iter == b.start_iter for a, b in zip(rec.segments, rec.segments[1:]))
    run = caffelog.parse(RUN)
    assert run.warnings == []
    its = [r["iteration"] for r in run.test.rows]
    assert its[0] == 0 and its == list(range(0, 40000, 600)) and run.last_iteration == 40000
    assert len({s.commit for s in rec.segments}) == 1 and len({s.build for s in rec.segments}) == 1


# seed -> (its run folder, the iteration its second segment continued from): each was cut by a
# session's end (its first segment never closed) and continued with the project's own resume.
SEEDS = {2: (SEED2, 6000), 3: (SEED3, 12000)}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_other_seeds_are_the_same_schedule_continued_after_a_cut(seed):
    """The stitched log runs 0..40,000 with one test row per 600 iterations, with seed 1's
    commit, build and solver apart from the seed."""
    folder, resumed = SEEDS[seed]
    rec, rec1 = record.read(folder), record.read(RUN)
    assert rec.seed == seed and rec.max_iter == 40000 and record.effective_state(rec, folder) == "done"
    assert [s.log for s in rec.segments] == ["caffe.log", "caffe.1.log"]
    assert rec.segments[1].start_iter == resumed
    assert rec.segments[1].resumed_from.endswith(f"_iter_{resumed}.solverstate")
    assert {s.commit for s in rec.segments} == {s.commit for s in rec1.segments}
    assert {s.build for s in rec.segments} == {s.build for s in rec1.segments}
    assert record.sha256_file(folder / "solver.prototxt") == rec.solver_sha256
    ours, seed1 = protoio.read_solver(folder / "solver.prototxt"), protoio.read_solver(RUN / "solver.prototxt")
    assert (ours.random_seed, seed1.random_seed) == (seed, 1)
    ours.random_seed = seed1.random_seed = 0
    ours.snapshot_prefix = seed1.snapshot_prefix = ""
    assert ours == seed1
    run = caffelog.parse(folder)
    assert run.warnings == [] and run.last_iteration == 40000
    assert [r["iteration"] for r in run.test.rows] == list(range(0, 40000, 600))


def test_results_md_is_what_the_report_says(caffe_logs_dir, tmp_path):
    authors = caffe_logs_dir / "mnist_slim310k_99.72.log"
    cp = run_script("tools/reference_report.py", SEED3, "--authors", authors, "--seeds", RUN, SEED2, "-o", tmp_path)
    assert cp.returncode == 0, cp.stderr
    made = (tmp_path / "results.md").read_text()
    committed = (SEED3 / "results.md").read_text()
    cut = lambda t: t[:t.index("## The early curve")] if "## The early curve" in t else t[:t.index("## Figures")]
    assert cut(made) == cut(committed)
    # the numbers README and docs/reproduction.md quote; the two checks are met
    run, theirs = caffelog.parse(SEED3), caffelog.parse(authors)
    stats = caffelog.run_stats(run)
    assert (round(100 * stats["best_accuracy"], 2), stats["best_iteration"]) == (99.65, 38400)
    assert reference.reaches(stats["best_accuracy"], 99.65)
    assert abs(100 * (reference.window_mean(run, (33000, 40000)) - reference.window_mean(theirs, (33000, 40000)))) <= 0.15
    before, after = reference.phase_means(run, 32000)
    assert (round(100 * before, 2), round(100 * after, 2)) == (98.82, 99.59)
    assert "best test accuracy ≥ 99.65 %: **met**" in committed and "**met** (-0.09)" in committed
    readme = (REPO_ROOT / "README.md").read_text()
    assert "**99.65 %** at iteration 38,400" in readme and "(logs/reference/mnist_s300a_seed3/results.md)" in readme
    assert re.search(r"mean test accuracy 33,000–40,000 \(%\) \| 99\.60 \| 99\.69 \|", committed)
    seed1 = caffelog.run_stats(caffelog.parse(RUN))
    assert (round(100 * seed1["best_accuracy"], 2), seed1["best_iteration"]) == (99.62, 36600)
