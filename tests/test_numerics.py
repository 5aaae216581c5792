"""Issue 7: a faster Caffe build must compute what stock Caffe computes.

A small fixed net (3x3 and 1x1 convs, BatchNorm with batch statistics + Scale, ReLU, Dropout
with a fixed Caffe seed and stock's mask generator (``engine: CAFFE`` where the build has the
choice), max pooling, InnerProduct, SoftmaxWithLoss; big enough that the OpenMP paths of the
speed patch, setup/patches/0008, run) gets fixed weights and inputs, one forward and one
backward pass in TRAIN phase. Its outputs, loss, data gradient and parameter gradients are
compared with tests/fixtures/numerics_stock.npz, written by the STOCK build (Debian
OpenBLAS, no speed patch) with ``python tests/test_numerics.py --write-fixture``.
Tolerance: float32 reassociation (a different BLAS or summation order), not a different formula.
The same test covers the mkl/openmp builds and the oneDNN build (setup's DNN=onednn), whose
convolutions run through oneDNN.
Run it against another build with SIMPLENET_VENV=<that venv> <that venv>/bin/python -m pytest ...
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from simplenet_caffe.gpu.bundle import fill_fixed_weights, net_arrays  # shared with the GPU check's numerics case

FIXTURE = Path(__file__).parent / "fixtures" / "numerics_stock.npz"
BATCH, CHW = 8, (3, 16, 16)


def stock_dropout_mask(caffe) -> dict:
    """Dropout parameters that draw stock Caffe's mask: the speed patch's default mask generator
    (setup/patches/0017) draws other masks, so the comparison with the stock fixture asks for
    stock's Mersenne Twister stream (``engine: CAFFE``) where the build has the choice."""
    from simplenet_caffe.caffe_env import caffe_pb2
    if "engine" in caffe_pb2().DropoutParameter.DESCRIPTOR.fields_by_name:
        return {"engine": caffe_pb2().DropoutParameter.CAFFE}
    return {}


def build_net(caffe, tmp: Path):
    from caffe import layers as L, params as P
    n = caffe.NetSpec()
    n.data, n.label = L.Input(shape=[dict(dim=[BATCH, *CHW]), dict(dim=[BATCH])], ntop=2)
    bot = n.data
    for name, c, k in (("conv1", 32, 3), ("conv2", 32, 3), ("cccp1", 48, 1)):
        setattr(n, name, L.Convolution(bot, num_output=c, kernel_size=k, pad=k // 2))
        bot = getattr(n, name)
        if name != "cccp1":
            setattr(n, "bn" + name, L.BatchNorm(bot, in_place=True, moving_average_fraction=0.95))
            setattr(n, "scale" + name, L.Scale(bot, in_place=True, bias_term=True))
        setattr(n, "relu" + name, L.ReLU(bot, in_place=True))
        if name == "conv1":
            n.drop1 = L.Dropout(bot, in_place=True, dropout_ratio=0.2, **stock_dropout_mask(caffe))
        if name == "conv2":
            n.pool2 = L.Pooling(bot, pool=P.Pooling.MAX, kernel_size=2, stride=2)
            bot = n.pool2
    n.ip1 = L.InnerProduct(bot, num_output=10)
    n.loss = L.SoftmaxWithLoss(n.ip1, n.label)
    proto = n.to_proto()
    proto.force_backward = True
    path = tmp / "numerics.prototxt"
    path.write_text(str(proto))
    return caffe.Net(str(path), caffe.TRAIN)


def run_net(caffe, tmp: Path, forward_split: str | None = None,
            backward_split: str | None = None) -> dict[str, np.ndarray]:
    """Outputs of one fixed forward/backward pass, keyed for the fixture. ``forward_split`` /
    ``backward_split`` name a layer where the pass is cut into two pycaffe calls (each layer still
    runs once), as a user stepping through the net would."""
    caffe.set_mode_cpu()
    caffe.set_random_seed(1701)
    net = build_net(caffe, tmp)
    rng = np.random.RandomState(7)
    fill_fixed_weights(net, rng)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].data.shape)
    net.blobs["label"].data[...] = rng.randint(0, 10, BATCH)
    if forward_split:
        names = list(net._layer_names)
        net.forward(end=names[names.index(forward_split) - 1])
        loss = net.forward(start=forward_split)["loss"]
    else:
        loss = net.forward()["loss"]
    out = {"loss": np.array(loss), "ip1": net.blobs["ip1"].data.copy()}
    if backward_split:
        names = list(net._layer_names)
        net.backward(end=backward_split)
        net.backward(start=names[names.index(backward_split) - 1])
    else:
        net.backward()
    out["data_diff"] = net.blobs["data"].diff.copy()
    for name, blobs in net.params.items():
        if name.startswith("bn"):
            out[f"{name}_mean"] = blobs[0].data.copy()
            out[f"{name}_var"] = blobs[1].data.copy()
        else:
            for i, b in enumerate(blobs):
                out[f"{name}_{i}_diff"] = b.diff.copy()
    return out


