"""Caffe's snapshots and aborts (issue 20, principles 6 and 7; issue 22, the used-by line).

* Snapshots are atomic (setup/patches/0015): a full disk (a real tmpfs) during a snapshot leaves
  the earlier snapshots as they were, no partial or temp file, and one fatal line that says the
  disk is full; the snapshot prefix's folder is created by Caffe itself.
* The used-by line ``caffe train -solver solvers/cifar10_solver.prototxt`` runs verbatim from a
  scratch copy of the repo after a small CIFAR-10 data prep, without a mkdir.
* What ``caffe train`` would CHECK-fail on is refused before it starts, in one line
  (simplenet_caffe/runs/preflight.py): a missing or empty data LMDB, ``--weights`` of another
  net, a solver type changed on resume.
* Caffe's fatal line is read in both glog date formats.

Everything runs the real ``caffe`` binary and pycaffe on real LMDBs.
"""
from __future__ import annotations

import errno
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from google.protobuf import text_format

from _data_helpers import make_cifar
from _train_helpers import make_tiny_experiment, require_caffe, tiny_solver
from conftest import PY, need, run_script, tmpfs
from simplenet_caffe import caffe_env
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import REPO_ROOT


def _caffe_train(solver: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(caffe_env.caffe_tool("caffe")), "train", f"-solver={solver}", *extra],
                          cwd=cwd, env=caffe_env.tool_env(), capture_output=True, text=True)


