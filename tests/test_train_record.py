"""The run lifecycle on the real `caffe train` (tiny two-class net): the run record, resume with
the run's own schedule, extending by an override, one writer per run, divergence caught, the
results table and the run list over good, failed and diverged runs."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simplenet_caffe import protoio
from simplenet_caffe.paths import REPO_ROOT
from simplenet_caffe.runs import caffelog, record, runlist, training

from _train_helpers import make_tiny_experiment, require_caffe, solver_copy
from conftest import run_script


@pytest.fixture(scope="module")
def exp(tmp_path_factory, caffe_pb2):
    require_caffe()
    return make_tiny_experiment(tmp_path_factory.mktemp("tiny_record"), caffe_pb2, max_iters=(40,))


_solver = solver_copy


def _popen_train(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "tools" / "train.py"), *map(str, args)], cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(pred, proc, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc.poll() is not None:
            pytest.fail(f"tools/train.py ended (status {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _caffe_pid(log_dir: Path) -> int:
    """The pid of the one caffe process training the run in `log_dir`."""
    pids = subprocess.run(["pgrep", "-f", f"solver={log_dir}/solver.prototxt"], capture_output=True,
                          text=True).stdout.split()
    assert len(pids) == 1, pids
    return int(pids[0])


def _logged_iteration(log: Path, it: int) -> bool:
    return log.exists() and re.search(rf"\] Iteration {it}\b[^\n]*, loss", log.read_text(errors="replace")) is not None


def test_interrupt_resume_without_overrides_then_extend(exp, tmp_path):
    """The acceptance scenario: a smoke run (overrides) interrupted, resumed WITHOUT repeating the
    overrides (it must keep its own max_iter, not the solver file's), then extended by a third
    segment; every test row once, no missing iterations, the true final row in the results table."""
    solver = _solver(exp, tmp_path, "smoke", max_iter=40)
    log_dir = tmp_path / "logs" / "smoke"
    proc = _popen_train(solver, "--log-dir", log_dir, "--max-iter", "3000", "--test-interval", "100",
                        "--snapshot", "0", "--seed", "3")
    _wait_for(lambda: _logged_iteration(log_dir / "caffe.log", 200), proc, "iteration 200")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
    rec = record.read(log_dir)
    assert rec.state == "stopped" and rec.segments[0].signal == "SIGINT"
    stopped = rec.iterations_done
    assert 200 <= stopped < 3000
    # resume without the overrides: the run's own schedule (max_iter 3000), not the file's 40
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--resume", "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    rec = record.read(log_dir)
    assert (rec.state, rec.max_iter, rec.iterations_done) == ("done", 3000, 3000)
    assert rec.overrides == {"max_iter": 3000, "test_interval": 100, "snapshot": 0, "random_seed": 3}
    assert rec.seed == 3 and protoio.read_solver(log_dir / "solver.prototxt").random_seed == 3
    assert rec.segments[1].start_iter == stopped and rec.segments[1].overrides == {}
    # extend by another segment
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--resume", "--max-iter", "3300",
                    "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    rec = record.read(log_dir)
    assert [(s.start_iter, s.end_iter, s.state) for s in rec.segments] == [
        (0, stopped, "stopped"), (stopped, 3000, "done"), (3000, 3300, "done")]
    assert rec.segments[2].overrides == {"max_iter": 3300} and rec.max_iter == 3300
    run = caffelog.parse(log_dir)
    assert run.warnings == [] and not any("missing" in n for n in run.notes)
    assert [r["iteration"] for r in run.test.rows] == list(range(0, 3301, 100))
    assert run.test.rows[-1]["segment"] == 2
    # parse_log says what it warned about: nothing
    cp = run_script("tools/parse_log.py", log_dir, "-o", tmp_path / "parsed")
    assert cp.returncode == 0 and "0 warning(s)" in cp.stdout + cp.stderr and "missing" not in cp.stderr
    cp = run_script("tools/results_table.py", log_dir, "-o", tmp_path / "table")
    assert cp.returncode == 0, cp.stderr
    row = next(ln for ln in cp.stdout.splitlines() if ln.startswith("| smoke"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    final = run.test.rows[-1]
    assert cells[4:7] == [f"{100 * final['accuracy']:.2f}", "3,300", "3,300"]


def test_a_row_at_the_resume_iteration_survives(exp, tmp_path):
    """A run done at 40 (its closing test at 40) extended to 50 with tests every 15: the new
    segment does not test at 40 again, and the row logged there must be kept, once."""
    solver = _solver(exp, tmp_path, "keep", max_iter=40, test_interval=20, snapshot=0)
    log_dir = tmp_path / "logs" / "keep"
    assert run_script("tools/train.py", solver, "--log-dir", log_dir, "--no-progress").returncode == 0
    assert [r["iteration"] for r in caffelog.parse(log_dir).test.rows] == [0, 20, 40]
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--resume", "--max-iter", "50",
                    "--test-interval", "15", "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    run = caffelog.parse(log_dir)
    assert [(r["iteration"], r["segment"]) for r in run.test.rows] == [(0, 0), (20, 0), (40, 0), (45, 1)]
    assert run.warnings == []
    assert caffelog.run_stats(run)["final_iteration"] == 45


def test_nan_base_lr_is_refused_and_a_diverging_run_is_caught(exp, tmp_path):
    solver = _solver(exp, tmp_path, "nan", base_lr=float("nan"))
    cp = run_script("tools/train.py", solver, "--log-dir", tmp_path / "logs" / "nan")
    assert cp.returncode == 2 and "base_lr is nan" in cp.stderr and cp.stderr.count("\n") == 1
    cp = run_script("tools/train.py", _solver(exp, tmp_path, "ok"), "--log-dir", tmp_path / "logs" / "x",
                    "--base-lr", "inf")
    assert cp.returncode == 2 and "--base-lr must be a finite number > 0" in cp.stderr
    # a huge learning rate: the weights overflow and the loss becomes NaN; Caffe is stopped, the run marked diverged
    solver = _solver(exp, tmp_path, "boom", max_iter=2000, test_interval=10, snapshot=0)
    log_dir = tmp_path / "logs" / "boom"
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--base-lr", "1e30", "--no-progress")
    assert cp.returncode == training.DIVERGED_RC, cp.stderr[-2000:]
    line = next(ln for ln in cp.stderr.splitlines() if "diverged" in ln)
    assert re.search(r"boom diverged: (train|test) \S*loss\S* (nan|inf|-inf) at iteration \d+", line)
    rec = record.read(log_dir)
    assert rec.state == "diverged" and rec.segments[0].state == "diverged"
    assert not list((tmp_path / "snap" / "boom").glob("*")), "no snapshot of the diverged weights"
    run = caffelog.parse(log_dir)
    assert run.diverged_iteration is not None and run.diverged_iteration < 2000
    stats = caffelog.run_stats(run)
    assert stats["final_iteration"] is None or stats["final_iteration"] < run.diverged_iteration
    # the table flags it; the run list says diverged and shows no final accuracy
    cp = run_script("tools/results_table.py", log_dir, "-o", tmp_path / "t")
    assert "diverged @ iter" in cp.stdout or cp.returncode == 2
    row = runlist.run_row(log_dir, log_dir.parent)
    assert row.state == "diverged" and row.diverged_iteration == run.diverged_iteration
    text = runlist.format_table([row])
    assert re.search(r"^boom\s+diverged@\d+", text.splitlines()[1])
    # --continue does not restart a diverged run
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--continue")
    assert cp.returncode == 2 and "diverged" in cp.stderr


def test_one_writer_per_run(exp, tmp_path):
    """While a segment runs: a second start, --resume and --overwrite are refused naming the
    holder, and the live run's log survives; after it stops, --continue resumes it."""
    solver = _solver(exp, tmp_path, "live", max_iter=10_000_000, snapshot=0)
    log_dir = tmp_path / "logs" / "live"
    proc = _popen_train(solver, "--log-dir", log_dir)
    _wait_for(lambda: _logged_iteration(log_dir / "caffe.log", 20), proc, "iteration 20")
    assert record.read(log_dir).state == "running"
    holder = record.live_holder(log_dir)
    assert holder is not None and holder.startswith(f"pid {proc.pid} ")
    for extra in ([], ["--resume"], ["--overwrite"], ["--continue"]):
        cp = run_script("tools/train.py", solver, "--log-dir", log_dir, *extra)
        assert cp.returncode == 2, (extra, cp.stderr)
        assert f"run live is being trained by pid {proc.pid} on " in cp.stderr and cp.stderr.count("\n") == 1
    assert (log_dir / "caffe.log").is_file() and (log_dir / "solver.prototxt").is_file()
    assert runlist.run_row(log_dir, log_dir.parent).state == "running"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert record.read(log_dir).state == "stopped" and record.live_holder(log_dir) is None
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--continue", "--max-iter",
                    str(record.read(log_dir).iterations_done + 10), "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    rec = record.read(log_dir)
    assert rec.state == "done" and len(rec.segments) == 2 and rec.segments[1].resumed_from
    # --continue of a done run does nothing
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--continue")
    assert cp.returncode == 0 and "is done" in cp.stderr and len(record.read(log_dir).segments) == 2


def test_a_signal_to_caffe_itself_is_a_stop_not_done(exp, tmp_path):
    """SIGINT sent to the caffe process alone (not to tools/train.py): Caffe snapshots, logs
    "Optimization stopped early." and then "Optimization Done." and exits 0. That is a stopped run:
    status 130, no "done" line, and --continue goes on from the snapshot."""
    solver = _solver(exp, tmp_path, "direct", max_iter=10_000_000, snapshot=0)
    log_dir = tmp_path / "logs" / "direct"
    proc = _popen_train(solver, "--log-dir", log_dir)
    _wait_for(lambda: _logged_iteration(log_dir / "caffe.log", 20), proc, "iteration 20")
    subprocess.run(["kill", "-INT", str(_caffe_pid(log_dir))], check=True)
    _, err = proc.communicate(timeout=120)
    text = (log_dir / "caffe.log").read_text(errors="replace")
    assert "Optimization stopped early" in text and "Optimization Done" in text
    assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
    assert "stopped by a signal sent to caffe at iteration" in err and " done at " not in err
    rec = record.read(log_dir)
    assert rec.state == "stopped" and rec.segments[0].rc == 0 and rec.segments[0].signal is None
    run = caffelog.parse(log_dir)
    assert run.segments[0].stopped_early and not run.segments[0].finished
    assert runlist.run_row(log_dir, log_dir.parent).state == "stopped"
    stopped = rec.iterations_done
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--continue", "--max-iter", str(stopped + 10),
                    "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    rec = record.read(log_dir)
    assert rec.state == "done" and rec.segments[1].start_iter == stopped and rec.iterations_done == stopped + 10


def test_a_killed_segment_reads_as_stopped_and_continuing_closes_it(exp, tmp_path):
    """kill -9 of the trainer after its snapshot at 10: while its Caffe lives on (here: stopped
    with SIGSTOP), the run is still held, named by both pids, and --continue is refused; once
    Caffe is gone too the record still says running, but nobody holds the lock, so it reads as
    stopped; --continue goes on from the snapshot and closes the first segment as killed at the
    last iteration its log reached (a display line or a snapshot)."""
    solver = _solver(exp, tmp_path, "killed", max_iter=10_000_000, snapshot=10)
    log_dir = tmp_path / "logs" / "killed"
    proc = _popen_train(solver, "--log-dir", log_dir)
    _wait_for(lambda: _logged_iteration(log_dir / "caffe.log", 20), proc, "iteration 20")
    caffe_pid = _caffe_pid(log_dir)
    os.kill(caffe_pid, signal.SIGSTOP)
    proc.kill()
    proc.wait()
    holder = record.live_holder(log_dir)
    assert holder is not None and holder.startswith(f"pid {proc.pid} ") and holder.endswith(f"(caffe pid {caffe_pid})")
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--continue", "--no-progress")
    assert cp.returncode == 2 and f"(caffe pid {caffe_pid}); wait for it to finish" in cp.stderr, cp.stderr
    os.kill(caffe_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while record.live_holder(log_dir) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    rec = record.read(log_dir)
    assert rec.state == "running" and record.effective_state(rec, log_dir) == "stopped"
    killed = caffelog.parse(log_dir).segments[0]
    # Caffe snapshots at N before it prints "Iteration N, loss"; a kill between the two leaves a
    # log whose last reached iteration is the snapshot's, so that counts too.
    logged = max(i for i, _, _ in killed.snapshots)
    last = max(killed.last_iteration, logged)
    # A kill during the snapshot at N (logged first, then written and fsynced) leaves no
    # N.solverstate (they are written atomically): the resume takes the newest one the log names
    # that exists.
    snapped = max(i for i, p, _ in killed.snapshots if p.endswith(".solverstate") and (REPO_ROOT / p).is_file())
    assert last >= 20 and snapped >= 10 and snapped in (logged, logged - 10)
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--continue", "--max-iter", str(last + 5),
                    "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    rec = record.read(log_dir)
    first, second = rec.segments
    assert first.state == "killed" and first.end_iter == last and first.rc is None and first.ended
    assert second.state == "done" and second.start_iter == snapped and rec.state == "done"


def test_a_resume_off_a_whole_pass_notes_the_batch_order(exp, tmp_path):
    """The tiny LMDB holds 200 records, batch 20: one pass is 10 iterations. Resuming at 15 reads
    the LMDB from its first record again, so the batches differ from an uninterrupted run's: a note
    says so and how to avoid it; resuming at 10 (a whole pass) says nothing, and its weights 5
    iterations on are byte for byte an uninterrupted run's (at 15 they are not)."""
    for name, stop, note in (("off", 15, True), ("whole", 10, False)):
        straight = _solver(exp, tmp_path, f"{name}_straight", max_iter=stop + 5, snapshot=stop + 5)
        assert run_script("tools/train.py", straight, "--log-dir", tmp_path / "logs" / f"{name}_straight",
                          "--no-progress").returncode == 0
        solver = _solver(exp, tmp_path, name, max_iter=stop, snapshot=stop)
        log_dir = tmp_path / "logs" / name
        assert run_script("tools/train.py", solver, "--log-dir", log_dir, "--no-progress").returncode == 0
        cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--resume", "--max-iter", str(stop + 5),
                        "--no-progress")
        assert cp.returncode == 0, cp.stderr[-2000:]
        said = [l for l in cp.stderr.splitlines() if l.startswith("train: note: resuming at iteration")]
        assert said == ([f"train: note: resuming at iteration {stop}: Caffe's Data layer reads {exp['root'] / 'train_lmdb'} "
                         "from its first record again, so the training batches from here differ from an "
                         "uninterrupted run's; resuming at a multiple of 10 iterations (one pass) keeps them"]
                        if note else []), cp.stderr[-2000:]
        resumed, uninterrupted = (tmp_path / "snap" / n / f"{n}_iter_{stop + 5}.caffemodel"
                                  for n in (name, f"{name}_straight"))
        assert (resumed.read_bytes() == uninterrupted.read_bytes()) is not note


def test_failed_runs_among_good_ones_are_skipped(exp, tmp_path):
    good = tmp_path / "logs" / "good"
    assert run_script("tools/train.py", _solver(exp, tmp_path, "good"), "--log-dir", good,
                      "--no-progress").returncode == 0
    failed = tmp_path / "logs" / "failed"
    # Caffe fails at once (a flag it rejects; a missing LMDB would be refused before Caffe starts)
    cp = run_script("tools/train.py", _solver(exp, tmp_path, "failed"), "--log-dir", failed, "--", "-level", "bad")
    assert cp.returncode not in (0, 2)
    assert record.read(failed).state == "failed"
    (tmp_path / "logs" / "empty").mkdir()
    cp = run_script("tools/results_table.py", good, failed, "-o", tmp_path / "t")
    assert cp.returncode == 0, cp.stderr
    assert f"note: skipped {failed}: " in cp.stderr and "| good" in cp.stdout
    cp = run_script("tools/plot_log.py", good, failed, "-o", tmp_path / "p")
    assert cp.returncode == 0, cp.stderr
    assert f"note: skipped {failed}: " in cp.stderr and (tmp_path / "p").is_dir()
    cp = run_script("tools/results_table.py", failed, "-o", tmp_path / "t2")
    assert cp.returncode == 2 and "none of the 1 run(s)" in cp.stderr
    # the run list: both runs, their states, the paper column empty for a non-experiment
    cp = run_script("tools/runs.py", tmp_path / "logs", "--json")
    assert cp.returncode == 0, cp.stderr
    rows = {r["run"]: r for r in json.loads(cp.stdout)}
    assert rows["good"]["state"] == "done" and rows["good"]["iterations"] == 40 == rows["good"]["max_iter"]
    assert rows["good"]["final_accuracy"] == caffelog.parse(good).final_test()["accuracy"]
    assert rows["failed"]["state"] == "failed" and "empty" not in rows
    cp = run_script("tools/runs.py", tmp_path / "logs")
    assert re.search(r"^good\s+done\s+–\s+40/40\s+", cp.stdout, re.M), cp.stdout


def test_a_run_from_before_records_resumes_with_its_own_solver(exp, tmp_path):
    """A run whose folder has logs and a derived solver but no run.json (made before records):
    --resume takes its schedule from logs/<run>/solver.prototxt's header and writes a record."""
    solver = _solver(exp, tmp_path, "old", max_iter=40, snapshot=10)
    log_dir = tmp_path / "logs" / "old"
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--max-iter", "20", "--no-progress")
    assert cp.returncode == 0
    record.record_path(log_dir).unlink()
    text = (log_dir / "solver.prototxt").read_text()
    (log_dir / "solver.prototxt").write_text(text.replace("max_iter: 20", "max_iter: 30")
                                             .replace("#   max_iter 20 (was 40)", "#   max_iter 30 (was 40)"))
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--resume", "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    rec = record.read(log_dir)
    assert rec.max_iter == 30 and rec.overrides == {"max_iter": 30} and rec.iterations_done == 30
    assert [(s.log, s.start_iter, s.end_iter) for s in rec.segments] == [("caffe.log", 0, 20), ("caffe.1.log", 20, 30)]


def test_overrides_on_the_command_line(exp, tmp_path):
    cp = run_script("tools/train.py", _solver(exp, tmp_path, "o"), "--log-dir", tmp_path / "logs" / "o",
                    "--batch-size", "5", "--stepvalues", "10,20", "--max-iter", "10", "--no-progress")
    assert cp.returncode == 2 and "--stepvalues needs lr_policy multistep" in cp.stderr
    solver = _solver(exp, tmp_path, "b")
    log_dir = tmp_path / "logs" / "b"
    cp = run_script("tools/train.py", solver, "--log-dir", log_dir, "--batch-size", "5", "--max-iter", "10",
                    "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    own = protoio.read_solver(log_dir / "solver.prototxt")
    net = protoio.read_net(REPO_ROOT / own.net if not Path(own.net).is_absolute() else own.net)
    batches = {lp.name + str([r.phase for r in lp.include]): lp.data_param.batch_size for lp in net.layer
               if lp.type == "Data"}
    assert sorted(batches.values()) == [5, 25] or 5 in batches.values()
    run = caffelog.parse(log_dir)
    assert run.train_batch_size == 5
    assert record.read(log_dir).overrides == {"batch_size": 5, "max_iter": 10}
    cp = run_script("tools/train.py", solver, "--log-dir", tmp_path / "logs" / "c", "--stepvalues", "20,10")
    assert cp.returncode == 2 and "increasing integers" in cp.stderr
    cp = run_script("tools/train.py", solver, "--log-dir", tmp_path / "logs" / "c", "--seed", "x")
    assert cp.returncode == 2 and "--seed" in cp.stderr and "Traceback" not in cp.stderr


def test_the_runs_own_solver_can_be_the_one_given(exp, tmp_path):
    """`tools/train.py logs/<run>/solver.prototxt --overwrite`: the file being run is not deleted."""
    log_dir = tmp_path / "logs" / "own"
    solver = _solver(exp, tmp_path, "own", max_iter=10)
    assert run_script("tools/train.py", solver, "--log-dir", log_dir, "--no-progress").returncode == 0
    own = log_dir / "solver.prototxt"
    cp = run_script("tools/train.py", own, "--name", "own", "--log-dir", log_dir, "--overwrite", "--max-iter", "20",
                    "--no-progress")
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert protoio.read_solver(own).max_iter == 20
    rec = record.read(log_dir)
    assert rec.state == "done" and rec.iterations_done == 20 and len(rec.segments) == 1
