"""simplenet_caffe.runs.caffelog on the five real Caffe logs in ../shared/data/caffe_logs, and on
variants of them (CRLF, Feb 29, New Year, two test nets, cut lines). Every expected number
below was read from the log files with grep."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from simplenet_caffe.runs import caffelog

from conftest import run_script

C10 = "cifar10_zeropad_95.32.log"
MNIST = "mnist_finetune_99.75.log"
GLOG = "bookworm_glog06_tiny_train.log"
MISC0 = "cifar100_misc_caffe.log"
MISC1 = "cifar100_misc_caffe_resumed1.log"


@pytest.fixture(scope="module")
def logs(caffe_logs_dir) -> Path:
    return caffe_logs_dir


@pytest.fixture(scope="module")
def c10(logs):
    return caffelog.parse(logs / C10)


def by_iter(table, it, **eq):
    rows = [r for r in table.rows if r["iteration"] == it and all(r.get(k) == v for k, v in eq.items())]
    assert len(rows) == 1, (it, rows)
    return rows[0]


# --- the CIFAR-10 zero-pad log (95.32) ----------------------------------------------------------

def test_cifar10_best_and_counts(c10):
    best = c10.best_test("accuracy")
    assert best["accuracy"] == 0.953201 and best["iteration"] == 135500
    assert len(c10.test) == 495                       # grep -c 'Testing net'
    assert len(c10.train) == 2475                     # grep -c '] Iteration N, loss ='
    final = c10.final_test("accuracy")
    assert (final["iteration"], final["accuracy"]) == (247000, 0.9481)
    assert c10.last_iteration == 247400
    assert {r["test_net"] for r in c10.test.rows} == {0}
    assert c10.test.columns == ["iteration", "seconds", "segment", "test_net", "lr", "accuracy", "loss"]


def test_cifar10_train_values_raw_and_smoothed(c10):
    first, last = c10.train.rows[0], c10.train.rows[-1]
    assert first == {"iteration": 0, "seconds": first["seconds"], "segment": 0, "lr": 0.1,
                     "smoothed_loss": 2.52895, "accuracy_training": 0.06, "loss": 2.52895}
    # the last display (Ctrl-C cut the lr line): smoothed and raw differ in the 6th digit
    assert last["iteration"] == 247400
    assert last["smoothed_loss"] == 0.0335015 and last["loss"] == 0.033502
    assert last["accuracy_training"] == 0.99 and "lr" not in last
    # first test row: Caffe's parser back-fills the wrong lr here; ours is 0.1
    assert by_iter(c10.test, 0)["lr"] == 0.1 and by_iter(c10.test, 0)["loss"] == 78.6029


def test_cifar10_lr_on_its_own_iteration(c10):
    assert by_iter(c10.train, 49900)["lr"] == 0.1
    assert by_iter(c10.train, 50000)["lr"] == 0.01    # "Iteration 50000, lr = 0.01" (multistep)
    assert by_iter(c10.test, 50000)["lr"] == 0.01
    assert by_iter(c10.test, 49500)["lr"] == 0.1


def test_cifar10_time_and_warnings(c10):
    # Solving at 03-10 23:44:22.733285, last display at 03-11 12:51:08.707723
    assert c10.wall_seconds == pytest.approx(13 * 3600 + 6 * 60 + 45.974438, abs=1e-5)
    assert 17.6 < c10.seconds_per_100_iters() < 17.8   # 17.7 s / 100 it on the GTX 980
    assert c10.device == "GPU 0: GeForce GTX 980"
    assert c10.train_batch_size == 100
    seg = c10.segments[0]
    assert seg.solver["test_iter"] == 400 and seg.solver["type"] == "AdaDelta"
    assert seg.solver["stepvalue"] == [50000, 95000, 253000, 295000, 320000, 370000]
    assert seg.net_name == "CIFAR10_full" and seg.lr_policy == "multistep"
    assert len(c10.warnings) == 1 and "12:5^CTerminate" in c10.warnings[0]   # the Ctrl-C-cut line
    secs = c10.train.column("seconds")
    assert (secs[1:] >= secs[:-1]).all()


# --- MNIST fine-tune (99.75), Windows exponents -----------------------------------------------

def test_mnist_finetune(logs):
    r = caffelog.parse(logs / MNIST)
    best = r.best_test()
    assert (best["iteration"], best["accuracy"]) == (6000, 0.9975)
    acc = [x["accuracy"] for x in r.test.rows]
    assert len(acc) == 61 and acc.count(0.9975) == 16
    assert (r.final_test()["iteration"], r.final_test()["accuracy"]) == (36000, 0.9973)
    assert len(r.train) == 362
    assert r.train.rows[0]["smoothed_loss"] == 4.1066e-05          # printed "4.1066e-005"
    assert r.train.rows[-1]["iteration"] == 36100 and r.train.rows[-1]["smoothed_loss"] == 1.1158e-06
    assert r.segments[0].lr_policy == "fixed"
    assert len(r.warnings) == 1 and "solver.cpp^C" in r.warnings[0]


# --- glog >= 0.5: year in the prefix, iter/s dialect ------------------------------------------

def test_glog_year_prefix_and_iter_per_s_dialect(logs):
    r = caffelog.parse(logs / GLOG)
    assert r.segments[0].year_source == "glog prefix"
    assert r.segments[0].meta()["started"] == "2026-11-25T17:16:26"
    assert [x["iteration"] for x in r.train.rows] == [0, 10, 20, 30, 40, 50]
    assert by_iter(r.train, 10)["smoothed_loss"] == 0.958797        # "Iteration 10 (172.414 iter/s, ...)"
    assert by_iter(r.train, 10)["lr"] == 0.00999251
    assert by_iter(r.train, 50)["smoothed_loss"] == 0.00928091      # the final, un-timed display
    assert [(x["iteration"], x["accuracy"]) for x in r.test.rows] == [(0, 0.085), (25, 1.0), (50, 1.0)]
    assert r.best_test()["iteration"] == 25
    assert r.device == "CPU" and r.segments[0].finished
    assert r.warnings == []


# --- the resumed CIFAR-100 pair ---------------------------------------------------------------

def test_resumed_files_alone(logs):
    a = caffelog.parse(logs / MISC0)
    assert (a.best_test()["iteration"], a.best_test()["accuracy"]) == (105000, 0.7427)
    assert len(a.test) == 127 and len(a.train) == 1268
    assert by_iter(a.train, 126700)["smoothed_loss"] == 0.00993647 and "lr" not in by_iter(a.train, 126700)
    assert len(a.warnings) == 1 and "Iteratio*** Check failure" in a.warnings[0]
    b = caffelog.parse(logs / MISC1)
    assert b.train.rows[0]["iteration"] == 126000
    assert (b.best_test()["iteration"], b.best_test()["accuracy"]) == (172000, 0.745)
    # "Train net output #0: loss = 0*** Check failure..." is skipped: no fake loss 0
    row = by_iter(b.train, 181900)
    assert row["smoothed_loss"] == 0.0122269 and "loss" not in row
    assert len(b.warnings) == 1 and "loss = 0***" in b.warnings[0]


def test_resumed_pair_stitched(logs):
    r = caffelog.parse(logs / MISC0, logs / MISC1)
    its = [x["iteration"] for x in r.train.rows]
    assert its == list(range(0, 181901, 100))                     # no duplicates, no gap
    assert len(r.train) == 1820 and len(r.test) == 182           # 1260 + 560, 126 + 56
    assert {x["segment"] for x in r.train.rows if x["iteration"] < 126000} == {0}
    assert {x["segment"] for x in r.train.rows if x["iteration"] >= 126000} == {1}
    # the later file overrides the overlap: test at 126000 is 0.7399 (resumed), not 0.7407
    assert by_iter(r.test, 126000)["accuracy"] == 0.7399
    assert (r.best_test()["iteration"], r.best_test()["accuracy"]) == (172000, 0.745)
    secs = r.train.column("seconds")
    assert (secs[1:] >= secs[:-1]).all()
    # the 30-minute downtime between the files is not counted: the join takes about one
    # display interval (~19 s) plus the resumed session's test pass (~8.6 s)
    join = by_iter(r.train, 126000)["seconds"] - by_iter(r.train, 125900)["seconds"]
    assert 15 < join < 40
    assert len(r.warnings) == 2
    assert r.name == "cifar100_misc_caffe"


def test_appended_sessions_in_one_file_equal_two_files(logs, tmp_path):
    one = tmp_path / "both.log"
    one.write_bytes((logs / MISC0).read_bytes() + (logs / MISC1).read_bytes())
    a = caffelog.parse(one)
    b = caffelog.parse(logs / MISC0, logs / MISC1)
    assert len(a.segments) == 2
    assert [(x["iteration"], x["seconds"], x.get("loss")) for x in a.train.rows] == \
           [(x["iteration"], x["seconds"], x.get("loss")) for x in b.train.rows]


# --- variants: CRLF + cmd echo, Feb 29, New Year, year argument -------------------------------

_HEAD = re.compile(r"^([IWEF])(\d{8}) (\d\d:\d\d:\d\d\.\d{6})", re.M)


def shifted(text: str, start: dt.datetime) -> str:
    """The glog log with every timestamp moved so that its first line is at `start`, written in
    the old month-day form (I0229 ...)."""
    first = None

    def sub(m):
        nonlocal first
        t = dt.datetime.strptime(m.group(2) + " " + m.group(3), "%Y%m%d %H:%M:%S.%f")
        first = first or t
        n = start + (t - first)
        return f"{m.group(1)}{n:%m%d %H:%M:%S.%f}"

    return _HEAD.sub(sub, text)


def rows_of(r):
    return [(x["iteration"], x["seconds"], x.get("smoothed_loss")) for x in r.train.rows], \
           [(x["iteration"], x["seconds"], x.get("accuracy")) for x in r.test.rows]


def test_crlf_and_shell_echo(logs, tmp_path):
    src = (logs / GLOG).read_text()
    p = tmp_path / "win.log"
    p.write_bytes(("\r\nC:\\caffe>caffe.exe train --solver=s.prototxt \r\n" + src).replace("\n", "\r\n").encode())
    assert rows_of(caffelog.parse(p)) == rows_of(caffelog.parse(logs / GLOG))
    assert caffelog.parse(p).warnings == []


@pytest.mark.parametrize("start", [dt.datetime(2024, 2, 29, 23, 59, 59, 900000),    # leap day, into March 1
                                   dt.datetime(2016, 12, 31, 23, 59, 59, 950000)])  # New Year rollover
def test_leap_day_and_year_rollover(logs, tmp_path, start):
    ref = caffelog.parse(logs / GLOG)
    p = tmp_path / "old.log"
    p.write_text(shifted((logs / GLOG).read_text(), start))
    os.utime(p, (dt.datetime(2026, 6, 1).timestamp(),) * 2)        # mtime in a non-leap year
    r = caffelog.parse(p)                                         # Caffe's parser raises here
    tr, te = rows_of(r)
    rtr, rte = rows_of(ref)
    assert [x[0] for x in tr] == [x[0] for x in rtr] and [x[2] for x in tr] == [x[2] for x in rtr]
    assert [x[1] for x in tr] == pytest.approx([x[1] for x in rtr], abs=2e-6)
    assert [x[1] for x in te] == pytest.approx([x[1] for x in rte], abs=2e-6)
    assert r.segments[0].year_source == "file mtime"
    if start.month == 2:
        assert r.segments[0].meta()["started"].startswith("2024-02-29")
    r2 = caffelog.parse(p, year=start.year)
    assert r2.segments[0].meta()["started"].startswith(f"{start.year}-{start.month:02d}-{start.day:02d}")
    assert [x[0] for x in rows_of(r2)[0]] == [x[0] for x in tr]


# --- several test nets, cut lines, caffe test output ------------------------------------------

def test_two_test_nets_kept_apart(logs, tmp_path):
    lines = (logs / GLOG).read_text().splitlines()
    out = []
    for ln in lines:
        out.append(ln)
        m = re.search(r"Iteration (\d+), Testing net \(#0\)", ln)
        if m:
            block_start = len(out)
        if "Test net output #1" in ln:
            head = ln.split("]")[0]
            it = int(re.search(r"Iteration (\d+), Testing", out[block_start - 1]).group(1))
            out += [f"{head}] Iteration {it}, Testing net (#1)",
                    f"{head}]     Test net output #0: accuracy = 0.{it + 11}",
                    f"{head}]     Test net output #1: loss = 9.5 (* 1 = 9.5 loss)"]
    p = tmp_path / "two.log"
    p.write_text("\n".join(out) + "\n")
    r = caffelog.parse(p)
    assert [(x["iteration"], x["test_net"], x["accuracy"]) for x in r.test.rows] == \
           [(0, 0, 0.085), (0, 1, 0.11), (25, 0, 1.0), (25, 1, 0.36), (50, 0, 1.0), (50, 1, 0.61)]
    assert r.best_test(net=1)["iteration"] == 50 and r.best_test(net=0)["iteration"] == 25


def test_truncated_numbers_are_never_values(logs, tmp_path):
    text = (logs / GLOG).read_text()
    text = text.replace("Test net output #0: accuracy = 1\n", "Test net output #0: accuracy = 1*** Check failure stack trace: ***\n", 1)
    text = text.replace("Iteration 30, lr = 0.00997756", "Iteration 30, lr = 0.0099^C")
    p = tmp_path / "cut.log"
    # and the file ends inside the last line (no newline): its value is not trusted
    p.write_text(text[:text.index("loss = 0.00943214 (* 1") + len("loss = 0.0094")])
    r = caffelog.parse(p)
    assert by_iter(r.test, 25).get("accuracy") is None and by_iter(r.test, 25)["loss"] == 0.0795915
    assert "lr" not in by_iter(r.train, 30)
    assert by_iter(r.test, 50)["accuracy"] == 1.0 and "loss" not in by_iter(r.test, 50)
    assert len(r.warnings) == 3
    assert all(re.search(r"cut\.log:\d+: ", w) for w in r.warnings)


# --- the command line ------------------------------------------------------------------------

def test_parse_log_cli_writes_csv_and_json(logs, tmp_path):
    cp = run_script("tools/parse_log.py", logs / MISC0, logs / MISC1, "-o", tmp_path, "-q")
    assert cp.returncode == 0, cp.stderr
    train = (tmp_path / "cifar100_misc_caffe.train.csv").read_text().splitlines()
    test = (tmp_path / "cifar100_misc_caffe.test.csv").read_text().splitlines()
    assert train[0] == "iteration,seconds,segment,lr,smoothed_loss,loss"
    assert test[0] == "iteration,seconds,segment,test_net,lr,accuracy,loss"
    assert len(train) == 1 + 1820 and len(test) == 1 + 182
    assert train[1].startswith("0,9.214554,0,0.1,4.67389,4.67389")
    assert test[-1].split(",")[0] == "181000" and test[-1].split(",")[5] == "0.7424"
    js = json.loads((tmp_path / "cifar100_misc_caffe.json").read_text())
    assert js["summary"]["best_accuracy"] == 0.745 and len(js["segments"]) == 2 and len(js["warnings"]) == 2
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # no temp of write_atomic left


def test_parse_log_cli_bvlc_log_dir_form(logs, tmp_path):
    """BVLC's `parse_log.py LOG DIR`: a last folder with no logs in it is the output folder, in
    either format; a folder that is missing, or given beside -o, is one error line."""
    out = tmp_path / "out"
    out.mkdir()
    cp = run_script("tools/parse_log.py", logs / MISC0, out, "-q")
    assert cp.returncode == 0, cp.stderr
    assert len((out / "cifar100_misc_caffe.train.csv").read_text().splitlines()) > 100
    cp = run_script("tools/parse_log.py", logs / MISC0, out, "--format", "bvlc", "-q")
    assert cp.returncode == 0, cp.stderr
    assert (out / f"{MISC0}.train").read_text().startswith("NumIters,Seconds,LearningRate,loss")
    for args, msg in ([tmp_path / "nonexistent"], "(to write into it, give -o DIR)"), ([out, "-o", tmp_path], "drop one"):
        cp = run_script("tools/parse_log.py", logs / MISC0, *args)
        assert cp.returncode == 2 and msg in cp.stderr and len(cp.stderr.strip().splitlines()) == 1, cp.stderr


def test_parse_log_cli_bad_input(tmp_path):
    cp = run_script("tools/parse_log.py", tmp_path / "missing.log")
    assert cp.returncode == 2 and "error: no such file" in cp.stderr and "Traceback" not in cp.stderr
    empty = tmp_path / "empty.log"
    empty.write_text("hello\n")
    cp = run_script("tools/parse_log.py", empty, "-o", tmp_path)
    assert cp.returncode == 2 and "no Caffe training or test output" in cp.stderr
    assert not list(tmp_path.glob("*.csv"))
    cp = run_script("tools/parse_log.py", "--help")
    assert cp.returncode == 0 and "--year" in cp.stdout