def test_same_numbers_as_stock_caffe(caffe, tmp_path):
    assert FIXTURE.is_file(), "tests/fixtures/numerics_stock.npz missing"
    want = dict(np.load(FIXTURE))
    got = run_net(caffe, tmp_path)
    assert sorted(got) == sorted(want)
    assert 0.5 < float(want["loss"]) < 10  # the fixture is a real pass, not zeros
    for k in want:
        assert got[k].shape == want[k].shape, k
        # Floor 1e-3: a conv bias before BatchNorm has a gradient that is zero in exact
        # arithmetic; Caffe stores rounding noise (~1e-8) there, which any reordering changes.
        scale = max(float(np.abs(want[k]).max()), 1e-3)
        err = float(np.abs(got[k] - want[k]).max()) / scale
        assert err < 2e-4, f"{k}: max error {err:.2e} of its largest value"


def test_fixed_pass_is_deterministic(caffe, tmp_path):
    a, b = run_net(caffe, tmp_path), run_net(caffe, tmp_path)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("forward_split,backward_split", [
    ("scaleconv1", None), (None, "scaleconv2"), ("reluconv2", "reluconv1")])
def test_batchnorm_scale_relu_group_split_by_a_partial_pass(caffe, tmp_path, forward_split, backward_split):
    """The oneDNN build runs an in-place BatchNorm -> Scale -> ReLU group as one layer's passes
    (setup/patches/0011); a pycaffe forward or backward that stops inside a group runs its
    layers one by one. Either way the pass gives what the whole pass gives."""
    whole = run_net(caffe, tmp_path)
    split = run_net(caffe, tmp_path, forward_split, backward_split)
    for k in whole:
        # The same floor as against the stock fixture: rounding noise (~2e-8) in the conv bias
        # gradients before BatchNorm, which are zero in exact arithmetic.
        scale = max(float(np.abs(whole[k]).max()), 1e-3)
        err = float(np.abs(split[k] - whole[k]).max()) / scale
        assert err < 5e-5, f"{k}: split pass differs by {err:.2e} of its largest value"


def test_forward_to_batchnorm_stops_before_its_scale_and_relu(caffe, tmp_path):
    """net.forward(end=<BatchNorm layer>) leaves BatchNorm's own output in the blob (per channel
    mean 0, variance 1, negative values), not the Scale and ReLU results of a fused group."""
    caffe.set_mode_cpu()
    net = build_net(caffe, tmp_path)
    rng = np.random.RandomState(7)
    fill_fixed_weights(net, rng)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].data.shape)
    net.forward(end="bnconv1")
    y = net.blobs["conv1"].data.astype(np.float64)
    assert y.min() < -1.0
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)


@pytest.mark.parametrize("h,w", [(8, 10), (7, 9)])
def test_max_pooling_2x2_values_and_argmax(caffe, tmp_path, h, w):
    """2x2/2 max pooling (every pooling layer of the generated nets; the oneDNN build runs it
    as its own vectorised pass) gives each window's maximum, Caffe's ceil-mode windows cut by an
    odd edge included, and backward routes each gradient to the window's first maximum."""
    pb2 = caffe.proto.caffe_pb2
    net = pb2.NetParameter(name="pool", force_backward=True)
    net.layer.add(name="data", type="Input", top=["data"]).input_param.shape.add(dim=[2, 3, h, w])
    p = net.layer.add(name="pool", type="Pooling", bottom=["data"], top=["pool"]).pooling_param
    p.pool, p.kernel_size, p.stride = pb2.PoolingParameter.MAX, 2, 2
    path = tmp_path / "pool.prototxt"
    path.write_text(str(net))
    caffe.set_mode_cpu()
    n = caffe.Net(str(path), caffe.TRAIN)
    x = np.random.RandomState(3).randint(-4, 5, (2, 3, h, w)).astype(np.float32)  # many ties
    n.blobs["data"].data[...] = x
    n.forward()
    ph, pw = (h + 1) // 2, (w + 1) // 2
    want = np.full((2, 3, ph, pw), -np.inf, np.float32)
    grad = np.zeros_like(x)
    g = np.arange(1, 2 * 3 * ph * pw + 1, dtype=np.float32).reshape(2, 3, ph, pw)
    for i in range(ph):
        for j in range(pw):
            win = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            want[:, :, i, j] = win.max(axis=(2, 3))
            flat = win.reshape(2, 3, -1).argmax(axis=2)  # first maximum in row-major order
            for a in range(2):
                for b in range(3):
                    di, dj = divmod(int(flat[a, b]), win.shape[3])
                    grad[a, b, 2 * i + di, 2 * j + dj] += g[a, b, i, j]
    np.testing.assert_array_equal(n.blobs["pool"].data, want)
    n.blobs["pool"].diff[...] = g
    n.backward()
    np.testing.assert_array_equal(n.blobs["data"].diff, grad)


