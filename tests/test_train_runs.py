"""tools/train.py run management with the real `caffe train` on the tiny two-class net:
smoke-test overrides written to a derived solver, a failed start that can simply be rerun,
SIGTERM/SIGHUP snapshot-and-stop then --resume, damaged solverstates skipped on --resume,
only the run's own snapshots considered, live progress from the Caffe patch during training
and testing, and TensorBoard scalars read back with tensorboard's EventAccumulator."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simplenet_caffe import protoio
from simplenet_caffe.runs import caffelog, record, training

from _train_helpers import make_tiny_experiment, require_caffe, solver_copy
from conftest import run_script
from simplenet_caffe.paths import REPO_ROOT


@pytest.fixture(scope="module")
def exp(tmp_path_factory, caffe_pb2):
    require_caffe()
    return make_tiny_experiment(tmp_path_factory.mktemp("tiny_runs"), caffe_pb2, max_iters=(40,))


_solver = solver_copy


@pytest.fixture(scope="module")
def smoke(exp, tmp_path_factory):
    """One run with every smoke-test override: 15 iterations, test every 5 on 1 batch, snapshot every 5."""
    tmp = tmp_path_factory.mktemp("smoke")
    solver = _solver(exp, tmp, "smoke")
    log_dir = tmp / "logs" / "smoke"
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--max-iter", "15", "--test-interval", "5",
                    "--test-iter", "1", "--snapshot", "5")
    return tmp, solver, log_dir, cp


def test_overrides_write_the_derived_solver_and_record_it(smoke):
    tmp, solver, log_dir, cp = smoke
    assert cp.returncode == 0, cp.stderr[-2000:]
    derived = protoio.read_solver(log_dir / "solver.prototxt")
    assert (derived.max_iter, derived.test_interval, list(derived.test_iter), derived.snapshot) == (15, 5, [1], 5)
    head = (log_dir / "solver.prototxt").read_text().splitlines()[:5]
    assert head[0] == f"# Solver of run smoke, from {solver}:"
    assert "#   max_iter 15 (was 40)" in head and "#   test_iter 1 (was 2)" in head
    log = (log_dir / "caffe.log").read_text().splitlines()
    assert log[0].startswith("# simplenet-caffe: ") and f"-solver={log_dir / 'solver.prototxt'}" in log[0]
    assert log[1].startswith("# simplenet-caffe: solver ") and "max_iter 15 (was 40)" in log[1]
    run = caffelog.parse(log_dir)
    assert [r["iteration"] for r in run.test.rows] == [0, 5, 10, 15]
    assert run.segments[0].solver["max_iter"] == 15          # what Caffe itself printed
    assert sorted(p.name for p in (tmp / "snap" / "smoke").glob("*.solverstate")) == \
        ["smoke_iter_10.solverstate", "smoke_iter_15.solverstate", "smoke_iter_5.solverstate"]
    # the closing line says what is known, never None
    assert "smoke done at iteration 15, last test accuracy" in cp.stderr and "None" not in cp.stderr
    # the record: what ran, with which overrides, how it ended
    rec = record.read(log_dir)
    assert (rec.run, rec.state, rec.max_iter, rec.iterations_done) == ("smoke", "done", 15, 15)
    assert rec.overrides == {"max_iter": 15, "test_interval": 5, "test_iter": 1, "snapshot": 5}
    assert rec.solver == str(log_dir / "solver.prototxt") and rec.solver_sha256 == record.sha256_file(log_dir / "solver.prototxt")
    assert rec.source_solver == str(solver) and rec.seed == protoio.read_solver(solver).random_seed == 7
    assert [(s.start_iter, s.end_iter, s.rc, s.state) for s in rec.segments] == [(0, 15, 0, "done")]
    assert rec.segments[0].build == record.build_key() and rec.segments[0].pid > 0


def test_bad_override_is_one_line(exp, tmp_path):
    cp = run_script("tools/train.py", _solver(exp, tmp_path), "--log-dir", tmp_path / "l", "--max-iter", "0")
    assert cp.returncode == 2 and cp.stderr.count("\n") == 1 and "--max-iter must be an integer >= 1" in cp.stderr


def test_failed_start_leaves_no_trap(exp, tmp_path):
    """Caffe dies at once (a flag it rejects; a missing LMDB is refused before Caffe starts): the
    message says to rerun; the rerun needs no --overwrite."""
    log_dir = tmp_path / "logs" / "run"
    good = _solver(exp, tmp_path, "run", max_iter=10)
    cp = run_script("tools/train.py", good, "--log-dir", log_dir, "--", "-level", "no_lmdb")
    assert cp.returncode != 0
    assert "failed before its first iteration" in cp.stderr and "rerun the same command" in cp.stderr
    cp = run_script("tools/train.py", good, "--log-dir", log_dir)
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert "replacing the log of a start of run that failed before its first iteration" in cp.stderr
    assert "no_lmdb" not in (log_dir / "caffe.log").read_text()
    # a run that did start is protected
    cp = run_script("tools/train.py", good, "--log-dir", log_dir)
    assert cp.returncode == 2 and "already holds a run" in cp.stderr


def _start_long(exp, tmp_path, name, *extra):
    solver = _solver(exp, tmp_path, name, max_iter=10_000_000, snapshot=0)
    log_dir = tmp_path / "logs" / name
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "tools" / "train.py"), str(solver), "--log-dir",
                             str(log_dir), *extra], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    log = log_dir / "caffe.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and re.search(r"Iteration 100\b[^\n]*, loss", log.read_text(errors="replace")):
            return solver, log_dir, proc
        time.sleep(0.1)
    proc.kill()
    pytest.fail("caffe did not reach iteration 100")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stop_signal_snapshots_and_resumes(exp, tmp_path, sig):
    """SIGTERM (a scheduler) or SIGHUP (a closed terminal) to tools/train.py: Caffe snapshots and
    stops, the exit status is 128 + the signal, and --resume continues from that snapshot."""
    name = sig.name.lower()
    solver, log_dir, proc = _start_long(exp, tmp_path, name)
    if sig == signal.SIGHUP:          # the terminal is gone: writing progress must not kill the run
        proc.stdout.close()
        proc.stderr.close()
        time.sleep(0.5)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 128 + sig
    else:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + sig, err[-2000:]
        assert f"stopped by {sig.name}" in err and "continue with --resume" in err
    assert "Optimization stopped early" in (log_dir / "caffe.log").read_text()
    states = training.find_solverstates(log_dir)
    assert len(states) == 1
    stopped = int(states[0].name.split("_iter_")[1].split(".")[0])
    assert stopped >= 100
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--resume", "--max-iter", str(stopped + 20))
    assert cp.returncode == 0, cp.stderr[-2000:]
    run = caffelog.parse(log_dir)
    assert run.segments[1].resumed_from == str(states[0])
    assert training.find_solverstates(log_dir)[-1].name == f"{name}_iter_{stopped + 20}.solverstate"
    assert run.segments[1].finished


def test_resume_skips_a_truncated_solverstate(smoke, tmp_path):
    """The newest state is cut in half (a crash while writing): --resume warns and takes the previous one.
    States at the same prefix that the run's logs do not name are never taken."""
    import shutil

    src_tmp, solver, src_logs, cp = smoke
    assert cp.returncode == 0
    # a copy of the smoke run, so the module's run stays intact for the other tests
    shutil.copytree(src_tmp / "snap", tmp_path / "snap")
    log_dir = tmp_path / "logs" / "smoke"
    log_dir.mkdir(parents=True)
    text = (src_logs / "caffe.log").read_text().replace(str(src_tmp / "snap"), str(tmp_path / "snap"))
    (log_dir / "caffe.log").write_text(text)
    snap = tmp_path / "snap" / "smoke"
    newest = snap / "smoke_iter_15.solverstate"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    shutil.copy(snap / "smoke_iter_10.solverstate", snap / "smoke_iter_99.solverstate")   # not this run's
    sp = protoio.read_solver(solver)
    sp.snapshot_prefix = str(snap / "smoke")
    s2 = tmp_path / "smoke_solver.prototxt"
    protoio.write_text(s2, sp)
    cp = run_script("tools/train.py", s2, "--log-dir", log_dir, "--resume", "--max-iter", "20", "--test-iter", "1",
                    "--test-interval", "5")
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert f"train: warning: skipping {newest}: " in cp.stderr
    assert caffelog.parse(log_dir).segments[1].resumed_from == str(snap / "smoke_iter_10.solverstate")


