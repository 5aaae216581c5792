"""Dropout's mask generators (setup/patches/0017), through pycaffe on the real build.

``engine: DEFAULT`` (the speed builds' default): a Philox4x32-10 counter-based generator keyed by
two draws from Caffe's RNG per forward pass, drawn on all OpenMP threads (the same mask whatever
their number). ``engine: CAFFE``: stock
Caffe's serial Mersenne Twister stream (``caffe_rng_bernoulli``), checked here against the same
stream recomputed with numpy (MT19937 with Caffe's seeding, boost's bernoulli rule in double).
Both keep an element with probability 1 - dropout_ratio and scale it by 1 / (1 - dropout_ratio).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import need

SHAPE = (8, 32, 32, 33)   # 270,336 values: the mask is drawn by several OpenMP chunks, plus a tail


@pytest.fixture(scope="module")
def pb2(caffe_pb2):
    need("engine" in caffe_pb2.DropoutParameter.DESCRIPTOR.fields_by_name,
         "this build has stock Caffe's Dropout (no DropoutParameter.engine: setup/patches/0017 is a speed patch)")
    return caffe_pb2


def dropout_net(caffe, pb2, tmp_path, ratio: float, engine=None):
    net = pb2.NetParameter(name="dropout", force_backward=True)
    data = net.layer.add(name="data", type="Input", top=["data"])
    data.input_param.shape.add(dim=list(SHAPE))
    d = net.layer.add(name="drop", type="Dropout", bottom=["data"], top=["out"])
    d.dropout_param.dropout_ratio = ratio
    if engine is not None:
        d.dropout_param.engine = engine
    path = tmp_path / f"dropout_{ratio}_{engine}.prototxt"
    path.write_text(str(net))
    return caffe.Net(str(path), caffe.TRAIN)


def x_values() -> np.ndarray:
    """Inputs in [1, 2): never zero, so a zero output is a dropped element."""
    return (1 + np.random.RandomState(3).random_sample(SHAPE)).astype(np.float32)


def run(caffe, net, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(output, input gradient for a top gradient of x) of one forward/backward after seeding."""
    caffe.set_random_seed(seed)
    x = x_values()
    net.blobs["data"].data[...] = x
    net.forward()
    net.blobs["out"].diff[...] = x
    net.backward()
    return net.blobs["out"].data.copy(), net.blobs["data"].diff.copy()


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.9])
def test_default_mask_keeps_one_minus_ratio_scaled(caffe, pb2, tmp_path, ratio):
    net = dropout_net(caffe, pb2, tmp_path, ratio)
    out, grad = run(caffe, net, 1701)
    x = x_values()
    kept = out != 0
    n, p = kept.size, 1 - ratio
    assert abs(int(kept.sum()) - n * p) < 5 * np.sqrt(n * p * (1 - p)), (kept.mean(), p)
    scale = np.float32(1 / (1 - np.float32(ratio)))   # Caffe's scale_, computed in float
    np.testing.assert_array_equal(out[kept], x[kept] * scale)
    np.testing.assert_array_equal(grad, np.where(kept, x * scale, 0).astype(np.float32))  # the same mask backward
    # no structure along the flat index: each quarter of the blob, and each of the 64 positions of
    # a group of 16 Philox counters (4 words each), keeps ~p
    flat = kept.ravel()
    for part in (*np.array_split(flat, 4), *(flat[j::64] for j in range(64))):
        m = part.size
        assert abs(int(part.sum()) - m * p) < 5 * np.sqrt(m * p * (1 - p))


def test_default_mask_repeats_with_the_seed_and_changes_per_pass(caffe, pb2, tmp_path):
    net = dropout_net(caffe, pb2, tmp_path, 0.5)
    a, _ = run(caffe, net, 1701)
    b, _ = run(caffe, net, 1701)
    c, _ = run(caffe, net, 1702)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.4   # another seed: another mask (about half the elements differ)
    net.forward()                  # the next pass after the seed draws a new mask too
    assert (net.blobs["out"].data != a).mean() > 0.4


MASK_SCRIPT = """
import sys, hashlib, numpy as np
sys.path.insert(0, {tests!r})
import test_dropout as t
from simplenet_caffe import caffe_env
caffe = caffe_env.import_caffe()
caffe.set_mode_cpu()
from pathlib import Path
net = t.dropout_net(caffe, caffe_env.caffe_pb2(), Path({tmp!r}), 0.5)
out, _ = t.run(caffe, net, 1701)
print(hashlib.sha256((out != 0).tobytes()).hexdigest())
"""


def test_default_mask_does_not_depend_on_the_thread_count(pb2, tmp_path):
    from simplenet_caffe import caffe_env
    digests = []
    for threads in ("1", "2", "3"):
        env = dict(caffe_env.tool_env(), OMP_NUM_THREADS=threads)
        script = MASK_SCRIPT.format(tests=os.path.dirname(__file__), tmp=str(tmp_path))
        r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        digests.append(r.stdout.split()[-1])
    assert len(set(digests)) == 1, digests