def test_onednn_build_fuses_the_batchnorm_groups(caffe, tmp_path):
    """With DNN=onednn the Net runs each in-place BatchNorm -> Scale -> ReLU as one (it logs the
    groups); other builds run stock Caffe's layers."""
    from simplenet_caffe import caffe_env
    has_onednn = _built_with_onednn()
    build_net(caffe, tmp_path)  # writes numerics.prototxt
    log = caffe_env.run_tool("caffe", "time", "-model", str(tmp_path / "numerics.prototxt"),
                             "-iterations", "1").stderr
    assert "Average Forward-Backward" in log
    groups = [l.split("on the CPU: ", 1)[1] for l in log.splitlines() if "run as one on the CPU: " in l]
    assert groups == (["bnconv1, scaleconv1, reluconv1", "bnconv2, scaleconv2, reluconv2"]
                      if has_onednn else []), log[-2000:]


def test_blocked_build_converts_few_s300a_activations(caffe):
    """bench/onednn_split.py on S300-A with the build in use: 13 convolutions forward and
    backward-weights, 12 backward-data (none for the first), and, with DNN=onednn-blocked, the
    activations reordered only where a layer reads NCHW (the pooling of the 100-channel cccp6,
    forward and backward): 2 per pass, against 2-3 per convolution with NCHW between layers."""
    from conftest import run_script
    need(_built_with_onednn(), "not a oneDNN build")
    cp = run_script("bench/onednn_split.py", "mnist_s300a", "--iterations", "1")
    assert cp.returncode == 0, cp.stderr[-2000:]
    calls = {m[1].strip(): int(m[2]) for m in re.finditer(r"^(\S[\w :]+?)\s+[\d.]+\s+[\d.]+%\s+(\d+)$", cp.stdout, re.M)}
    assert (calls["convolution forward"], calls["convolution backward_data"],
            calls["convolution backward_weights"]) == (13, 12, 13), cp.stdout
    assert calls["reorder: weights"] == 38 and calls["reorder: biases"] == 13, cp.stdout
    blocked = re.search(r"^variant=.*-onednn-blocked$", _build_info(), re.M) is not None
    assert calls["reorder: activations"] == 2 if blocked else calls["reorder: activations"] > 30, cp.stdout


def _build_info() -> str:
    """The BUILD_INFO setup writes beside the Caffe build in use (skips when there is none)."""
    from simplenet_caffe import caffe_env
    prefix = caffe_env.caffe_prefix()
    info = prefix / "BUILD_INFO" if prefix is not None else None
    need(info is not None and info.is_file(), "no BUILD_INFO beside the Caffe build (not built by setup)")
    return info.read_text()


def _built_with_onednn() -> bool:
    return any(l.startswith("flag=-DONEDNN_ROOT=") for l in _build_info().splitlines())