def _write_solver(path: Path, pb2, net: Path, prefix: str, max_iter: int, **fields) -> Path:
    sp = tiny_solver(pb2, str(net), prefix, max_iter, snapshot=20, test_interval=1000)
    for k, v in fields.items():
        setattr(sp, k, v)
    path.write_text(text_format.MessageToString(sp))
    return path


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs (root only: CI runs as root); yields its mount point."""
    yield from tmpfs(tmp_path / "mnt", "2m")


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 16, 4096, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    return filler


# ---------------------------------------------------------------------------- snapshot patch

def test_caffe_creates_the_snapshot_folder_and_leaves_no_temp_files(tmp_path, caffe_pb2):
    require_caffe()
    exp = make_tiny_experiment(tmp_path / "exp", caffe_pb2)
    solver = _write_solver(tmp_path / "s.prototxt", caffe_pb2, exp["net"], "deep/er/folder/tiny", 40)
    r = _caffe_train(solver, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    files = sorted(p.name for p in (tmp_path / "deep/er/folder").iterdir())
    assert files == ["tiny_iter_20.caffemodel", "tiny_iter_20.solverstate",
                     "tiny_iter_40.caffemodel", "tiny_iter_40.solverstate"], files
    # the solverstate names its caffemodel, which is complete: pycaffe loads it
    st = caffe_pb2.SolverState()
    st.ParseFromString((tmp_path / "deep/er/folder/tiny_iter_40.solverstate").read_bytes())
    assert st.iter == 40 and st.learned_net == "deep/er/folder/tiny_iter_40.caffemodel"
    model = caffe_pb2.NetParameter()
    model.ParseFromString((tmp_path / st.learned_net).read_bytes())
    assert [lp.name for lp in model.layer if lp.blobs] == ["conv1", "ip1"]


def test_hdf5_snapshots_are_written_through_a_temp_file_too(tmp_path, caffe_pb2):
    require_caffe()
    exp = make_tiny_experiment(tmp_path / "exp", caffe_pb2)
    solver = _write_solver(tmp_path / "s.prototxt", caffe_pb2, exp["net"], "h5/tiny", 20,
                           snapshot_format=caffe_pb2.SolverParameter.HDF5)
    r = _caffe_train(solver, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "h5").iterdir()) == ["tiny_iter_20.caffemodel.h5",
                                                                    "tiny_iter_20.solverstate.h5"]
    import h5py
    with h5py.File(tmp_path / "h5/tiny_iter_20.solverstate.h5", "r") as f:
        assert f["iter"][()].tolist() in (20, [20]) and len(f["history"]) == 4


def _snapshot_20_on(fs: Path, tmp_path: Path, pb2) -> dict:
    """The tiny experiment trained 20 iterations by `caffe train`, snapshotting into ``fs``/snap."""
    require_caffe()
    exp = make_tiny_experiment(tmp_path / "exp", pb2)
    exp["s20"] = _write_solver(tmp_path / "s20.prototxt", pb2, exp["net"], str(fs / "snap/tiny"), 20)
    r = _caffe_train(exp["s20"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    return exp


def test_full_disk_during_a_snapshot_keeps_the_earlier_ones(tmp_path, caffe_pb2, small_fs):
    fs = small_fs
    exp = _snapshot_20_on(fs, tmp_path, caffe_pb2)
    snap = fs / "snap"
    before = {p.name: p.read_bytes() for p in snap.iterdir()}
    assert sorted(before) == ["tiny_iter_20.caffemodel", "tiny_iter_20.solverstate"]
    _fill(fs)
    s40 = _write_solver(tmp_path / "s40.prototxt", caffe_pb2, exp["net"], str(fs / "snap/tiny"), 40)
    r = _caffe_train(s40, tmp_path, f"-snapshot={snap / 'tiny_iter_20.solverstate'}")
    assert r.returncode != 0
    why = caffe_env.fatal_message(r.stderr)
    assert why is not None and why.startswith(f"Snapshot not written: {snap}/tiny_iter_40.caffemodel: "
                                              "No space left on device (the disk is full"), r.stderr[-2000:]
    assert "earlier snapshots are intact" in why
    # nothing half-written: the iteration-40 files and their temp files do not exist
    assert {p.name: p.read_bytes() for p in snap.iterdir()} == before


def test_full_disk_between_caffemodel_and_solverstate(tmp_path, caffe_pb2, small_fs):
    """The solverstate is written after its caffemodel: when the disk fills in between, the new
    caffemodel is complete and no solverstate names a missing or partial file."""
    fs = small_fs
    solver = _snapshot_20_on(fs, tmp_path, caffe_pb2)["s20"]
    model_size = (fs / "snap/tiny_iter_20.caffemodel").stat().st_size
    for p in (fs / "snap").iterdir():
        p.unlink()
    filler = _fill(fs)
    # free exactly one page: the caffemodel (under 4096 bytes) fits in it, the solverstate then does not
    assert model_size < 4096
    with open(filler, "r+b") as f:
        f.truncate(filler.stat().st_size - 4096)
    r = _caffe_train(solver, tmp_path)
    assert r.returncode != 0
    why = caffe_env.fatal_message(r.stderr) or ""
    assert why.startswith(f"Snapshot not written: {fs}/snap/tiny_iter_20.solverstate: No space left"), \
        r.stderr[-2000:]
    assert sorted(p.name for p in (fs / "snap").iterdir()) == ["tiny_iter_20.caffemodel"]
    model = caffe_pb2.NetParameter()
    model.ParseFromString((fs / "snap/tiny_iter_20.caffemodel").read_bytes())
    assert (fs / "snap/tiny_iter_20.caffemodel").stat().st_size == model_size


# ---------------------------------------------------------------------------- the used-by line

USED_BY = "caffe train -solver solvers/cifar10_solver.prototxt"


def _scratch_repo(dst: Path) -> Path:
    """The repo's tracked files (what a fresh checkout has) copied to ``dst``."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    names = [n for n in out.decode().split("\0") if n]
    need(bool(names), "not a git checkout: cannot make a fresh copy of the repo")
    for n in names:
        src = REPO_ROOT / n
        if src.is_file():
            (dst / n).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / n)
    return dst


