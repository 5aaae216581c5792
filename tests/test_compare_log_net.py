"""tools/compare_log_net.py: the solver and nets a real Caffe log printed vs ours, field by field.

Real logs (the authors' MNIST S300-A log, and a `caffe train` run of our S300-A made here on real
MNIST), real caffe_pb2 -- no stand-ins."""
from __future__ import annotations

import pytest

from conftest import run_script
from simplenet_caffe.paths import REPO_ROOT

AUTHORS_LOG = "mnist_slim310k_99.72.log"
S300A_SOLVER = REPO_ROOT / "solvers" / "mnist_s300a_solver.prototxt"


def _compare(*args):
    return run_script("tools/compare_log_net.py", *args)


def test_reader_keeps_the_printed_nets(caffe_logs_dir, caffe_pb2):
    from simplenet_caffe.nets import logdiff
    from simplenet_caffe.runs.caffelog import read_segments

    seg = read_segments(caffe_logs_dir / AUTHORS_LOG).segments[0]
    assert len(seg.net_texts) == 2
    solver, nets = logdiff.printed_params(seg.solver_text, seg.net_texts, AUTHORS_LOG)
    assert (solver.type, solver.base_lr, list(solver.stepvalue)) == ("Nesterov", pytest.approx(0.01),
                                                                   [32000, 48000, 54000, 74000])
    assert sorted(nets) == ["TEST", "TRAIN"]
    assert [len(nets[p].layer) for p in ("TRAIN", "TEST")] == [55, 55]
    train = {lp.name: lp for lp in nets["TRAIN"].layer}
    # printed after Caffe's upgrade: the BatchNorm layers have no param specs, and not in place
    assert len(train["bn1"].param) == 0 and list(train["bn1"].top) == ["bn1"]
    assert train["mnist"].data_param.source == "examples/mnist/mnist_train_lmdb_norm2"


def test_authors_s300a_log_matches_our_solver_and_net(caffe_logs_dir, tmp_path):
    out = tmp_path / "compare.md"
    cp = _compare(caffe_logs_dir / AUTHORS_LOG, S300A_SOLVER, "-o", out)
    assert cp.returncode == 0, cp.stderr
    assert out.read_text() == cp.stdout
    text = cp.stdout
    assert "**0 differences** in effective values" in text
    assert "TRAIN net (55 layers in the log, 55 in ours), TEST net (55 layers in the log, 55 in ours)" in text
    assert "TRAIN: 3 of 55 layers in place in the log, 33 of 55 in ours, 1 layer(s) at another position" in text
    assert "0 spec(s) in the log, 3 in ours" in text
    assert "log `examples/mnist/mnist_train_lmdb_norm2`, ours `data/mnist_norm/train_lmdb`" in text
    decayed = "Convolution weight ×13, Convolution bias ×10, Scale gamma ×10, Scale beta ×10"
    assert f"| TRAIN | {decayed} | {decayed} |" in text


@pytest.fixture(scope="module")
def own_run(tmp_path_factory, mnist_dir, caffe_pb2):
    """Our S300-A and its solver, run by the real `caffe train` for 2 iterations on 200 real MNIST
    images: (folder, solver path, net path, log path)."""
    from google.protobuf import text_format

    from _train_helpers import require_caffe
    from simplenet_caffe import caffe_env
    from simplenet_caffe.nets import netbuilder
    from simplenet_caffe.nets.experiments import EXPERIMENTS
    from simplenet_caffe.protoio import read_solver

    require_caffe()
    root = tmp_path_factory.mktemp("own_s300a")
    prep = run_script("data_prep/mnist.py", "--src", mnist_dir, "--root", root,
                      "--limit-train", 200, "--limit-test", 100)
    assert prep.returncode == 0, prep.stderr
    net = netbuilder.train_val_net(EXPERIMENTS["mnist_s300a"])
    for lp in net.layer:
        if lp.type == "Data":
            lp.data_param.source = str(root / lp.data_param.source)
    tv = root / "train_val.prototxt"
    tv.write_text(text_format.MessageToString(net))
    solver = read_solver(S300A_SOLVER)
    solver.net = str(tv)
    solver.max_iter, solver.display, solver.test_iter[:] = 2, 1, [1]
    solver.test_initialization = False
    solver.snapshot_after_train = False
    solver.snapshot_prefix = str(root / "snap")
    solver.solver_mode = caffe_pb2.SolverParameter.CPU
    sp = root / "solver.prototxt"
    sp.write_text(text_format.MessageToString(solver))
    cp = caffe_env.run_tool("caffe", "train", "--solver", sp, check=False, cwd=root)
    assert cp.returncode == 0, cp.stderr[-2000:]
    log = root / "caffe.log"
    log.write_text(cp.stderr)
    return root, sp, tv, log


def test_own_run_has_no_difference(own_run):
    root, sp, tv, log = own_run
    cp = _compare(log, sp)
    assert cp.returncode == 0, cp.stderr
    assert "**0 differences** in effective values" in cp.stdout
    # our net is in place and keeps its three BN specs; Caffe printed it as it is
    assert "TRAIN: 33 of 55 layers in place in the log, 33 of 55 in ours;" in cp.stdout
    assert "3 spec(s) in the log, 3 in ours" in cp.stdout
    assert "layer names: 0 matched pairs differ" in cp.stdout