def test_engine_field_selects_the_convolution(caffe, tmp_path):
    """engine DEFAULT runs oneDNN's convolution exactly when setup built Caffe with DNN=onednn;
    engine: CAFFE always runs the stock layer (the layer logs which primitives it made)."""
    from simplenet_caffe import caffe_env
    has_onednn = _built_with_onednn()
    pb2 = caffe.proto.caffe_pb2
    net = pb2.NetParameter(name="engines", force_backward=True)
    net.layer.add(name="data", type="Input", top=["data"]).input_param.shape.add(dim=[2, 3, 8, 8])
    for name, engine in (("conv_default", pb2.ConvolutionParameter.DEFAULT),
                         ("conv_caffe", pb2.ConvolutionParameter.CAFFE)):
        l = net.layer.add(name=name, type="Convolution", bottom=["data"], top=[name])
        l.convolution_param.num_output, l.convolution_param.engine = 4, engine
        l.convolution_param.kernel_size.append(3)
    path = tmp_path / "engines.prototxt"
    path.write_text(str(net))
    log = caffe_env.run_tool("caffe", "time", "-model", str(path), "-iterations", "1").stderr
    assert "Average Forward-Backward" in log
    assert ("oneDNN convolution (conv_default)" in log) == has_onednn, log[-2000:]
    assert "oneDNN convolution (conv_caffe)" not in log


if __name__ == "__main__" and "--write-fixture" in sys.argv:
    import tempfile
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from simplenet_caffe import caffe_env
    with tempfile.TemporaryDirectory() as d:
        res = run_net(caffe_env.import_caffe(), Path(d))
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE.with_suffix(".part.npz"), **res)
    FIXTURE.with_suffix(".part.npz").replace(FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes, {sum(v.size for v in res.values())} floats)")


def _bn_group(n, bot, i) -> None:
    """In-place BatchNorm -> Scale (with bias) -> ReLU on ``bot`` in NetSpec ``n``, named bn/scale/relu<i>."""
    from caffe import layers as L
    setattr(n, f"bn{i}", L.BatchNorm(bot, in_place=True))
    setattr(n, f"scale{i}", L.Scale(bot, in_place=True, bias_term=True))
    setattr(n, f"relu{i}", L.ReLU(bot, in_place=True))


def _layout_net(caffe, tmp: Path, engine: str, phase: str = "TRAIN"):
    """conv1 -> BatchNorm group -> pool1 -> conv2 (24 channels, not a multiple of oneDNN's
    channel block) -> group -> conv3 (1x1, 28 channels) -> standalone ReLU -> conv4 (the blob
    between two convolutions) -> group -> pool2 (7x7 -> 4x4, edge windows) -> InnerProduct ->
    loss; ``engine`` for every convolution."""
    from caffe import layers as L, params as P
    eng = getattr(P.Convolution, engine)
    n = caffe.NetSpec()
    n.data, n.label = L.Input(shape=[dict(dim=[4, 3, 14, 14]), dict(dim=[4])], ntop=2)

    n.conv1 = L.Convolution(n.data, num_output=32, kernel_size=3, pad=1, engine=eng)
    _bn_group(n, n.conv1, 1)
    n.pool1 = L.Pooling(n.conv1, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.conv2 = L.Convolution(n.pool1, num_output=24, kernel_size=3, pad=1, engine=eng)
    _bn_group(n, n.conv2, 2)
    n.conv3 = L.Convolution(n.conv2, num_output=28, kernel_size=1, engine=eng)
    n.relu3 = L.ReLU(n.conv3, in_place=True)
    n.conv4 = L.Convolution(n.conv3, num_output=32, kernel_size=3, pad=1, engine=eng)
    _bn_group(n, n.conv4, 4)
    n.pool2 = L.Pooling(n.conv4, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    return _classifier_net(caffe, n, n.pool2, tmp / f"layout_{engine}.prototxt", phase)


def _classifier_net(caffe, n, bot, path: Path, phase: str):
    """``n`` (a NetSpec with a ``label`` input) closed by InnerProduct -> SoftmaxWithLoss on
    ``bot``, written to ``path`` with force_backward and loaded in ``phase``."""
    from caffe import layers as L
    n.ip1 = L.InnerProduct(bot, num_output=10)
    n.loss = L.SoftmaxWithLoss(n.ip1, n.label)
    return _load_net(caffe, n, path, phase)


def _load_net(caffe, n, path: Path, phase: str = "TRAIN"):
    """NetSpec ``n`` written to ``path`` with force_backward and loaded in ``phase``."""
    proto = n.to_proto()
    proto.force_backward = True
    path.write_text(str(proto))
    return caffe.Net(str(path), getattr(caffe, phase))


def _strided_net(caffe, tmp: Path, engine: str, phase: str = "TRAIN"):
    """conv1 -> BatchNorm group -> conv2 (stride 2) -> group -> conv3 (stride 2) -> group ->
    InnerProduct -> loss: oneDNN's backward-data of a strided convolution may want its gradients
    in nhwc while the groups below compute in nChw16c."""
    from caffe import layers as L, params as P
    eng = getattr(P.Convolution, engine)
    n = caffe.NetSpec()
    n.data, n.label = L.Input(shape=[dict(dim=[4, 3, 28, 28]), dict(dim=[4])], ntop=2)
    bot = n.data
    for i, stride in ((1, 1), (2, 2), (3, 2)):
        bot = L.Convolution(bot, num_output=32, kernel_size=3, pad=1, stride=stride, engine=eng)
        setattr(n, f"conv{i}", bot)
        _bn_group(n, bot, i)
    return _classifier_net(caffe, n, bot, tmp / f"strided_{engine}.prototxt", phase)


def _layout_pass(caffe, tmp: Path, engine: str, peek: bool, phase: str = "TRAIN",
                 make_net=_layout_net) -> dict[str, np.ndarray]:
    caffe.set_mode_cpu()
    net = make_net(caffe, tmp, engine, phase)
    rng = np.random.RandomState(11)
    fill_fixed_weights(net, rng)
    for name, blobs in net.params.items():  # running statistics, used in TEST
        if name.startswith("bn"):
            blobs[0].data[...] = rng.uniform(-0.5, 0.5, blobs[0].data.shape)
            blobs[1].data[...] = rng.uniform(0.5, 2, blobs[1].data.shape)
            blobs[2].data[...] = 1
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].data.shape)
    net.blobs["label"].data[...] = rng.randint(0, 10, 4)
    out = {}
    net.forward()
    if peek:  # read every blob between forward and backward (each read converts it)
        out.update({f"{k}.fwd": b.data.copy() for k, b in net.blobs.items()})
    net.backward()
    out.update(net_arrays(net))
    return out


