"""Damaged model files (prototxt, solver, caffemodel) end in one line and exit 2, never in a
Caffe CHECK abort, a crash or a traceback (issue 14, Deliver 2, the model-file side).

The files are real: the committed S300-A demo net and solver, and a caffemodel pycaffe writes
for that net. Damage is seeded: truncations at many lengths and single bit flips.
"""
from __future__ import annotations

import random
import shutil

import pytest

from conftest import run_script
from simplenet_caffe import protoio
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "prototxt" / "mnist_s300a_demo_deploy.prototxt"
TRAIN_VAL = REPO_ROOT / "prototxt" / "mnist_s300a_demo_train_val.prototxt"
SOLVER = REPO_ROOT / "solvers" / "mnist_s300a_demo_solver.prototxt"


@pytest.fixture(scope="module")
def caffemodel(tmp_path_factory, caffe):
    path = tmp_path_factory.mktemp("model") / "s300a.caffemodel"
    caffe.Net(str(DEPLOY), caffe.TEST).save(str(path))
    return path


def _damaged(data: bytes, seed: int, n_trunc: int, n_flip: int):
    """(name, bytes): ``n_trunc`` truncations (incl. empty and one byte short) and ``n_flip``
    single-bit flips at seeded positions."""
    r = random.Random(seed)
    cuts = sorted({0, 1, len(data) - 1, *(r.randrange(len(data)) for _ in range(n_trunc - 3))})
    for c in cuts:
        yield f"trunc{c}", data[:c]
    for _ in range(n_flip):
        i, bit = r.randrange(len(data)), 1 << r.randrange(8)
        yield f"flip{i}.{bit}", data[:i] + bytes([data[i] ^ bit]) + data[i + 1:]


def _one_line(e: UserError) -> str:
    msg = str(e)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    return msg


def test_text_errors_name_file_and_line(tmp_path, caffe):
    text = DEPLOY.read_text()
    cases = {
        "latin1.prototxt": (text.encode().replace(b'name: "conv1"', b'name: "conv1\xe9"'), r":\d+: not UTF-8 text \(byte 0xE9\)"),
        "nul.prototxt": (b"name: 'x'\nlayer {\x00}\n", r"nul.prototxt:2: a NUL byte"),
        "syntax.prototxt": (text.replace("num_output: 10", "num_output: ten").encode(), r"syntax.prototxt:\d+:\d+: not a valid"),
        "field.prototxt": (text.replace("kernel_size: 3", "kernel_sise: 3", 1).encode(), r"field.prototxt:\d+:\d+: .*kernel_sise"),
        "type.prototxt": (text.replace('type: "ReLU"', 'type: "Relu"', 1).encode(), r"has type 'Relu', which this Caffe does not have"),
        "bottom.prototxt": (text.replace('bottom: "conv1"', 'bottom: "conv_one"', 1).encode(), r"reads blob 'conv_one'"),
    }
    for name, (data, pattern) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError, match=pattern) as e:
            protoio.read_net(tmp_path / name, for_caffe=True)
        _one_line(e.value)
    # the line number is the damaged line's
    bad = text.splitlines()
    line = next(i for i, s in enumerate(bad) if "num_output" in s)
    bad[line] = "  num_output: ten"
    (tmp_path / "ln.prototxt").write_text("\n".join(bad))
    with pytest.raises(UserError, match=rf"ln.prototxt:{line + 1}:"):
        protoio.read_net(tmp_path / "ln.prototxt")


def test_solver_checks_for_caffe(tmp_path, caffe):
    text = SOLVER.read_text()
    for name, new, pattern in [("nonet", text.replace("prototxt/mnist_s300a_demo_train_val.prototxt", "prototxt/nope.prototxt"),
                                r"its net prototxt/nope.prototxt does not exist"),
                               ("type", text.replace('type: "Nesterov"', 'type: "Nesterow"'), r"solver type 'Nesterow'"),
                               ("policy", text.replace('lr_policy: "poly"', 'lr_policy: "polynomial"'), r"lr_policy 'polynomial'")]:
        assert new != text, name
        (tmp_path / f"{name}.prototxt").write_text(new)
        with pytest.raises(UserError, match=pattern) as e:
            protoio.read_solver(tmp_path / f"{name}.prototxt", net_root=REPO_ROOT)
        _one_line(e.value)
    assert protoio.read_solver(SOLVER, net_root=REPO_ROOT).max_iter > 0


