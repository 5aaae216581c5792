"""The log parser and its writers under damage and concurrency: truncations and bit flips of
the real logs never raise and never turn a cut number into a value; two parse_log processes
writing the same outputs leave each file whole, from one of them."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from simplenet_caffe.paths import REPO_ROOT
from simplenet_caffe.runs import caffelog

from conftest import run_script

LOGS = ["cifar10_zeropad_95.32.log", "mnist_finetune_99.75.log", "bookworm_glog06_tiny_train.log",
        "cifar100_misc_caffe.log", "cifar100_misc_caffe_resumed1.log"]
SKIP = {"seconds", "segment", "lr"}     # derived columns (clock origin, stitching, lr back-fill)


def cells(run) -> dict:
    """(table, row key, column) -> value of every printed value of a parsed run."""
    out = {}
    for tname, table, key in (("train", run.train, ("iteration",)), ("test", run.test, ("iteration", "test_net"))):
        for r in table.rows:
            k = tuple(r[c] for c in key)
            for c, v in r.items():
                if c not in SKIP and c not in key:
                    out[(tname, k, c)] = v
    return out


def same(a, b) -> bool:
    return a == b or (a != a and b != b)         # NaN == NaN here


@pytest.fixture(scope="module")
def originals(caffe_logs_dir):
    return {n: ((caffe_logs_dir / n).read_bytes(), cells(caffelog.parse(caffe_logs_dir / n, year=2016)))
            for n in LOGS}


@pytest.mark.parametrize("name", LOGS)
def test_truncated_logs_give_only_true_values(originals, tmp_path, name):
    data, ref = originals[name]
    rng = random.Random(f"trunc-{name}")
    cuts = sorted(rng.sample(range(1, len(data)), 20)) + [len(data) - 1, len(data) - 2]
    # and cuts inside numbers of data lines, the case that matters
    for needle in (b"loss = ", b"accuracy = ", b"lr = "):
        i = data.find(needle, len(data) // 2)
        if i > 0:
            cuts += [i + len(needle) + 1, i + len(needle) + 3]
    p = tmp_path / name
    for cut in cuts:
        p.write_bytes(data[:cut])
        r = caffelog.parse(p, year=2016)
        for key, v in cells(r).items():
            assert key in ref and same(ref[key], v), f"cut at byte {cut}: {key} = {v!r}, the log says {ref.get(key)!r}"


@pytest.mark.parametrize("name", LOGS)
def test_bit_flipped_logs_never_raise_and_change_little(originals, tmp_path, name):
    data, ref = originals[name]
    rng = random.Random(f"flip-{name}")
    p = tmp_path / name
    for trial in range(12):
        buf = bytearray(data)
        flips = 1 + trial % 3
        for _ in range(flips):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        p.write_bytes(bytes(buf))
        runs = caffelog.parse_runs(p, year=2016)
        for run in runs:
            run.seconds_per_100_iters(), run.best_test(), run.wall_seconds, run.to_json_obj()
        r = runs[-1]
        got = cells(r)
        changed = [k for k in set(got) | set(ref) if k not in got or k not in ref or not same(got[k], ref[k])]
        # a flip damages one line (or joins/splits two): a few cells, never the whole log
        assert len(changed) <= 8 * flips or len(r.segments) != 1, (trial, sorted(changed)[:10])
        assert all(isinstance(v, float) for k, v in got.items()), trial


def test_damaged_logs_through_the_cli(originals, tmp_path):
    """A cut real log with 20 bytes overwritten: the command succeeds and writes what the clean cut
    holds, less at most the lines the 20 bytes touched (each damages one line, or joins two)."""
    data, _ = originals["cifar10_zeropad_95.32.log"]
    rng = random.Random("cli")
    for k in range(3):
        cut = rng.randrange(len(data) // 4, len(data))
        clean = tmp_path / f"clean{k}.log"
        clean.write_bytes(data[:cut])
        want = caffelog.parse(clean, year=2016)
        assert len(want.train) > 100 and len(want.test) > 10
        buf = bytearray(data[:cut])
        for _ in range(20):
            i = rng.randrange(len(buf))
            buf[i] = rng.randrange(256)
        p = tmp_path / f"bad{k}.log"
        p.write_bytes(bytes(buf))
        out = tmp_path / f"out{k}"
        cp = run_script("tools/parse_log.py", p, "-o", out, "-q", "--year", "2016")
        assert cp.returncode == 0 and cp.stderr == "", cp.stderr
        train = (out / f"bad{k}.train.csv").read_text().splitlines()[1:]
        test = (out / f"bad{k}.test.csv").read_text().splitlines()[1:]
        assert len(want.train) - 40 <= len(train) <= len(want.train), (len(train), len(want.train))
        assert len(want.test) - 40 <= len(test) <= len(want.test), (len(test), len(want.test))
        cp = run_script("tools/parse_log.py", p, "-o", out, "-q", "--format", "bvlc", "--year", "2016")
        # BVLC's layout has one column set: a damaged output name is noted, not a failure
        assert cp.returncode == 0 and all(ln.startswith("warning: ") for ln in cp.stderr.splitlines()), cp.stderr
        bvlc_train = (out / f"bad{k}.log.train").read_text().splitlines()[1:]
        assert len(want.train) - 40 <= len(bvlc_train) <= len(want.train) + 1
    p = tmp_path / "binary.log"
    p.write_bytes(bytes(range(256)) * 100)
    cp = run_script("tools/parse_log.py", p, "-o", tmp_path / "out")
    assert cp.returncode == 2 and "no Caffe training or test output" in cp.stderr and "Traceback" not in cp.stderr


def test_two_parse_log_runs_into_one_output(caffe_logs_dir, tmp_path):
    """Same --name and output folder, different logs, at the same time: each run writes its
    files under one lock (a second writer meanwhile is refused with one line), every file under
    a unique temp name, so the output is exactly one run's files, never a mix."""
    logs = {"a": caffe_logs_dir / "cifar10_zeropad_95.32.log", "b": caffe_logs_dir / "mnist_finetune_99.75.log"}
    solo = {}
    for k, log in logs.items():
        out = tmp_path / f"solo_{k}"
        cp = run_script("tools/parse_log.py", log, "-o", out, "--name", "run", "-q", "--year", "2016")
        assert cp.returncode == 0, cp.stderr
        solo[k] = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    assert set(solo["a"]) == set(solo["b"]) == {"run.train.csv", "run.test.csv", "run.json"}
    shared = tmp_path / "shared"
    for rnd in range(3):
        procs = [subprocess.Popen([sys.executable, str(REPO_ROOT / "tools" / "parse_log.py"), str(log), "-o", str(shared),
                                   "--name", "run", "-q", "--year", "2016"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for log in logs.values()]
        codes = []
        for pr in procs:
            _, err = pr.communicate(timeout=120)
            assert b"Traceback" not in err, err
            assert pr.returncode == 0 or (pr.returncode == 2 and b"is being written by" in err), err
            codes.append(pr.returncode)
        assert 0 in codes
        files = {p.name: p.read_bytes() for p in shared.iterdir()}
        assert set(files) == {"run.train.csv", "run.test.csv", "run.json", ".run.lock"}, sorted(files)  # no temp
        del files[".run.lock"]
        assert files in (solo["a"], solo["b"]), f"round {rnd}: the files mix the two runs"


def test_timestamps_that_float_would_misread(originals, tmp_path):
    """``float()`` reads "26e103744" (a flipped ".") as infinity: a damaged time field is no time."""
    data, _ = originals["bookworm_glog06_tiny_train.log"]
    text = data.decode()
    lines = text.splitlines(keepends=True)
    solving = next(i for i, ln in enumerate(lines) if "] Solving " in ln)
    for bad in ("26e103744", "26.1e3744", "2e+103744"):
        ln = lines[solving]
        assert ln[16:25] == "26.103744"
        lines2 = lines[:solving] + [ln[:16] + bad + ln[25:]] + lines[solving + 1:]
        p = tmp_path / "bad.log"
        p.write_text("".join(lines2))
        r = caffelog.parse(p)
        assert r.wall_seconds is not None and r.wall_seconds < 3600
        from simplenet_caffe.runs.caffelog import bvlc
        tables, _, _ = bvlc.bvlc_tables(p)
        assert tables["train"] and all(row["Seconds"] < 3600 for row in tables["train"])


@pytest.mark.parametrize("tool,extra", [("tools/parse_log.py", []), ("tools/parse_log.py", ["--format", "bvlc"]),
                                        ("tools/plot_log.py", ["--metric", "lr"]), ("tools/results_table.py", [])])
def test_output_folder_that_is_a_file(caffe_logs_dir, tmp_path, tool, extra):
    occupied = tmp_path / "out"
    occupied.write_text("not a folder\n")
    cp = run_script(tool, caffe_logs_dir / "mnist_finetune_99.75.log", "-o", occupied, *extra)
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    assert "error: cannot " in cp.stderr and str(occupied) in cp.stderr
    assert occupied.read_text() == "not a folder\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_nan_and_inf_in_solver_and_caffe_test_output_make_strict_json(caffe_logs_dir, tmp_path):
    text = (caffe_logs_dir / "bookworm_glog06_tiny_train.log").read_text()
    assert "\nmomentum: 0.9\n" in text
    text = text.replace("\nmomentum: 0.9\n", "\nmomentum: nan\ndelta: 1.#INF\n", 1)
    head = "I20261125 17:16:27.000000 26739 caffe.cpp:"
    text += (f"{head}281] Batch 0, accuracy = nan\n{head}286] accuracy = nan\n"
             f"{head}286] loss = inf (* 1 = inf loss)\n")
    p = tmp_path / "odd.log"
    p.write_text(text)
    cp = run_script("tools/parse_log.py", p, "-o", tmp_path / "out", "-q")
    assert cp.returncode == 0, cp.stderr
    js = json.loads((tmp_path / "out" / "odd.json").read_text())
    assert js["segments"][0]["solver"]["momentum"] is None and js["segments"][0]["solver"]["delta"] == "inf"


@pytest.mark.parametrize("fmt", ["csv", "bvlc"])
def test_a_device_is_no_log(tmp_path, fmt):
    """/dev/zero never ends: it is refused, not read."""
    cp = run_script("tools/parse_log.py", "/dev/zero", "-o", tmp_path, "--format", fmt)
    assert cp.returncode == 2 and "not a log file" in cp.stderr and "Traceback" not in cp.stderr


def test_overlong_line_is_skipped_in_pieces(originals, tmp_path):
    data, ref = originals["bookworm_glog06_tiny_train.log"]
    cut = data.index(b"\n", 5000) + 1
    p = tmp_path / "long.log"
    p.write_bytes(data[:cut] + b"I20261125 17:16:26.103744 26738 solver.cpp:289] " + b"x" * (3 << 20) + b"\n" + data[cut:])
    r = caffelog.parse(p, year=2016)
    assert cells(r) == ref
    assert len(r.warnings) == 1 and "overlong line skipped" in r.warnings[0]