@pytest.mark.parametrize("peek,phase,make_net", [
    (False, "TRAIN", _layout_net), (True, "TRAIN", _layout_net), (False, "TEST", _layout_net),
    (False, "TRAIN", _strided_net), (True, "TRAIN", _strided_net)], ids=[
    "train", "train-peek", "test", "strided", "strided-peek"])
def test_blobs_read_through_pycaffe_are_nchw(caffe, tmp_path, peek, phase, make_net):
    """The oneDNN build leaves convolution, BatchNorm-group and pooling outputs (and their
    gradients) in oneDNN's blocked layout between layers (setup/patches/0016); pycaffe reads
    them converted to NCHW. Every blob's data and diff, and every parameter, equal those of the
    same pass with ``engine: CAFFE`` convolutions (stock im2col code, NCHW throughout) to float
    rounding: after the pass, or also read between forward and backward; in TEST phase too
    (BatchNorm with its stored statistics)."""
    want = _layout_pass(caffe, tmp_path, "CAFFE", peek, phase, make_net)
    got = _layout_pass(caffe, tmp_path, "DEFAULT", peek, phase, make_net)
    assert sorted(got) == sorted(want)
    assert float(np.abs(want["conv3.data"]).max()) > 0.1 and float(np.abs(want["conv3.diff"]).max()) > 0
    for k in want:
        assert got[k].shape == want[k].shape, k
        # The floor as in test_same_numbers_as_stock_caffe (conv biases before BatchNorm).
        scale = max(float(np.abs(want[k]).max()), 1e-3)
        err = float(np.abs(got[k] - want[k]).max()) / scale
        assert err < 2e-4, f"{k}: max error {err:.2e} of its largest value"


GROUP_SHAPE = (4, 32, 40, 40)   # 204,800 values: the OpenMP paths
# 32 channels: whole blocks of 16 (or 8); 40: the last block of 16 padded with 8 zero channels.
GROUP_CHANNELS = [32, 40]


def _group_shape(channels: int) -> tuple[int, int, int, int]:
    return (GROUP_SHAPE[0], channels) + GROUP_SHAPE[2:]


def _group_net(caffe, tmp: Path, engine: str, channels: int = GROUP_SHAPE[1]):
    """conv1 -> BatchNorm group -> Dropout (in place, the default mask) -> conv2 -> group, both
    convolutions 1x1 with identity weights (their outputs and input gradients are exact, on any
    thread count), ``engine`` for both; the top gradient is given through pycaffe."""
    from caffe import layers as L, params as P
    eng = getattr(P.Convolution, engine)
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=list(_group_shape(channels))))
    bot = n.data
    for i in (1, 2):
        conv = L.Convolution(bot, num_output=channels, kernel_size=1, engine=eng)
        setattr(n, f"conv{i}", conv)
        _bn_group(n, conv, i)
        if i == 1:
            n.drop1 = L.Dropout(conv, in_place=True, dropout_ratio=0.2)
        bot = conv
    return _load_net(caffe, n, tmp / f"group_{engine}_{channels}.prototxt")


