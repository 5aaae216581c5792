"""Issue 13: caffemodel <-> PyTorch, ONNX export -- real Caffe (pycaffe), real torch, real onnxruntime.

* every generated deploy net (27): the twin's plan equals the variant table's; random weights
  give the same logits in Caffe, PyTorch and onnxruntime (within 1e-4 of the largest); the
  caffemodel -> safetensors -> caffemodel trip gives bit-identical blobs;
* the S300-A net trained on real MNIST (conftest's `trained`): same top-1 and logits on the
  1,000 test images in all three, and `caffe test` of the re-imported caffemodel agrees;
* the SimpleNet_Pytorch/timm layout: a module built as spec'd in docs/export.md, imported
  into the Caffe ImageNet net (RGB/std -> BGR/scale folded into conv1), same logits;
* the tools: one-line errors with exit 2 (--help: test_cli.py), the message when the extra is missing.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import N_TEST, PY, TEST_BATCH, need, run_script
from simplenet_caffe.paths import REPO_ROOT

DEPLOY = sorted((REPO_ROOT / "prototxt").glob("*_deploy.prototxt"))
TOL = 1e-4


@pytest.fixture(scope="module")
def torch():
    try:
        import onnxruntime  # noqa: F401
        import safetensors  # noqa: F401
        import torch
    except ImportError as e:
        need(False, f"the [export] extra is not installed ({e}): pip install '.[export]'")
    torch.set_num_threads(2)
    return torch


def random_caffemodel(caffe, model: Path, out: Path, seed: int = 0) -> None:
    """The net's fillers (xavier/gaussian), plus random BatchNorm blobs (factor != 1), Scale and biases."""
    net = caffe.Net(str(model), caffe.TEST)
    rng = np.random.default_rng(seed)
    for name, blobs in net.params.items():
        kind = net.layer_dict[name].type
        shape = blobs[0].data.shape
        if kind == "BatchNorm":
            f = np.float32(rng.uniform(1.5, 20))       # Caffe's moving-average normaliser
            blobs[0].data[...] = rng.normal(0, 0.2, shape) * f
            blobs[1].data[...] = rng.uniform(0.3, 2.0, shape) * f
            blobs[2].data[...] = f
        elif kind == "Scale":
            blobs[0].data[...] = rng.uniform(0.5, 1.5, shape)
            blobs[1].data[...] = rng.normal(0, 0.1, shape)
        elif len(blobs) > 1:
            blobs[1].data[...] = rng.normal(0, 0.05, blobs[1].data.shape)
    net.save(str(out))


def test_plan_is_the_variant_tables_for_every_deploy_net(caffe_pb2):
    from simplenet_caffe.export import plan
    from simplenet_caffe.export.preprocessing import experiment_of

    assert len(DEPLOY) == 27
    for path in DEPLOY:
        from_net = plan.from_net(path)
        assert from_net == plan.from_experiment(experiment_of(path)), path.name
        assert plan.Plan.from_json(from_net.to_json()) == from_net
        assert from_net.steps[-1].kind == "softmax" and from_net.logits in ("ip1", "ipf0")


@pytest.mark.parametrize("model", DEPLOY, ids=[p.name.removesuffix("_deploy.prototxt") for p in DEPLOY])
def test_every_deploy_net_exports_and_round_trips(model, caffe, torch, tmp_path):
    from simplenet_caffe.export import conversion, files, onnx_model, weights
    from simplenet_caffe.export.verify import Runners, check_random

    cm = tmp_path / "random.caffemodel"
    random_caffemodel(caffe, model, cm)
    m = conversion.load_model(model)
    blobs = weights.read_caffemodel(cm)
    sd = weights.to_state_dict(m.plan, blobs)
    # caffemodel -> safetensors -> caffemodel: bit-identical blobs
    st = tmp_path / "twin.safetensors"
    files.save_state(st, sd, m.plan, m.prep, "simplenet-caffe", cm.name)
    twin, plan2, prep2 = files.load_module(st)
    assert plan2 == m.plan and prep2 == m.prep
    back = tmp_path / "back.caffemodel"
    conversion.import_weights(model, st, back)       # the command's code, in process (the CLI: tests below)
    again = weights.read_caffemodel(back)
    assert sorted(again) == sorted(blobs)
    for name, bl in blobs.items():
        assert len(again[name]) == len(bl)
        for a, b in zip(bl, again[name]):
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), name
    # Caffe vs PyTorch vs onnxruntime on random inputs
    big = m.plan.input_shape[1] > 100
    r = Runners(model, cm, m.plan, twin, onnx_model.build(m.plan, sd, m.prep, cm.name), batch=1 if big else 4)
    a = check_random(r, 1 if big else 4, seed=1)
    assert a.max_abs_logit > 1e-3
    assert a.rel_torch <= TOL and a.rel_onnx <= TOL, a.lines()