def test_caffemodel_truncated_random_or_inconsistent(tmp_path, caffemodel, caffe_pb2):
    data = caffemodel.read_bytes()
    (tmp_path / "random.caffemodel").write_bytes(random.Random(3).randbytes(5000))
    (tmp_path / "half.caffemodel").write_bytes(data[: len(data) // 2])
    model = protoio.read_caffemodel(caffemodel)
    del model.layer[1].blobs[0].data[-1]                 # one float short of its shape
    (tmp_path / "short.caffemodel").write_bytes(model.SerializeToString())
    for name, pattern in [("random", "not a valid Caffe .caffemodel|holds no layers|damaged"),
                          ("half", "not a valid Caffe .caffemodel|damaged"), ("short", r"values for shape .*damaged file")]:
        with pytest.raises(UserError, match=pattern) as e:
            protoio.read_caffemodel(tmp_path / f"{name}.caffemodel")
        _one_line(e.value)


def test_fuzz_prototxt_and_solver(tmp_path, caffe):
    """Every damaged copy of the real net and solver is refused in one line or parses; a net
    the checks accept is then built by Caffe without an abort (checked for a sample)."""
    accepted = []
    for src, read in [(DEPLOY, lambda p: protoio.read_net(p, for_caffe=True)),
                      (TRAIN_VAL, lambda p: protoio.read_net(p, for_caffe=True)),
                      (SOLVER, lambda p: protoio.read_solver(p, net_root=REPO_ROOT))]:
        refused = 0
        for name, data in _damaged(src.read_bytes(), seed=len(src.name), n_trunc=40, n_flip=60):
            p = tmp_path / f"{src.stem}.{name}.prototxt"
            p.write_bytes(data)
            try:
                read(p)
            except UserError as e:
                _one_line(e)
                refused += 1
            else:
                if src == DEPLOY:
                    accepted.append(p)
        assert refused >= 20, (src.name, refused)         # the damage is real, not all cosmetic
    assert len(accepted) >= 6
    for p in accepted[::max(1, len(accepted) // 6)][:6]:   # Caffe itself, in a child: never an abort
        protoio.trial_build(p, "TEST")


def test_fuzz_caffemodel(tmp_path, caffemodel):
    """Truncated or bit-flipped caffemodels: one line, or a model whose blobs fit their shapes
    and that Caffe loads into the net without an abort (checked for a sample)."""
    accepted, refused = [], 0
    for name, data in _damaged(caffemodel.read_bytes(), seed=7, n_trunc=40, n_flip=40):
        p = tmp_path / f"{name}.caffemodel"
        p.write_bytes(data)
        try:
            protoio.read_caffemodel(p)
        except UserError as e:
            _one_line(e)
            refused += 1
        else:
            accepted.append(p)
    assert refused >= 39                  # every truncation but the empty... all of them, in fact
    for p in accepted[:4]:
        protoio.trial_build(DEPLOY, "TEST", weights=p)


def test_trial_build_turns_a_caffe_check_into_one_line(tmp_path, caffe):
    # kernel larger than the padded input: passes every static check, Caffe CHECK-fails
    text = DEPLOY.read_text().replace("kernel_size: 3", "kernel_size: 99", 1)
    (tmp_path / "big.prototxt").write_text(text)
    protoio.read_net(tmp_path / "big.prototxt", for_caffe=True)
    with pytest.raises(UserError, match=r"big.prototxt: Caffe cannot build this net \((status|signal) \d+\): .+") as e:
        protoio.trial_build(tmp_path / "big.prototxt", "TEST")
    _one_line(e.value)


@pytest.mark.parametrize("damage", ["garbage", "type", "weights"])
def test_evaluate_with_damaged_model_files_exits_2_with_one_line(tmp_path, caffemodel, damage):
    net, weights = tmp_path / "net.prototxt", tmp_path / "w.caffemodel"
    shutil.copy(DEPLOY, net)
    shutil.copy(caffemodel, weights)
    if damage == "garbage":
        net.write_bytes(random.Random(1).randbytes(3000))
    elif damage == "type":
        net.write_text(DEPLOY.read_text().replace('type: "Pooling"', 'type: "MaxPool"', 1))
    else:
        weights.write_bytes(caffemodel.read_bytes()[:-100])
    import cv2
    import numpy as np
    cv2.imwrite(str(tmp_path / "x.png"), np.full((28, 28), 128, np.uint8))
    cp = run_script("tools/classify.py", "--model", net, "--weights", weights, tmp_path / "x.png")
    assert cp.returncode == 2, (cp.returncode, cp.stderr[-2000:])
    lines = [ln for ln in cp.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in cp.stderr, cp.stderr


def test_train_with_a_solver_whose_net_is_missing_exits_2(tmp_path):
    solver = tmp_path / "s.prototxt"
    solver.write_text(SOLVER.read_text().replace("mnist_s300a_demo_train_val", "missing_net"))
    cp = run_script("tools/train.py", solver, "--log-dir", tmp_path / "log")
    assert cp.returncode == 2, (cp.returncode, cp.stderr[-2000:])
    assert "does not exist" in cp.stderr and "Traceback" not in cp.stderr
    assert len([ln for ln in cp.stderr.splitlines() if ln.strip()]) == 1, cp.stderr
    assert not (tmp_path / "log").exists()