def stock_mask(seed: int, n: int, ratio: float) -> np.ndarray:
    """Stock Caffe's mask: boost::mt19937(seed) (numpy's legacy seeding is the same init_genrand),
    and boost's bernoulli_distribution<double>(1 - ratio): raw <= p * (2^32 - 1), in double, with
    p = 1 - (double) (float) ratio as caffe_rng_bernoulli is called."""
    raw = np.random.RandomState(seed).randint(0, 2 ** 32, size=n, dtype=np.uint32).astype(np.float64)
    p = 1.0 - float(np.float32(ratio))
    return raw <= p * float(2 ** 32 - 1)


def test_engine_caffe_is_stock_caffes_mersenne_twister_stream(caffe, pb2, tmp_path):
    net = dropout_net(caffe, pb2, tmp_path, 0.2, engine=pb2.DropoutParameter.CAFFE)
    out, grad = run(caffe, net, 1701)
    want = stock_mask(1701, out.size, 0.2).reshape(SHAPE)
    np.testing.assert_array_equal(out != 0, want)
    scale = np.float32(1 / (1 - np.float32(0.2)))
    np.testing.assert_array_equal(out, np.where(want, x_values() * scale, 0).astype(np.float32))
    np.testing.assert_array_equal(grad, out)   # top gradient x: the same values backward
    default = dropout_net(caffe, pb2, tmp_path, 0.2)
    assert ((run(caffe, default, 1701)[0] != 0) != want).mean() > 0.2   # the default draws another mask


def conv_dropout_net(caffe, pb2, tmp_path, shape, in_place: bool):
    """Input -> 1x1 Convolution with identity weights (its top is the input, exactly) ->
    Dropout. In the DNN=onednn-blocked build the convolution leaves its top in oneDNN's blocked
    layout (channels a multiple of the block), so Dropout works on that copy."""
    net = pb2.NetParameter(name="conv_dropout", force_backward=True)
    net.layer.add(name="data", type="Input", top=["data"]).input_param.shape.add(dim=list(shape))
    c = net.layer.add(name="conv", type="Convolution", bottom=["data"], top=["c"])
    c.convolution_param.num_output = shape[1]
    c.convolution_param.kernel_size.append(1)
    d = net.layer.add(name="drop", type="Dropout", bottom=["c"], top=["c" if in_place else "out"])
    d.dropout_param.dropout_ratio = 0.3
    path = tmp_path / f"conv_dropout_{in_place}.prototxt"
    path.write_text(str(net))
    n = caffe.Net(str(path), caffe.TRAIN)
    n.params["conv"][0].data[...] = np.eye(shape[1], dtype=np.float32).reshape(shape[1], shape[1], 1, 1)
    n.params["conv"][1].data[...] = 0
    return n


@pytest.mark.parametrize("shape", [SHAPE, (8, 32, 15, 17)])   # the second: a block's run not a multiple of 64
@pytest.mark.parametrize("in_place", [False, True])
def test_mask_after_a_convolution_is_the_nchw_mask(caffe, pb2, tmp_path, shape, in_place):
    """Each element's mask is the one its NCHW index draws, whatever layout the bottom is in:
    Dropout after a convolution (in the blocked build: on the convolution's blocked copy) gives,
    bit for bit, the output and gradient of Dropout on the same values given as an NCHW Input,
    for the same seed."""
    x = (1 + np.random.RandomState(5).random_sample(shape)).astype(np.float32)
    ref = pb2.NetParameter(name="dropout", force_backward=True)
    ref.layer.add(name="data", type="Input", top=["data"]).input_param.shape.add(dim=list(shape))
    ref.layer.add(name="drop", type="Dropout", bottom=["data"], top=["out"]).dropout_param.dropout_ratio = 0.3
    (tmp_path / "ref.prototxt").write_text(str(ref))
    want = caffe.Net(str(tmp_path / "ref.prototxt"), caffe.TRAIN)
    got = conv_dropout_net(caffe, pb2, tmp_path, shape, in_place)
    top = "c" if in_place else "out"
    for seed in (1701, 1702):
        results = []
        for net, out, bottom in ((want, "out", "data"), (got, top, "c")):
            caffe.set_random_seed(seed)
            net.blobs["data"].data[...] = x
            net.forward()
            net.blobs[out].diff[...] = x
            net.backward()
            # Dropout's output and its bottom gradient
            results.append((net.blobs[out].data.copy(), net.blobs[bottom].diff.copy()))
        (want_out, want_grad), (got_out, got_grad) = results
        assert 0.6 < float((want_out != 0).mean()) < 0.8
        np.testing.assert_array_equal(got_out, want_out)
        np.testing.assert_array_equal(got_grad, want_grad)