def test_progress_moves_during_training_and_testing(exp, tmp_path):
    """display 0 and a 4000-batch test pass: the @@progress lines of the Caffe patch still move the
    status line, during training and inside the test pass, and stay out of the log."""
    solver = _solver(exp, tmp_path, "prog", display=0, max_iter=10000, test_interval=5000, snapshot=0)
    sp = protoio.read_solver(solver)
    sp.test_iter[:] = [4000]
    protoio.write_text(solver, sp)
    log_dir = tmp_path / "logs" / "prog"
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--progress-seconds", "0.05")
    assert cp.returncode == 0, cp.stderr[-2000:]
    lines = [ln for ln in cp.stderr.splitlines() if ln.startswith("prog: ")]
    assert any(re.search(r"iteration \d+/10000, [\d.e+]+ it/s, ETA \d+:\d\d:\d\d, loss [\d.]+", ln) for ln in lines), lines
    testing = [ln for ln in lines if re.search(r"testing batch \d+/4000 \(accuracy [\d.e+-]+, loss [\d.e+-]+ so far\)", ln)]
    assert testing, lines
    assert "@@progress" not in (log_dir / "caffe.log").read_text()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("progress/smoothed_loss")]   # display 0: no train rows, yet loss points
    assert steps and steps == sorted(steps) and steps[-1] < 10000
    assert not caffelog.parse(log_dir).warnings