def test_used_by_line_runs_verbatim_after_the_data_prep(tmp_path):
    require_caffe()
    repo = _scratch_repo(tmp_path / "repo")
    assert not (repo / "snapshots").exists() and not (repo / "data").exists()
    make_cifar(tmp_path / "cifar", "cifar10", "python", n_per_file=10)
    # the copy's own code (PYTHONPATH first), with this Caffe build
    env = dict(caffe_env.tool_env(), PATH=f"{caffe_env.caffe_tool('caffe').parent}:{os.environ['PATH']}",
               PYTHONPATH=str(repo), CAFFE_ROOT=str(caffe_env.caffe_prefix()))
    r = subprocess.run([PY, "data_prep/cifar.py", "--dataset", "cifar10", "--setup", "zeropad", "--src",
                        str(tmp_path / "cifar"), "--no-download"], cwd=repo, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (repo / "data" / "cifar10_zeropad" / "train_lmdb" / "data.mdb").is_file(), r.stderr
    # the line exactly as README writes it, from the repo root, `caffe` found on PATH
    assert USED_BY in (REPO_ROOT / "README.md").read_text()
    proc = subprocess.Popen(shlex.split(USED_BY), cwd=repo, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "Solving " in line:    # the solver (and its snapshot-prefix check) is set up
                proc.send_signal(signal.SIGINT)    # Caffe's -sigint_effect stop: it stops cleanly
                break
        lines += proc.stderr.readlines()
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines)
    assert "Cannot write to snapshot prefix" not in text
    assert rc == 0, text[-3000:]
    assert "Optimization stopped early" in text or "Optimization Done" in text, text[-3000:]
    assert (repo / "snapshots" / "cifar10").is_dir()


# ---------------------------------------------------------------------------- pre-flight checks

def _train(solver: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return run_script("tools/train.py", solver, "--log-dir", tmp / "logs", "--no-progress", *args)


def _one_line(r: subprocess.CompletedProcess) -> str:
    err = r.stderr.strip()
    assert r.returncode == 2, (r.returncode, err[-2000:])
    assert "Traceback" not in err and "Check failure" not in err, err[-2000:]
    lines = [l for l in err.splitlines() if l.startswith(("train:", "error:")) or "error" in l.lower()]
    assert lines, err
    return err.splitlines()[-1]


def test_preflight_missing_and_empty_lmdb(tmp_path, caffe_pb2):
    require_caffe()
    from simplenet_caffe.protoio import read_solver
    from simplenet_caffe.runs.preflight import check_sources, check_train

    exp = make_tiny_experiment(tmp_path / "exp", caffe_pb2)
    solver = exp["solvers"][0]
    shutil.rmtree(exp["root"] / "test_lmdb")
    with pytest.raises(UserError) as e:
        check_train(read_solver(solver), exp["net"], tmp_path, [], None)
    assert f"layer 'data': LMDB {exp['root'] / 'test_lmdb'} does not exist" in str(e.value)
    # a solver that never tests does not open the TEST source
    sp = read_solver(solver)
    del sp.test_iter[:]
    check_train(sp, exp["net"], tmp_path, [], None)
    import lmdb
    lmdb.open(str(exp["root"] / "test_lmdb")).close()      # an LMDB without records
    with pytest.raises(UserError, match="test_lmdb holds no records"):
        check_train(read_solver(solver), exp["net"], tmp_path, [], None)
    # a known layout's LMDB: the message gives the command that prepares it
    net = caffe_pb2.NetParameter()
    text_format.Parse(exp["net"].read_text(), net)
    net.layer[0].data_param.source = "data/cifar10_zeropad/train_lmdb"
    with pytest.raises(UserError) as e:
        check_sources(net, "net", tmp_path, ("TRAIN",))
    assert "data/cifar10_zeropad/train_lmdb does not exist (prepare it with: python data_prep/cifar.py " \
           "--dataset cifar10 --setup zeropad)" in str(e.value)


def test_train_refuses_a_missing_lmdb_before_caffe_starts(tmp_path, caffe_pb2):
    require_caffe()
    exp = make_tiny_experiment(tmp_path / "exp", caffe_pb2)
    shutil.rmtree(exp["root"] / "train_lmdb")
    r = _train(exp["solvers"][0], tmp_path)
    line = _one_line(r)
    assert f"LMDB {exp['root'] / 'train_lmdb'} does not exist" in line, line
    assert not list((tmp_path / "logs").glob("caffe*.log"))   # Caffe never ran


def test_train_refuses_weights_of_another_net(tmp_path, caffe_pb2, caffe):
    require_caffe()
    exp = make_tiny_experiment(tmp_path / "exp", caffe_pb2)
    other = caffe_pb2.NetParameter()
    text_format.Parse(exp["net"].read_text(), other)
    next(lp for lp in other.layer if lp.name == "conv1").convolution_param.num_output = 6
    (tmp_path / "other.prototxt").write_text(text_format.MessageToString(other))
    # the other net's weights, as a short real training writes them
    sp = tiny_solver(caffe_pb2, str(tmp_path / "other.prototxt"), str(tmp_path / "o/other"), 20, snapshot=20)
    (tmp_path / "o.prototxt").write_text(text_format.MessageToString(sp))
    assert _caffe_train(tmp_path / "o.prototxt", tmp_path).returncode == 0
    r = _train(exp["solvers"][0], tmp_path, "--weights", tmp_path / "o/other_iter_20.caffemodel")
    line = _one_line(r)
    assert "blob shapes differ in 2 layer(s): conv1 (net [(4, 1, 3, 3), (4,)], file [(6, 1, 3, 3), (6,)]); " \
           "ip1" in line, line
    assert "rename those layers" in line
    # a caffemodel with no layer of this net at all
    renamed = caffe_pb2.NetParameter()
    renamed.ParseFromString((tmp_path / "o/other_iter_20.caffemodel").read_bytes())
    for lp in renamed.layer:
        lp.name = "x_" + lp.name
    (tmp_path / "renamed.caffemodel").write_bytes(renamed.SerializeToString())
    r = _train(exp["solvers"][0], tmp_path, "--weights", tmp_path / "renamed.caffemodel")
    assert "has weights for none of the 2 layers with parameters" in _one_line(r)


def test_train_refuses_a_solver_type_changed_on_resume(tmp_path, caffe_pb2):
    """Run b trains with Adam; resuming it from run a's SGD solverstate would make Caffe abort
    ("Incorrect length of history blobs"): refused before Caffe starts, saying why."""
    require_caffe()
    exp = make_tiny_experiment(tmp_path / "exp", caffe_pb2, max_iters=(20,))
    r = _train(exp["solvers"][0], tmp_path / "a")
    assert r.returncode == 0, r.stderr[-2000:]
    sgd_state = exp["root"] / "snap" / "tiny_iter_20.solverstate"
    assert sgd_state.is_file()
    sp = caffe_pb2.SolverParameter()
    text_format.Parse(exp["solvers"][0].read_text(), sp)
    sp.type, sp.snapshot_prefix = "Adam", str(exp["root"] / "adam" / "tiny")
    adam = exp["root"] / "tiny_adam_solver.prototxt"
    adam.write_text(text_format.MessageToString(sp))
    r = _train(adam, tmp_path / "b")
    assert r.returncode == 0, r.stderr[-2000:]
    r = _train(adam, tmp_path / "b", "--resume", sgd_state)
    line = _one_line(r)
    assert f"{sgd_state} was written by a solver of type SGD, Nesterov, AdaGrad or RMSProp (1 history blob(s) per " \
           "parameter), but the solver now says type 'Adam': resume with the solver type the run was trained with" \
           in line, line
    # its own Adam state resumes
    r = _train(adam, tmp_path / "b", "--resume", "--max-iter", "40")
    assert r.returncode == 0, r.stderr[-2000:]


# ---------------------------------------------------------------------------- Caffe's fatal line

@pytest.mark.parametrize("head", ["F1204 10:11:12.123456  4242 net.cpp:123]",
                                  "F20261204 10:11:12.123456  4242 net.cpp:123]",
                                  "F20261204 10:11:12.123456 4242 net.cpp:123]"])
def test_fatal_line_in_both_glog_formats(head):
    out = (f"I1204 10:11:11.000000  4242 net.cpp:50] Setting up\n{head} Check failed: a == b (1 vs. 2) "
           f"Cannot copy param\n*** Check failure stack trace: ***\n    @     0x7f caffe::Net::Init()\n")
    assert caffe_env.fatal_message(out) == "Check failed: a == b (1 vs. 2) Cannot copy param"
    assert caffe_env.fatal_message("*** Check failure stack trace: ***\n") is None


def test_trial_build_shows_the_fatal_line(tmp_path, caffe_pb2):
    require_caffe()
    from simplenet_caffe.protoio import trial_build

    net = caffe_pb2.NetParameter(name="bad")
    inp = net.layer.add(name="in", type="Input", top=["data"])
    inp.input_param.shape.add(dim=[1, 3, 4, 4])
    c = net.layer.add(name="conv", type="Convolution", bottom=["data"], top=["c"])
    c.convolution_param.num_output = 2
    c.convolution_param.kernel_size.append(9)    # larger than the padded input: Caffe CHECK-fails
    (tmp_path / "bad.prototxt").write_text(text_format.MessageToString(net))
    with pytest.raises(UserError) as e:
        trial_build(tmp_path / "bad.prototxt")
    msg = str(e.value)
    assert "Caffe cannot build this net" in msg and "stack trace" not in msg, msg
    assert "Check failed" in msg, msg
