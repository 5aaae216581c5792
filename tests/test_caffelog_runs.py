"""The parser on a large synthetic run (bench/synth_log.py: the real CIFAR-10 log repeated as
one run), on independent runs appended to one file, and its note when a log's year is a guess."""
from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from simplenet_caffe.paths import REPO_ROOT
from simplenet_caffe.runs import caffelog

from conftest import run_script

C10 = "cifar10_zeropad_95.32.log"
GLOG = "bookworm_glog06_tiny_train.log"
MNIST = "mnist_finetune_99.75.log"


def _synth():
    spec = importlib.util.spec_from_file_location("synth_log", REPO_ROOT / "bench" / "synth_log.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_synthetic_long_run_values(caffe_logs_dir, tmp_path):
    """Five copies of the 247,400-iteration run as one 1.2M-iteration run: every value is the
    source's, shifted; nothing is lost or merged (the s/100 query is linear since issue 14)."""
    src = caffelog.parse(caffe_logs_dir / C10, year=2016)
    p = tmp_path / "long.log"
    off = 247500
    assert _synth().synthesize(caffe_logs_dir / C10, p, copies=5, offset=off) == 5
    r = caffelog.parse(p, year=2016)
    assert len(r.segments) == 1 and r.notes == []
    assert (len(r.train), len(r.test)) == (5 * 2475, 5 * 495)
    its = r.train.column("iteration")
    assert its.tolist() == [i + k * off for k in range(5) for i in src.train.column("iteration").tolist()]
    for col in ("smoothed_loss", "loss", "accuracy_training"):
        assert np.array_equal(r.train.column(col), np.tile(src.train.column(col), 5), equal_nan=True)
    assert np.array_equal(r.test.column("accuracy"), np.tile(src.test.column("accuracy"), 5))
    # copy k runs k days later: the wall time is 4 days plus the source's 13.1 h
    assert r.wall_seconds == pytest.approx(4 * 86400 + src.wall_seconds, abs=1e-6)
    secs = r.train.column("seconds")
    assert (np.diff(secs) > 0).all()
    assert r.best_test()["iteration"] == 135500 and r.best_test()["accuracy"] == 0.953201
    assert (r.final_test()["iteration"], r.final_test()["accuracy"]) == (4 * off + 247000, 0.9481)
    assert r.seconds_per_100_iters() == pytest.approx(src.seconds_per_100_iters(), abs=1e-6)
    assert len(r.warnings) == 1 and "^C" in r.warnings[0]     # the source's Ctrl-C line, once at the end


def test_fresh_run_appended_to_a_log_is_not_merged(caffe_logs_dir, tmp_path):
    one = caffelog.parse(caffe_logs_dir / GLOG)
    p = tmp_path / "twice.log"
    text = (caffe_logs_dir / GLOG).read_bytes()
    p.write_bytes(text + text)                  # the same net trained again from scratch, appended
    runs = caffelog.parse_runs(p)
    assert [r.name for r in runs] == ["twice-run1", "twice-run2"]
    for r in runs:
        assert [(x["iteration"], x["accuracy"]) for x in r.test.rows] == \
               [(x["iteration"], x["accuracy"]) for x in one.test.rows]
        assert len(r.train) == len(one.train)
    assert any("new, independent run begins here (it starts afresh at iteration 0" in n for n in runs[1].notes)
    last = caffelog.parse(p)
    assert last.name == "twice" and len(last.train) == len(one.train)
    assert last.segments[0].start_line > 300
    assert any("holds 2 independent runs; this is the last one" in n for n in last.notes)


def test_other_net_appended_is_not_merged_and_cli_writes_both(caffe_logs_dir, tmp_path):
    p = tmp_path / "mixed.log"
    p.write_bytes((caffe_logs_dir / MNIST).read_bytes() + (caffe_logs_dir / GLOG).read_bytes())
    out = tmp_path / "out"
    cp = run_script("tools/parse_log.py", p, "-o", out, "-q")
    assert cp.returncode == 0, cp.stderr
    assert "2 independent runs" in cp.stderr and "mixed-run1, mixed-run2" in cp.stderr
    a = json.loads((out / "mixed-run1.json").read_text())
    b = json.loads((out / "mixed-run2.json").read_text())
    assert a["summary"]["best_accuracy"] == 0.9975 and a["summary"]["iterations"] == 36100
    assert b["summary"]["best_accuracy"] == 1.0 and b["summary"]["iterations"] == 50
    assert not (out / "mixed.json").exists()


def test_resumed_session_in_one_file_is_one_run(caffe_logs_dir, tmp_path):
    p = tmp_path / "both.log"
    p.write_bytes((caffe_logs_dir / "cifar100_misc_caffe.log").read_bytes()
                  + (caffe_logs_dir / "cifar100_misc_caffe_resumed1.log").read_bytes())
    (r,) = caffelog.parse_runs(p, year=2016)
    assert len(r.segments) == 2 and r.last_iteration == 181900
    assert not [n for n in r.notes if "independent" in n]


def test_guessed_year_is_noted(caffe_logs_dir, tmp_path):
    p = tmp_path / "old.log"
    p.write_bytes((caffe_logs_dir / MNIST).read_bytes())
    os.utime(p, (1_700_000_000,) * 2)           # mtime in 2023
    r = caffelog.parse(p)
    assert r.notes == [f"{p}: the timestamps carry no year and there is no glog 'Log file created at' header, "
                       "so the year is a guess: 2023, from the file mtime; pass --year (year=) if the log is from "
                       "another year"]
    assert r.segments[0].meta()["started"].startswith("2023-11-01")
    assert caffelog.parse(p, year=2016).notes == []
    assert caffelog.parse(caffe_logs_dir / GLOG).notes == []          # year in every timestamp
    hdr = tmp_path / "hdr.log"
    hdr.write_bytes(b"Log file created at: 2017/11/01 19:20:00\n" + p.read_bytes())
    r = caffelog.parse(hdr)
    assert r.notes == [] and r.segments[0].year_source == "log header"
    assert r.segments[0].meta()["started"].startswith("2017-11-01")
    cp = run_script("tools/parse_log.py", p, "-o", tmp_path / "o", "-q")
    assert cp.returncode == 0 and "warning: " in cp.stderr and "year is a guess: 2023, from the file mtime" in cp.stderr
