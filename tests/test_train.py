"""tools/train.py and simplenet_caffe.runs.training with the real `caffe train` on a tiny net
(8x8 two-class LMDBs, CPU, 40-60 iterations, about a second each), and the parser on the
logs it writes, including `--resume` (stitched with no gap), Ctrl-C and `caffe test`."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from simplenet_caffe.errors import UserError
from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.runs import caffelog, training
from simplenet_caffe.paths import REPO_ROOT

from _train_helpers import make_tiny_experiment, require_caffe
from conftest import run_script


@pytest.fixture(scope="module")
def exp(tmp_path_factory, caffe_pb2):
    require_caffe()
    return make_tiny_experiment(tmp_path_factory.mktemp("tiny"), caffe_pb2, max_iters=(40, 60))


@pytest.fixture(scope="module")
def resumed_run(exp):
    """Run 0-40 with tools/train.py, then --resume, extended to 60 by an override on resume."""
    log_dir = exp["root"] / "logs" / "tiny"
    a = run_script("tools/train.py", exp["solvers"][0], "--name", "tiny", "--log-dir", log_dir)
    time.sleep(3)        # downtime between the segments, which the stitched clock must leave out
    b = run_script("tools/train.py", exp["solvers"][0], "--name", "tiny", "--log-dir", log_dir, "--resume",
                   "--max-iter", "60")
    return log_dir, a, b


def test_train_writes_log_that_parses(resumed_run, exp):
    log_dir, a, _ = resumed_run
    assert a.returncode == 0, a.stderr[-2000:]
    first = caffelog.parse(log_dir / "caffe.log")
    assert [r["iteration"] for r in first.train.rows] == [0, 10, 20, 30, 40]
    assert [r["iteration"] for r in first.test.rows] == [0, 20, 40]
    assert first.segments[0].finished and first.warnings == []
    assert first.segments[0].year_source in ("glog prefix", "file mtime")
    assert [r["lr"] for r in first.train.rows[:4]] == [0.01, 0.01, 0.01, 0.005]   # step 30, gamma 0.5
    acc = first.test.column("accuracy")
    assert np.all((acc >= 0) & (acc <= 1))
    # progress lines on stderr carry iteration, loss, test accuracy and ETA
    assert "iteration 40/40" in a.stderr and "test acc" in a.stderr and "ETA" in a.stderr
    # run "tiny" is named other than its solvers (tiny_40_solver...): it snapshots into its own folder
    assert sorted(p.name for p in (log_dir.parent.parent / "snap" / "tiny").glob("*.solverstate")) == \
           ["tiny_iter_20.solverstate", "tiny_iter_40.solverstate", "tiny_iter_60.solverstate"]
    assert not list((log_dir.parent.parent / "snap").glob("*.solverstate"))
    derived = (log_dir / "solver.prototxt").read_text()
    assert 'snapshot_prefix: "' + str(exp["root"] / "snap" / "tiny" / "tiny") + '"' in derived
    assert derived.startswith(f"# Solver of run tiny, from {exp['solvers'][0]}:\n")
    # the first segment's changes stay in the header; the resume's override is added
    assert "#   snapshot_prefix " in derived and "#   max_iter 60 (was 40)" in derived


def test_resume_continues_without_gap(resumed_run, exp):
    log_dir, _, b = resumed_run
    assert b.returncode == 0, b.stderr[-2000:]
    assert sorted(p.name for p in log_dir.glob("*.log")) == ["caffe.1.log", "caffe.log"]
    r = caffelog.parse(log_dir)
    assert r.name == "tiny"
    assert len(r.segments) == 2
    assert r.segments[1].resumed_from == str(exp["snap_prefix"].parent / "tiny" / "tiny") + "_iter_40.solverstate"
    assert [x["iteration"] for x in r.train.rows] == [0, 10, 20, 30, 40, 50, 60]
    assert [(x["iteration"], x["segment"]) for x in r.test.rows] == [(0, 0), (20, 0), (40, 1), (60, 1)]
    secs = r.train.column("seconds")
    assert np.all(np.diff(secs) >= 0)
    # no downtime counted: the stitched clock is the two segments' own time (the first up to the
    # iteration the second resumed from), at least 3 s less than the wall clock from start to end
    s0, s1 = r.segments
    own = (s0.t_last - s0.origin) + (s1.t_last - s1.origin)
    assert secs[-1] <= own + 0.01
    assert (s1.t_last - s0.origin) - secs[-1] >= 3
    # the record: two segments, the second resumed at 40 with its own override, the run done
    from simplenet_caffe.runs import record
    rec = record.read(log_dir)
    assert [(g.log, g.start_iter, g.end_iter, g.overrides, g.state) for g in rec.segments] == [
        ("caffe.log", 0, 40, {}, "done"), ("caffe.1.log", 40, 60, {"max_iter": 60}, "done")]
    assert (rec.state, rec.max_iter, rec.overrides) == ("done", 60, {"max_iter": 60})


def test_resume_needs_a_snapshot_and_refuses_overwrite(exp, tmp_path):
    # a solver whose snapshot prefix has no states yet
    from google.protobuf import text_format
    sp = protoio.read_solver(exp["solvers"][0])
    sp.snapshot_prefix = str(tmp_path / "none" / "x")
    s2 = tmp_path / "s2_solver.prototxt"
    s2.write_text(text_format.MessageToString(sp))
    cp = run_script("tools/train.py", s2, "--log-dir", tmp_path / "l2", "--resume")
    assert cp.returncode == 2 and "no .solverstate found" in cp.stderr and "Traceback" not in cp.stderr
    (tmp_path / "l3").mkdir()
    (tmp_path / "l3" / "caffe.log").write_text("I1201 10:00:00.000000 1 solver.cpp:330] Iteration 0, Testing net (#0)\n")
    cp = run_script("tools/train.py", s2, "--log-dir", tmp_path / "l3")
    assert cp.returncode == 2 and "already holds a run" in cp.stderr and "--overwrite" in cp.stderr
    cp = run_script("tools/train.py", tmp_path / "missing_solver.prototxt")
    assert cp.returncode == 2 and "no such file" in cp.stderr
    cp = run_script("tools/train.py", s2, "--resume", "--weights", "x.caffemodel", "--log-dir", tmp_path / "l4")
    assert cp.returncode == 2 and "cannot be combined" in cp.stderr


def test_caffe_failure_status_is_returned(exp, tmp_path):
    from google.protobuf import text_format
    net = tmp_path / "bad_net.prototxt"
    text = exp["net"].read_text().replace(str(exp["root"] / "train_lmdb"), str(tmp_path / "no_such_lmdb"))
    net.write_text(text)
    sp = protoio.read_solver(exp["solvers"][0])
    sp.net = str(net)
    s = tmp_path / "bad_solver.prototxt"
    s.write_text(text_format.MessageToString(sp))
    # a missing LMDB is refused before Caffe starts (runs/preflight.py) ...
    with pytest.raises(UserError, match="no_such_lmdb does not exist"):
        training.train(s, log_dir=tmp_path / "bad", show_progress=False)
    # ... what Caffe itself fails on comes back as its exit status, its message in the log
    res = training.train(exp["solvers"][0], log_dir=tmp_path / "bad", show_progress=False,
                         extra_args=["-level", "not_a_number"])
    assert res.rc not in (0, training.DIVERGED_RC) and res.state == "failed"
    assert "not_a_number" in (tmp_path / "bad" / "caffe.log").read_text()


def test_ctrl_c_snapshots_and_stops(exp, tmp_path):
    """SIGINT to tools/train.py reaches caffe (own process group), which snapshots and exits 0."""
    from google.protobuf import text_format
    sp = protoio.read_solver(exp["solvers"][0])
    sp.max_iter = 10_000_000
    sp.snapshot = 0
    sp.snapshot_prefix = str(tmp_path / "snap" / "long")
    s = tmp_path / "long_solver.prototxt"
    s.write_text(text_format.MessageToString(sp))
    log_dir = tmp_path / "logs" / "long"
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "tools" / "train.py"), str(s), "--log-dir", str(log_dir)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = log_dir / "caffe.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and re.search(r"Iteration 200\b[^\n]*, loss", log.read_text(errors="replace")):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("caffe did not reach iteration 200")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]          # 128 + SIGINT: stopped, not finished
    assert "long stopped by SIGINT at iteration" in err and "continue with --resume" in err
    text = log.read_text()
    assert "Optimization stopped early" in text
    states = list((tmp_path / "snap").glob("long_iter_*.solverstate"))
    assert len(states) == 1
    r = caffelog.parse(log_dir)
    stopped = int(states[0].name.split("_iter_")[1].split(".")[0])
    assert stopped >= 200 and r.last_iteration <= stopped
    assert training.find_solverstates(log_dir) == states


def test_caffe_test_output_parses(resumed_run, exp, tmp_path):
    """`caffe test` per-batch lines and final averages."""
    model = exp["snap_prefix"].parent / "tiny" / "tiny_iter_60.caffemodel"
    cp = caffe_env.run_tool("caffe", "test", f"-model={exp['net']}", f"-weights={model}", "-iterations=2")
    p = tmp_path / "test.log"
    p.write_text(cp.stdout + cp.stderr)
    r = caffelog.parse(p)
    assert [b["batch"] for b in r.test_batches.rows] == [0, 1]
    accs = [b["accuracy"] for b in r.test_batches.rows]
    assert r.test_result["accuracy"] == pytest.approx(np.mean(accs), abs=1e-6)
    assert r.test_result["loss"] == pytest.approx(np.mean([b["loss"] for b in r.test_batches.rows]), rel=1e-5)
    assert r.segments[0].kind == "test"
    # the same 50 test images, the same weights: the training run's last test saw the same accuracy
    final = caffelog.parse(resumed_run[0]).final_test()
    assert final["iteration"] == 60
    assert r.test_result["accuracy"] == pytest.approx(final["accuracy"], abs=1e-6)


def test_parse_log_cli_on_the_run_folder(resumed_run, tmp_path):
    log_dir = resumed_run[0]
    assert training.run_log_paths("tiny", log_dir) == [log_dir / "caffe.log", log_dir / "caffe.1.log"]
    assert training.run_log_paths("no_such_run", tmp_path / "missing") == []
    cp = run_script("tools/parse_log.py", log_dir, "-o", tmp_path)
    assert cp.returncode == 0, cp.stderr
    assert "tiny: 2 segment(s), 7 train rows, 4 test rows" in cp.stdout
    rows = (tmp_path / "tiny.test.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "20", "40", "60"]