def _group_pass(caffe, tmp: Path, engine: str, channels: int = GROUP_SHAPE[1]) -> dict[str, np.ndarray]:
    """Every blob's data and diff and the BatchNorm / Scale parameters and gradients of one
    seeded pass (the convolutions' weight gradients left out: not the loops under test)."""
    caffe.set_mode_cpu()
    net = _group_net(caffe, tmp, engine, channels)
    rng = np.random.RandomState(13)
    c = channels
    shape = _group_shape(c)
    for name, blobs in net.params.items():
        if name.startswith("conv"):
            blobs[0].data[...] = np.eye(c, dtype=np.float32).reshape(c, c, 1, 1)
            blobs[1].data[...] = 0
        elif name.startswith("scale"):
            blobs[0].data[...] = rng.uniform(0.5, 2, c)
            blobs[1].data[...] = rng.uniform(-0.5, 0.5, c)
    # per-channel offsets and scales, so the statistics differ between channels
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, (1, c, 1, 1)) + rng.uniform(-2, 2, (1, c, 1, 1))
    net.blobs["data"].data[...] = x
    caffe.set_random_seed(1701)
    net.forward()
    net.blobs["conv2"].diff[...] = rng.standard_normal(shape)
    net.backward()
    return {k: v for k, v in net_arrays(net).items()
            if not (k.startswith("conv") and k.count(".") == 2 and k.endswith(".diff"))}


GROUP_SCRIPT = """
import sys, hashlib
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_numerics as t
from simplenet_caffe import caffe_env
out = t._group_pass(caffe_env.import_caffe(), Path({tmp!r}), "DEFAULT", {channels})
h = hashlib.sha256()
for k in sorted(out):
    h.update(k.encode()); h.update(out[k].tobytes())
print(len(out), h.hexdigest())
"""


@pytest.mark.parametrize("channels", GROUP_CHANNELS)
def test_batchnorm_group_and_dropout_do_not_depend_on_the_thread_count(tmp_path, channels):
    """The BatchNorm group's statistics and gradient sums (each channel's in double by one thread
    in a fixed order, in the NCHW and in the blocked layout, whole or padded blocks) and the
    Dropout masks (in the blocked build drawn on the blocked copy) give the same bits with 1 and
    2 OpenMP threads."""
    import os
    import subprocess
    from simplenet_caffe import caffe_env
    digests = []
    for threads in ("1", "2"):
        env = dict(caffe_env.tool_env(), OMP_NUM_THREADS=threads)
        script = GROUP_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)), tmp=str(tmp_path),
                                     channels=channels)
        r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        digests.append(r.stdout.split()[-2:])
    assert int(digests[0][0]) >= 16 and digests[0] == digests[1], digests


@pytest.mark.parametrize("channels", GROUP_CHANNELS)
def test_batchnorm_group_with_dropout_in_blocked_layout_is_the_nchw_pass(caffe, tmp_path, channels):
    """The same pass with oneDNN convolutions (in the blocked build: the groups on blocked
    copies, padded ones too, and the Dropout on unpadded ones) and with ``engine: CAFFE``
    convolutions (NCHW throughout): the same Dropout mask, and every array equal to float
    rounding, as test_blobs_read_through_pycaffe_are_nchw."""
    want = _group_pass(caffe, tmp_path, "CAFFE", channels)
    got = _group_pass(caffe, tmp_path, "DEFAULT", channels)
    assert sorted(got) == sorted(want) and "bn1.0.data" in got and "scale2.0.diff" in got
    zero = want["conv1.data"] == 0   # after ReLU and Dropout
    assert 0.2 < float(zero.mean()) < 0.9
    # the same elements dropped (a ReLU input within rounding of 0 may flip on its own)
    assert float(((got["conv1.data"] == 0) != zero).mean()) < 1e-4
    for k in want:
        scale = max(float(np.abs(want[k]).max()), 1e-3)
        err = float(np.abs(got[k] - want[k]).max()) / scale
        assert err < 2e-4, f"{k}: max error {err:.2e} of its largest value"