def test_own_run_finds_planted_differences(own_run, caffe_pb2, tmp_path):
    from google.protobuf import text_format

    from simplenet_caffe.protoio import read_net, read_solver

    root, sp, tv, log = own_run
    solver = read_solver(sp)
    solver.momentum = 0.95
    solver.ClearField("type")                    # unset = SGD
    planted_solver = tmp_path / "solver.prototxt"
    planted_solver.write_text(text_format.MessageToString(solver))
    net = read_net(tv)
    conv2 = next(lp for lp in net.layer if lp.name == "conv2")
    conv2.convolution_param.weight_filler.std = 0.02
    bn = next(lp for lp in net.layer if lp.name == "bn2" and lp.include[0].phase == caffe_pb2.TRAIN)
    bn.batch_norm_param.moving_average_fraction = 0.999
    planted_net = tmp_path / "train_val.prototxt"
    planted_net.write_text(text_format.MessageToString(net))

    cp = _compare(log, planted_solver, "--net", planted_net)
    assert cp.returncode == 0, cp.stderr
    rows = [ln for ln in cp.stdout.splitlines()
            if ln.startswith("| ") and not ln.startswith(("| field", "| net")) and "Convolution weight ×" not in ln]
    assert rows == [
        '| type | "Nesterov" | "SGD" |  |',
        "| momentum | 0.9 | 0.95 |  |",
        "| TRAIN | conv2 / conv2 | Convolution | convolution_param.weight_filler.std | 0.01 | 0.02 |  |",
        "| TRAIN | bn2 / bn2 | BatchNorm | batch_norm_param.moving_average_fraction | 0.95 | 0.999 |  |",
        "| TEST | conv2 / conv2 | Convolution | convolution_param.weight_filler.std | 0.01 | 0.02 |  |",
    ]
    assert "**5 differences**" in cp.stdout


def test_log_without_the_blocks_is_refused(caffe_logs_dir, tmp_path):
    lines = (caffe_logs_dir / AUTHORS_LOG).read_text(errors="replace").splitlines()
    start = next(i for i, ln in enumerate(lines) if "Initializing solver from parameters" in ln)
    net_at = next(i for i, ln in enumerate(lines) if "Initializing net from parameters" in ln)
    for cut, message in ((start, "no 'Initializing solver from parameters:' block"),
                         (net_at, "no 'Initializing net from parameters:' block")):
        log = tmp_path / f"cut{cut}.log"
        log.write_text("\n".join(lines[:cut]) + "\n")
        cp = _compare(log, S300A_SOLVER)
        assert cp.returncode == 2
        assert message in cp.stderr
        assert len(cp.stderr.strip().splitlines()) == 1 and cp.stdout == ""


def test_missing_net_is_one_line(caffe_logs_dir, tmp_path):
    cp = _compare(caffe_logs_dir / AUTHORS_LOG, S300A_SOLVER, "--root", tmp_path)
    assert cp.returncode == 2
    assert "its net prototxt/mnist_s300a_train_val.prototxt does not exist" in cp.stderr
    assert "Traceback" not in cp.stderr


def test_separate_tops_give_our_gradients(own_run, caffe, caffe_logs_dir, caffe_pb2):
    """The authors' layout (BatchNorm, Scale, ReLU each writing a new blob, as their log prints it)
    and ours (in place; one fused pass in the default build) give the same loss and gradients
    for the same weights and batch, to float rounding."""
    import numpy as np
    from google.protobuf import text_format

    from simplenet_caffe.nets import logdiff
    from simplenet_caffe.runs.caffelog import read_segments

    root, sp, tv, log = own_run
    seg = read_segments(caffe_logs_dir / AUTHORS_LOG).segments[0]
    _, nets = logdiff.printed_params(seg.solver_text, seg.net_texts, AUTHORS_LOG)
    theirs = nets["TRAIN"]
    theirs.layer[0].data_param.source = str(root / "data" / "mnist_norm" / "train_lmdb")
    theirs_path = root / "authors_train.prototxt"
    theirs_path.write_text(text_format.MessageToString(theirs))
    a = caffe.Net(str(theirs_path), caffe.TRAIN)
    b = caffe.Net(str(tv), caffe.TRAIN)
    for name, blobs in b.params.items():
        for i, blob in enumerate(blobs):
            a.params[name][i].data[...] = blob.data
    la, lb = float(a.forward()["loss"]), float(b.forward()["loss"])
    assert np.array_equal(a.blobs["data"].data, b.blobs["data"].data)
    assert la == pytest.approx(lb, rel=1e-5)
    a.backward()
    b.backward()
    worst = 0.0
    for name, blobs in b.params.items():
        if name.startswith("bn"):
            continue
        for i, blob in enumerate(blobs):
            if name.startswith("conv") and i == 1:
                # a bias right before BatchNorm: the batch mean removes it, so its gradient is 0
                # up to rounding in both layouts
                scale = np.abs(blobs[0].diff).max()
                assert np.abs(blob.diff).max() < 1e-2 * scale and np.abs(a.params[name][i].diff).max() < 1e-2 * scale
                continue
            d = np.abs(a.params[name][i].diff - blob.diff).max() / np.abs(blob.diff).max()
            worst = max(worst, float(d))
    assert worst < 1e-4, worst