def test_bn_factor_zero_gives_zero_stats():
    from simplenet_caffe.export.weights import bn_running_stats

    m, v = bn_running_stats(np.array([3.0, -1.0], np.float32), np.array([2.0, 5.0], np.float32),
                            np.zeros(1, np.float32))
    assert m.tolist() == [0.0, 0.0] and v.tolist() == [0.0, 0.0]
    m, v = bn_running_stats(np.array([3.0], np.float32), np.array([2.0], np.float32), np.array([4.0], np.float32))
    assert m.tolist() == [0.75] and v.tolist() == [0.5]


@pytest.mark.slow
def test_trained_mnist_net_keeps_its_accuracy(trained, caffe, torch, tmp_path):
    from simplenet_caffe import caffe_env
    from simplenet_caffe.runs.caffelog import parse

    root, tv, weights, _ = trained
    model = REPO_ROOT / "prototxt" / "mnist_s300a_demo_deploy.prototxt"
    onnx_path = tmp_path / "s300a.onnx"
    out = run_script("tools/export.py", "--model", model, "--weights", weights, "--to", "onnx", "--out", onnx_path,
                     "--check-data", root / "data" / "mnist_norm" / "test_lmdb", "--verify", "4")
    assert out.returncode == 0, out.stderr
    top1 = {k: float(v) for k, v in re.findall(r"top-1 (caffe|pytorch|onnxruntime)\s+([0-9.]+)", out.stdout)}
    assert set(top1) == {"caffe", "pytorch", "onnxruntime"}
    assert top1["caffe"] >= 0.9 and top1["pytorch"] == top1["caffe"] == top1["onnxruntime"]
    assert f"same top-1 as Caffe: pytorch {N_TEST}/{N_TEST}, onnxruntime {N_TEST}/{N_TEST}" in out.stdout
    rel = [float(x) for x in re.findall(r"relative ([0-9.e+-]+)\)", out.stdout)]
    assert rel and max(rel) <= TOL

    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert meta["simplenet.channel_order"] == "gray"
    assert "N x 1 x 28 x 28 float32" in meta["simplenet.input"]

    # PyTorch -> caffemodel, evaluated by `caffe test`: the accuracy Caffe logged for the original
    st = tmp_path / "s300a.pt"
    out = run_script("tools/export.py", "--model", model, "--weights", weights, "--to", "pytorch", "--out", st)
    assert out.returncode == 0, out.stderr
    back = tmp_path / "back.caffemodel"
    out = run_script("tools/import_weights.py", "--model", model, "--state", st, "--out", back)
    assert out.returncode == 0, out.stderr
    accs = []
    for w in (weights, back):
        proc = caffe_env.run_tool("caffe", "test", f"-model={tv}", f"-weights={w}", f"-iterations={N_TEST // TEST_BATCH}")
        log = tmp_path / "test.log"
        log.write_text(proc.stderr)
        accs.append(parse(log).test_result["accuracy"])
    assert accs[0] == accs[1] == pytest.approx(top1["caffe"], abs=1e-6)