def test_tensorboard_scalars_equal_the_parsed_log(smoke):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, log_dir, cp = smoke
    assert cp.returncode == 0
    events = list(log_dir.glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/smoothed_loss", "train/lr", "test/accuracy", "test/loss"} <= tags
    run = caffelog.parse(log_dir)
    for kind, table in (("train", run.train), ("test", run.test)):
        for name in ("loss", "accuracy", "lr", "smoothed_loss"):
            if f"{kind}/{name}" not in tags:
                continue
            got = [(e.step, e.value) for e in acc.Scalars(f"{kind}/{name}")]
            want = [(r["iteration"], r[name]) for r in table.rows if name in r]
            assert [s for s, _ in got] == [s for s, _ in want], (kind, name)
            assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6), (kind, name)


def test_make_reproduce_passes_name_overwrite_and_args():
    cp = subprocess.run(["make", "-n", "--no-print-directory", "reproduce", "EXP=mnist_s300a", "NAME=smoke", "OVERWRITE=1", "RESUME=1",
                         "GPU=0", "ARGS=--max-iter 100 --test-iter 4"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    cmd = " ".join(cp.stdout.replace("\\\n", " ").split())
    assert "tools/reproduce.py mnist_s300a --name smoke --resume --overwrite --gpu 0 --max-iter 100 --test-iter 4" in cmd
    cp = subprocess.run(["make", "-n", "--no-print-directory", "reproduce", "EXP=mnist_s300a", "CONTINUE=1"], cwd=REPO_ROOT, capture_output=True,
                        text=True)
    assert "tools/reproduce.py mnist_s300a --continue" in " ".join(cp.stdout.replace("\\\n", " ").split())


def test_make_demo_passes_name_overwrite_resume_and_gpu():
    for make_vars, flags in ((["GPU=0"], "--gpu 0"), (["OVERWRITE=1", "NAME=d2"], "--name d2 --overwrite"),
                             (["RESUME=1"], "--resume")):
        cp = subprocess.run(["make", "-n", "--no-print-directory", "demo", *make_vars], cwd=REPO_ROOT, capture_output=True, text=True)
        assert cp.returncode == 0, cp.stderr
        cmd = " ".join(cp.stdout.replace("\\\n", " ").split())
        assert f"tools/demo.py --dataset mnist {flags}" in cmd, cmd


def test_reproduce_closing_line_never_says_none(tmp_path):
    from simplenet_caffe.runs.pipeline import Outcome

    out = Outcome("r", tmp_path, tmp_path, 0, 1.0, None, None, None, None, [])
    assert out.summary() == "no test pass in the log, so no accuracy"
    out = Outcome("r", tmp_path, tmp_path, 0, 1.0, 0.25, 0.5, 100, None, [], {"max_iter": 200})
    assert out.summary() == "final test accuracy 0.2500, best 0.5000 at iteration 100 (overrides: max_iter 200)"
