"""tools/parse_log.py --format bvlc against BVLC Caffe's own tools/extra/parse_log.py, run on
the real logs: the files must be identical byte for byte, except where BVLC's tool records a
number cut by a crash (docs/logs.md). BVLC's script comes from the Caffe source tarball that
make setup fetched; its one Python-2-only line (a print statement) is ported, nothing else."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from simplenet_caffe import caffe_env
from simplenet_caffe.runs.caffelog import bvlc

from conftest import need, run_script

LOGS = ["cifar10_zeropad_95.32.log", "mnist_finetune_99.75.log", "cifar100_misc_caffe.log",
        "cifar100_misc_caffe_resumed1.log"]


def _tarball() -> Path | None:
    cands = [os.environ.get("CAFFE_SOURCE_TARBALL")]
    prefix = caffe_env.caffe_prefix()
    cache = Path(os.environ.get("CAFFE_CACHE") or (prefix.parent if prefix else
                 Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "simplenet-caffe"))
    cands += sorted(glob.glob(str(cache / "src" / "caffe_*.orig.tar.gz")))
    return next((Path(c) for c in cands if c and Path(c).is_file()), None)


@pytest.fixture(scope="module")
def bvlc_tool(tmp_path_factory) -> Path:
    tb = _tarball()
    need(tb is not None, "the Caffe source tarball make setup fetches (~/.cache/simplenet-caffe/src) is absent")
    d = tmp_path_factory.mktemp("bvlc")
    with tarfile.open(tb) as tar:
        for m in tar.getmembers():
            if m.name.endswith(("tools/extra/parse_log.py", "tools/extra/extract_seconds.py")):
                (d / Path(m.name).name).write_bytes(tar.extractfile(m).read())
    src = (d / "parse_log.py").read_text()
    old = "print 'Wrote %s' % output_filename"
    assert src.count(old) == 1, "BVLC's parse_log.py is not the version these tests port"
    (d / "parse_log.py").write_text(src.replace(old, "print('Wrote %s' % output_filename)"))
    return d / "parse_log.py"


@pytest.mark.parametrize("name", LOGS)
def test_bvlc_format_matches_bvlc_parse_log_byte_for_byte(bvlc_tool, caffe_logs_dir, tmp_path, name):
    ref, ours = tmp_path / "ref", tmp_path / "ours"
    ref.mkdir()
    cp = subprocess.run([sys.executable, str(bvlc_tool), str(caffe_logs_dir / name), str(ref)],
                        capture_output=True, text=True, cwd=bvlc_tool.parent)
    assert cp.returncode == 0, cp.stderr
    cp = run_script("tools/parse_log.py", caffe_logs_dir / name, "--format", "bvlc", "-o", ours, "-q")
    assert cp.returncode == 0, cp.stderr
    assert sorted(p.name for p in ours.iterdir()) == [f".{name}.lock", f"{name}.test", f"{name}.train"]
    for suffix in ("train", "test"):
        a = (ref / f"{name}.{suffix}").read_bytes()
        b = (ours / f"{name}.{suffix}").read_bytes()
        if name == "cifar100_misc_caffe_resumed1.log" and suffix == "train":
            # its last line is "Train net output #0: loss = 0*** Check failure stack trace ***":
            # BVLC writes a row with loss 0.0 from the cut number; that row is the only difference
            assert a.endswith(b"\r\n181900.0,11352.057752,0.001,0.0\r\n")
            a = a[: -len(b"181900.0,11352.057752,0.001,0.0\r\n")]
        assert a == b, f"{name}.{suffix} differs from BVLC's"


def test_bvlc_format_values(caffe_logs_dir):
    tables, warnings, notes = bvlc.bvlc_tables(caffe_logs_dir / "cifar10_zeropad_95.32.log")
    train, test = tables["train"], tables["test"]
    assert list(train[0]) == ["NumIters", "Seconds", "LearningRate", "accuracy_training", "loss"]
    # BVLC's lr lag: the iteration-50000 row carries the lr printed at 49900 (0.1), not 0.01
    row = next(r for r in train if r["NumIters"] == 50000.0)
    assert row["LearningRate"] == 0.1
    assert next(r for r in train if r["NumIters"] == 50100.0)["LearningRate"] == 0.01
    assert (len(train), len(test)) == (2475, 495)
    assert test[0] == {"NumIters": 0.0, "Seconds": 6.173479, "LearningRate": 0.1, "accuracy": 0.1, "loss": 78.6029}
    assert len(warnings) == 1 and notes and "year is a guess" in notes[0]


def test_bvlc_format_reads_what_bvlc_cannot(caffe_logs_dir, tmp_path):
    # glog >= 0.5 writes the year into every line: BVLC's tool raises ValueError; ours reads it
    cp = run_script("tools/parse_log.py", caffe_logs_dir / "bookworm_glog06_tiny_train.log", "--format", "bvlc",
                    "-o", tmp_path)
    assert cp.returncode == 0, cp.stderr
    lines = (tmp_path / "bookworm_glog06_tiny_train.log.test").read_bytes().split(b"\r\n")
    assert lines[0] == b"NumIters,Seconds,LearningRate,accuracy,loss"
    assert [ln.split(b",")[0] for ln in lines[1:-1]] == [b"0.0", b"25.0", b"50.0"]
    assert "guess" not in cp.stderr       # the year is in the timestamps: nothing guessed
    cp = run_script("tools/parse_log.py", caffe_logs_dir / "bookworm_glog06_tiny_train.log", "--format", "bvlc",
                    "--separate")
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