class TimmStyleSimpleNet:
    """The SimpleNet_Pytorch/timm ImageNet module sequence (docs/export.md), written out here on
    its own: features = per conv entry Conv2d, BatchNorm2d(eps 1e-5, momentum 0.05), ReLU,
    Dropout2d(0); per pool entry MaxPool2d(2, 2), Dropout2d(0); forward: global max pool,
    flatten, Linear ``classifier``.  Input RGB 0-1 standardised per channel."""

    CFG_5M = [64, 128, 128, 128, 128, 128, "p", 256, 256, 256, 512, "p", (2048, 1), (256, 1), 256]
    MODE_STRIDES = {1: [2, 2, 2], 2: [2, 2, 1, 2]}

    @classmethod
    def build(cls, torch, scale: float, mode: int, classes: int = 1000):
        nn = torch.nn
        layers, c = [], 3
        strides = cls.MODE_STRIDES[mode]
        for i, e in enumerate(cls.CFG_5M):
            s = strides[i] if i < len(strides) else (2 if e == "p" else 1)
            if e == "p":
                layers += [nn.MaxPool2d(2, s), nn.Dropout2d(0.0)]
                continue
            width, k = e if isinstance(e, tuple) else (e, 3)
            out = round(width * scale)
            layers += [nn.Conv2d(c, out, k, s, (k - 1) // 2), nn.BatchNorm2d(out, eps=1e-5, momentum=0.05),
                       nn.ReLU(inplace=True), nn.Dropout2d(0.0)]
            c = out

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(*layers)
                self.classifier = nn.Linear(c, classes)

            def forward(self, x):
                x = self.features(x)
                x = torch.nn.functional.max_pool2d(x, kernel_size=x.shape[2:])
                return self.classifier(x.flatten(1))

        return Net().eval()

    @classmethod
    def with_random_bn(cls, torch, scale: float, mode: int, seed: int = 0):
        """:meth:`build` with random BatchNorm statistics and affine parameters (not 0/1)."""
        net = cls.build(torch, scale, mode)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for mod in net.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.normal_(0, 0.2, generator=g)
                    mod.running_var.uniform_(0.3, 2.0, generator=g)
                    mod.weight.uniform_(0.5, 1.5, generator=g)
                    mod.bias.normal_(0, 0.1, generator=g)
        return net


def test_timm_layout_imports_into_caffe(caffe, torch, tmp_path):
    from simplenet_caffe.export import timm_layout, weights
    from simplenet_caffe.export.verify import rel_diff

    model = REPO_ROOT / "prototxt" / "imagenet_small_m2_05_deploy.prototxt"
    net = TimmStyleSimpleNet.with_random_bn(torch, 0.5, mode=2)
    pth = tmp_path / "simplenetv1_small_m2_05.pth"
    torch.save(net.state_dict(), pth)
    cm = tmp_path / "imported.caffemodel"
    out = run_script("tools/import_weights.py", "--model", model, "--state", pth, "--out", cm, "--verify", "1")
    assert out.returncode == 0, out.stderr
    assert "state_dict layout timm" in out.stdout

    # one uint8 image, preprocessed each side's way
    img = np.random.default_rng(3).integers(0, 256, (224, 224, 3), np.uint8)      # HWC, RGB
    rgb = (img.transpose(2, 0, 1) / 255.0 - np.array(timm_layout.TIMM_MEAN)[:, None, None]) \
        / np.array(timm_layout.TIMM_STD)[:, None, None]
    bgr = (img.transpose(2, 0, 1)[::-1].astype(np.float32)
           - np.array([103.53, 116.28, 123.675], np.float32)[:, None, None]) * np.float32(0.017352)
    with torch.no_grad():
        want = net(torch.from_numpy(rgb[None].astype(np.float32))).numpy()
    cn = caffe.Net(str(model), str(cm), caffe.TEST)
    cn.blobs["data"].data[...] = bgr[None]
    cn.forward()
    got = cn.blobs["ip1"].data.copy()
    # Caffe's one scale 0.017352 stands for 1/(255 * 0.226); folding the true per-channel stds
    # into conv1 makes the two pipelines the same function up to float rounding.
    assert rel_diff(want, got) <= TOL

    # and back: --layout timm gives the original keys and (to float rounding) the original values
    back = tmp_path / "back.pth"
    out = run_script("tools/export.py", "--model", model, "--weights", cm, "--to", "pytorch", "--layout", "timm",
                     "--out", back)
    assert out.returncode == 0, out.stderr
    sd0, sd1 = net.state_dict(), torch.load(back, weights_only=True)["state_dict"]
    assert set(sd1) == set(sd0)
    for k, v in sd0.items():
        assert torch.allclose(sd1[k].to(v.dtype), v, rtol=1e-5, atol=1e-6), k
    assert weights.read_caffemodel(cm)["conv1"][0].shape == (32, 3, 3, 3)


def test_caffe_pooling_clip_rule_in_all_three(caffe, caffe_pb2, torch, tmp_path):
    """A padded pool whose last window would start in the padding: Caffe drops it (5 -> 3, not 4)."""
    from simplenet_caffe.export import conversion, onnx_model, weights
    from simplenet_caffe.export.verify import Runners, check_random
    from simplenet_caffe.nets.netbuilder import layer
    from simplenet_caffe.protoio import write_text

    net = caffe_pb2.NetParameter(name="pooltest")
    net.layer.extend([
        layer("Input", "data", [], ["data"], input_param={"shape": [{"dim": [1, 2, 5, 5]}]}),
        layer("Convolution", "conv1", ["data"], ["conv1"], convolution_param={"num_output": 3, "kernel_size": [1],
                                                                              "weight_filler": {"type": "xavier"}}),
        layer("Pooling", "pool1", ["conv1"], ["pool1"], pooling_param={"pool": "MAX", "kernel_size": 2, "stride": 2,
                                                                       "pad": 1}),
        layer("InnerProduct", "ip1", ["pool1"], ["ip1"], inner_product_param={"num_output": 4,
                                                                              "weight_filler": {"type": "xavier"}}),
    ])
    model = tmp_path / "pool_deploy.prototxt"
    write_text(model, net)
    cm = tmp_path / "pool.caffemodel"
    random_caffemodel(caffe, model, cm)
    m = conversion.load_model(model)
    assert m.plan.steps[-1].channels == 3 * 3 * 3
    sd = weights.to_state_dict(m.plan, weights.read_caffemodel(cm))
    twin = conversion.twin_with(m.plan, sd)
    r = Runners(model, cm, m.plan, twin, onnx_model.build(m.plan, sd, m.prep, "pool"), batch=3)
    a = check_random(r, 3)
    assert a.rel_torch <= TOL and a.rel_onnx <= TOL, a.lines()


def test_bad_input_is_one_line(tmp_path, caffe_pb2):
    model = REPO_ROOT / "prototxt" / "mnist_s300a_demo_deploy.prototxt"
    junk = tmp_path / "junk.caffemodel"
    junk.write_bytes(b"\x00\x01not a caffemodel" * 10)
    cases = [
        ("tools/export.py", "--model", model, "--weights", tmp_path / "none.caffemodel", "--to", "onnx", "--out",
         tmp_path / "x.onnx"),
        ("tools/export.py", "--model", model, "--weights", junk, "--to", "pytorch", "--out", tmp_path / "x.safetensors"),
        ("tools/export.py", "--model", model, "--weights", junk, "--to", "onnx", "--out", tmp_path / "x.pt"),
        ("tools/import_weights.py", "--model", model, "--state", tmp_path / "none.pt", "--out", tmp_path / "x.caffemodel"),
        ("tools/import_weights.py", "--model", model, "--state", junk, "--out", tmp_path / "x.caffemodel"),
    ]
    for script, *args in cases:
        out = run_script(script, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and "error:" in out.stderr, out.stderr
    assert not list(tmp_path.glob("x.*"))


def test_wrong_net_is_refused_by_name(caffe, torch, tmp_path):
    cm = tmp_path / "s300a.caffemodel"
    random_caffemodel(caffe, REPO_ROOT / "prototxt" / "mnist_s300a_deploy.prototxt", cm)
    out = run_script("tools/export.py", "--model", REPO_ROOT / "prototxt" / "mnist_s310b_deploy.prototxt",
                     "--weights", cm, "--to", "pytorch", "--out", tmp_path / "x.safetensors")
    assert out.returncode == 2 and "conv1: blob 0 has shape" in out.stderr


def test_core_imports_without_the_extra():
    """The export package's plan/weights/preprocessing need neither torch nor onnx; a missing extra is one line."""
    code = ("import sys\n"
            "for m in ('torch', 'onnx', 'onnxruntime', 'safetensors'): sys.modules[m] = None\n"
            "from simplenet_caffe.export import conversion, plan, weights, preprocessing, need\n"
            "from simplenet_caffe.cli import UserError\n"
            "try:\n    need('torch')\nexcept UserError as e:\n    print(e)\n")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert 'pip install ".[export]"' in out.stdout


def test_plain_torch_state_dict_imports_with_factor_one(caffe, torch, tmp_path):
    """A state_dict saved from PyTorch alone (no caffe_* buffers, e.g. after training there) -> f = 1 blobs."""
    from simplenet_caffe.export import conversion, weights

    model = REPO_ROOT / "prototxt" / "mnist_s310b_deploy.prototxt"
    cm = tmp_path / "w.caffemodel"
    random_caffemodel(caffe, model, cm)
    m = conversion.load_model(model)
    sd = weights.to_state_dict(m.plan, weights.read_caffemodel(cm))
    plain = {k: torch.from_numpy(v) for k, v in sd.items() if ".caffe_" not in k}
    pth = tmp_path / "plain.pth"
    torch.save(plain, pth)
    back = tmp_path / "back.caffemodel"
    out = run_script("tools/import_weights.py", "--model", model, "--state", pth, "--out", back, "--verify", "2")
    assert out.returncode == 0, out.stderr
    assert "state_dict layout simplenet-caffe" in out.stdout
    blobs = weights.read_caffemodel(back)
    assert blobs["bn1"][2].tolist() == [1.0]
    assert blobs["bn1"][0].tobytes() == sd["bn1.running_mean"].tobytes()
    assert blobs["conv1"][0].tobytes() == sd["conv1.weight"].tobytes()
