"""Generated nets and solvers: up to date, strictly parseable, instantiable in pycaffe with the
spec's shapes, faithful layer settings, and train_val -> deploy weight transfer."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from _nets_helpers import EXPECTED_SPATIAL, NET_EXPERIMENTS, inputs_net_file, read_net
from conftest import run_script
from simplenet_caffe.nets import arch, counting, generate, netbuilder
from simplenet_caffe.nets.experiments import EXPERIMENTS
from simplenet_caffe.data.layout import LAYOUTS
from simplenet_caffe.paths import REPO_ROOT

IDS = [e.name for e in NET_EXPERIMENTS]


def test_gen_check_passes_on_committed_files():
    r = run_script("tools/gen_prototxt.py", "--check")
    assert r.returncode == 0, r.stderr
    assert "generated files match" in r.stdout


def test_gen_check_lists_every_difference(tmp_path):
    for d in ("prototxt", "solvers"):
        shutil.copytree(REPO_ROOT / d, tmp_path / d)
    (tmp_path / "solvers/cifar10_solver.prototxt").write_text("base_lr: 0.5\n")
    (tmp_path / "prototxt/mnist_s300a_deploy.prototxt").unlink()
    (tmp_path / "prototxt/old_net.prototxt").write_text("name: 'x'\n")
    r = run_script("tools/gen_prototxt.py", "--check", "--root", tmp_path)
    assert r.returncode == 1
    assert "differs: solvers/cifar10_solver.prototxt" in r.stderr
    assert "missing: prototxt/mnist_s300a_deploy.prototxt" in r.stderr
    assert "not generated (stale?): prototxt/old_net.prototxt" in r.stderr
    assert "3 generated file(s) out of date" in r.stderr
    # regenerating into that root repairs it (and only rewrites what changed)
    r = run_script("tools/gen_prototxt.py", "--root", tmp_path, "--remove-stale")
    assert r.returncode == 0, r.stderr
    assert "2 written, 0 removed" in r.stdout   # old_net has no generator header: kept
    (tmp_path / "prototxt/old_net.prototxt").unlink()
    assert run_script("tools/gen_prototxt.py", "--check", "--root", tmp_path).returncode == 0


def test_every_generated_file_parses_strictly(caffe_pb2):
    files = generate.render()
    assert len([f for f in files if f.startswith("solvers/")]) == len(EXPERIMENTS) + 1   # + cifar10_solver
    for rel in files:
        if not rel.endswith(".prototxt"):
            continue
        msg = caffe_pb2.SolverParameter() if rel.startswith("solvers/") else caffe_pb2.NetParameter()
        text_format.Merge((REPO_ROOT / rel).read_text(), msg)   # raises on any unknown field
        assert msg.ListFields()
    with pytest.raises(text_format.ParseError):
        text_format.Merge("name: 'x'\nlayer { name: 'a' type: 'ReLU' no_such_field: 1 }", caffe_pb2.NetParameter())


@pytest.mark.parametrize("name", IDS)
def test_deploy_instantiates_with_spec_shapes(caffe, caffe_pb2, name):
    exp = EXPERIMENTS[name]
    net = caffe.Net(str(REPO_ROOT / exp.deploy_path), caffe.TEST)
    c, h, w = exp.input_shape
    assert net.blobs["data"].data.shape == (1, c, h, w)
    assert net.blobs["prob"].data.shape == (1, exp.num_classes)
    types = [lp.type for lp in read_net(caffe_pb2, exp.deploy_path).layer]
    assert types[0] == "Input" and types[-1] == "Softmax"
    assert not {"Data", "SoftmaxWithLoss", "Accuracy"} & set(types)
    # spec feature-map sequence, and conv widths from the variant table
    expected = EXPECTED_SPATIAL[(exp.variant, h)]
    for blob, size in expected.items():
        assert net.blobs[blob].data.shape[2:] == (size, size), blob
    convs, _ = arch.expand(exp.variant)
    for cl in convs:
        assert net.params[cl.name][0].data.shape[0] == cl.num_output
        assert net.blobs[cl.name].data.shape[1] == cl.num_output
    # the pure-Python counter infers the same shape for every blob pycaffe built
    for row in counting.count_prototxt(str(REPO_ROOT / exp.deploy_path)).rows:
        if row.top in net.blobs and row.type not in ("BatchNorm", "Scale", "ReLU", "Dropout"):
            assert net.blobs[row.top].data.shape[1:] == tuple(row.shape), row.name


@pytest.mark.parametrize("name", IDS)
def test_train_val_instantiates_in_both_phases(caffe, caffe_pb2, tmp_path, name):
    exp = EXPERIMENTS[name]
    path = inputs_net_file(caffe_pb2, exp, batch=2, tmpdir=tmp_path)
    train, test = caffe.Net(path, caffe.TRAIN), caffe.Net(path, caffe.TEST)
    head = arch.VARIANTS[exp.variant].classifier
    for net in (train, test):
        assert net.blobs["data"].data.shape == (2, *exp.input_shape)
        assert net.blobs[head].data.shape == (2, exp.num_classes)
        assert net.blobs["loss"].data.shape == ()
        for blob, size in EXPECTED_SPATIAL[(exp.variant, exp.input_shape[1])].items():
            assert net.blobs[blob].data.shape[2:] == (size, size), blob
    assert "accuracy" in test.blobs and ("accuracy_training" in train.blobs) == exp.accuracy_training
    assert ("accuracy_top5" in test.blobs) == exp.top5
    assert list(train.params) == list(test.params)


@pytest.mark.parametrize("name", IDS)
def test_train_val_layer_settings_follow_the_spec(caffe_pb2, name):
    exp = EXPERIMENTS[name]
    net = read_net(caffe_pb2, exp.train_val_path)
    by_name: dict[str, list] = {}
    for lp in net.layer:
        by_name.setdefault(lp.name, []).append(lp)
    lay = LAYOUTS[exp.data.layout]
    # data layers: one per phase, LMDB paths from layout.py
    data = by_name["data"]
    assert [caffe_pb2.Phase.Name(d.include[0].phase) for d in data] == ["TRAIN", "TEST"]
    assert [d.data_param.source for d in data] == [lay.train_lmdb, lay.test_lmdb]
    assert all(d.data_param.backend == caffe_pb2.DataParameter.LMDB for d in data)
    assert [d.data_param.batch_size for d in data] == [exp.data.train_batch, exp.data.test_batch]
    assert [d.transform_param.mirror for d in data] == [exp.data.train_mirror, exp.data.test_mirror]
    assert all(d.transform_param.crop_size == (exp.data.crop or 0) for d in data)
    for d in data:
        assert d.transform_param.mean_file == (lay.mean_file if exp.data.mean_file else "")
    bns = [lp for lp in net.layer if lp.type == "BatchNorm"]
    for lp in bns:   # TRAIN/TEST pairs with the same name, maf 0.95, three lr-0 params
        pair = by_name[lp.name]
        assert [caffe_pb2.Phase.Name(p.include[0].phase) for p in pair] == ["TRAIN", "TEST"]
        assert [p.batch_norm_param.use_global_stats for p in pair] == [False, True]
        assert all(abs(p.batch_norm_param.moving_average_fraction - 0.95) < 1e-7 for p in pair)
        assert [(q.lr_mult, q.decay_mult) for q in lp.param] == [(0, 0)] * 3
        assert lp.bottom == lp.top
    for lp in net.layer:
        if lp.type == "Scale":
            assert lp.scale_param.bias_term and lp.bottom == lp.top and not lp.param
        if lp.type == "Convolution":
            mults = [(p.lr_mult, p.decay_mult) for p in lp.param]
            assert mults == ([(1, 1), (2, 0)] if lp.name.startswith(("cccp", "fc_conv")) else [(1, 1)])
            filler = lp.convolution_param.weight_filler
            if lp.name in ("conv2", "conv2_1", "conv2_2"):
                assert (filler.type, filler.std) == ("gaussian", pytest.approx(0.01))
            else:
                assert filler.type == "xavier"
            assert lp.convolution_param.bias_filler.type == "constant"
        if lp.type == "InnerProduct":
            assert [(p.lr_mult, p.decay_mult) for p in lp.param] == [(1, 0), (2, 0)]
        if lp.type == "Pooling" and not lp.pooling_param.global_pooling:
            assert (lp.pooling_param.kernel_size, lp.pooling_param.stride) == (2, 2)


def test_caffe_family_structure_matches_section_1():
    """A5M-DROP: 12 dropouts 0.2 in the §1.1 places; conv4 pooled before bn4; no BN on cccp."""
    exp = EXPERIMENTS["cifar10_a5m_zeropad"]
    layers = list(netbuilder.deploy_net(exp).layer)
    order = [lp.name for lp in layers]
    drops = [lp for lp in layers if lp.type == "Dropout"]
    assert len(drops) == 12 and all(lp.dropout_param.dropout_ratio == pytest.approx(0.2) for lp in drops)
    prev = {lp.name: order[i - 1] for i, lp in enumerate(layers) if lp.type == "Dropout"}
    assert sorted(prev.values()) == sorted(["relu1", "relu1_0", "relu2", "pool2_1", "relu2_2", "relu3", "relu4",
                                            "relu4_1", "relu4_2", "relu4_0", "relu_cccp4", "poolcp5"])
    assert order.index("pool4") == order.index("conv4") + 1 and order.index("bn4") == order.index("pool4") + 1
    assert order.index("pool4_2") == order.index("drop9") + 1
    assert not any(n.startswith("bn") and "cccp" in n for n in order)
    assert [n for n in order if n.startswith("relu_cccp")] == ["relu_cccp4", "relu_cccp5", "relu_cccp6"]
    assert order[-2:] == ["ip1", "prob"] and order[-3] == "poolcp6"


def test_solvers_follow_the_logs(caffe_pb2):
    def solver(name):
        s = caffe_pb2.SolverParameter()
        text_format.Merge((REPO_ROOT / f"solvers/{name}_solver.prototxt").read_text(), s)
        return s

    default, z = solver("cifar10"), solver("cifar10_a5m_zeropad")
    # the same schedule, but its own snapshots: RESUME of one run must never pick up the other's
    assert default.snapshot_prefix == "snapshots/cifar10/cifar10"
    default.snapshot_prefix = z.snapshot_prefix
    assert default == z
    prefixes = [solver(p.name[:-len("_solver.prototxt")]).snapshot_prefix
                for p in (REPO_ROOT / "solvers").glob("*_solver.prototxt")]
    assert len(set(prefixes)) == len(prefixes)
    assert (z.type, z.base_lr, z.momentum, z.delta, z.weight_decay) == ("AdaDelta", pytest.approx(0.1),
                                                                          pytest.approx(0.9), pytest.approx(1e-3),
                                                                          pytest.approx(0.005))
    assert list(z.stepvalue) == [50000, 95000, 253000, 295000, 320000, 370000] and z.lr_policy == "multistep"
    assert (z.max_iter, list(z.test_iter), z.test_interval, z.snapshot, z.random_seed) == (400000, [400], 500, 500,
                                                                                             1705)
    assert z.net == "prototxt/cifar10_a5m_zeropad_train_val.prototxt"
    assert z.snapshot_prefix == "snapshots/cifar10_a5m_zeropad/cifar10_a5m_zeropad"
    s = solver("cifar10_s300a")
    assert (s.type, s.weight_decay, list(s.test_iter), s.test_interval, s.HasField("random_seed")) == (
        "Nesterov", pytest.approx(0.0052), [200], 1000, False)
    c100 = solver("cifar100_a5m")
    assert list(c100.stepvalue)[-2:] == [320000, 270000] and c100.weight_decay == pytest.approx(0.002)
    ft = solver("mnist_a5m_nodrop_ft_fixed")
    assert (ft.type, ft.lr_policy, ft.weight_decay) == ("SGD", "fixed", 0)
    assert not ft.HasField("momentum2") and ft.weights
    demo = solver("mnist_s300a_demo")
    assert demo.solver_mode == caffe_pb2.SolverParameter.CPU and demo.snapshot == demo.max_iter
    for e in EXPERIMENTS.values():
        s = solver(e.name)
        assert (REPO_ROOT / s.net).is_file() and s.snapshot_prefix == f"snapshots/{e.name}/{e.name}"


def test_solvers_instantiate_in_pycaffe(caffe, caffe_pb2, tmp_path):
    """Every solver type/field combination is accepted by Caffe (nets swapped for Input versions)."""
    seen = set()
    for e in EXPERIMENTS.values():
        s = caffe_pb2.SolverParameter()
        text_format.Merge((REPO_ROOT / e.solver_path).read_text(), s)
        key = (s.type, s.lr_policy, e.variant)
        if key in seen or e.variant.startswith("pt_9m"):
            continue
        seen.add(key)
        s.net = inputs_net_file(caffe_pb2, EXPERIMENTS[e.net_experiment], batch=1, tmpdir=tmp_path)
        s.snapshot_prefix = str(tmp_path / "snap")
        s.solver_mode = caffe_pb2.SolverParameter.CPU
        del s.weights[:]
        p = tmp_path / f"{e.name}_solver.prototxt"
        p.write_text(text_format.MessageToString(s))
        solver = caffe.get_solver(str(p))
        assert solver.iter == 0 and len(solver.test_nets) == 1
    assert {k[0] for k in seen} == {"AdaDelta", "Nesterov", "SGD", "RMSProp"}


@pytest.mark.parametrize("name", ["mnist_s300a", "cifar10_a5m_zeropad", "imagenet_small_m2_05", "cifar100_misc"])
def test_caffemodel_from_train_val_loads_into_deploy(caffe, caffe_pb2, tmp_path, name):
    exp = EXPERIMENTS[name]
    path = inputs_net_file(caffe_pb2, exp, batch=2, tmpdir=tmp_path)
    rng = np.random.default_rng(0)
    train = caffe.Net(path, caffe.TRAIN)
    for _ in range(2):   # move the BN running statistics away from their initial zeros
        train.blobs["data"].data[...] = rng.standard_normal(train.blobs["data"].data.shape)
        train.forward()
    model = tmp_path / "m.caffemodel"
    train.save(str(model))
    saved = caffe_pb2.NetParameter()
    saved.ParseFromString(model.read_bytes())
    saved_shapes = {lp.name: [tuple(b.shape.dim) for b in lp.blobs] for lp in saved.layer if lp.blobs}
    deploy_param = read_net(caffe_pb2, exp.deploy_path)
    deploy_layers = {lp.name for lp in deploy_param.layer}
    assert set(saved_shapes) <= deploy_layers        # copy_from matches by name: nothing skipped
    deploy = caffe.Net(str(REPO_ROOT / exp.deploy_path), caffe.TEST)
    assert {k: [tuple(b.data.shape) for b in v] for k, v in deploy.params.items()} == saved_shapes
    deploy.copy_from(str(model))
    test = caffe.Net(path, caffe.TEST, weights=str(model))
    for k in deploy.params:
        for a, b in zip(deploy.params[k], test.params[k]):
            np.testing.assert_array_equal(a.data, b.data)
    bn = next(n for n in deploy.params if n.startswith("bn"))
    assert deploy.params[bn][2].data[0] > 0          # the statistics really came across
    x = rng.standard_normal((2, *exp.input_shape)).astype(np.float32)
    deploy.blobs["data"].reshape(*x.shape)
    deploy.reshape()
    deploy.blobs["data"].data[...] = x
    prob = deploy.forward()["prob"].copy()
    test.blobs["data"].data[...] = x
    test.forward()
    logits = test.blobs[arch.VARIANTS[exp.variant].classifier].data
    ref = np.exp(logits - logits.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(prob, ref, rtol=1e-5, atol=1e-6)
    assert prob.shape == (2, exp.num_classes) and not np.allclose(prob[0], prob[1])


def test_train_val_to_inputs_shapes(caffe_pb2):
    exp = EXPERIMENTS["imagenet_slim"]
    net = netbuilder.train_val_to_inputs(netbuilder.train_val_net(exp), batch=3)
    inputs = [lp for lp in net.layer if lp.type == "Input"]
    assert len(inputs) == 2 and not [lp for lp in net.layer if lp.type == "Data"]
    assert [list(s.dim) for s in inputs[0].input_param.shape] == [[3, 3, 227, 227], [3]]
    assert netbuilder.data_layer_shape(netbuilder.train_val_net(EXPERIMENTS["svhn_a5m"]).layer[0]) == (3, 32, 32)
    with pytest.raises(Exception, match="not a known layout"):
        lp = netbuilder.train_val_net(exp).layer[0]
        lp.data_param.source = "data/nowhere_lmdb"
        netbuilder.data_layer_shape(lp)


def test_generated_readme_lists_every_experiment():
    text = (REPO_ROOT / "prototxt/README.md").read_text()
    for e in EXPERIMENTS.values():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {e.name} |"))
        c = counting.count_prototxt(netbuilder.deploy_net(EXPERIMENTS[e.net_experiment]))
        assert f"| {c.learnable:,} |" in line and f"| {c.macs:,} |" in line and f"| {e.reported} |" in line
    assert "| cifar10_a5m_zeropad_mirrortest | A5M-DROP | cifar10_zeropad | 3x32x32 | 5,493,258 |" in text
    assert "| 95.32 |" in text and "| 652,151,296 |" in text


def test_demo_experiment_is_short_and_cpu():
    e = EXPERIMENTS["mnist_s300a_demo"]
    assert e.variant == "s300a" and e.data.layout == "mnist_norm"
    s = e.schedule
    # one epoch of MNIST at batch 100, the paper's solver type, momentum and weight decay
    assert (s.solver_mode, s.type, s.max_iter, e.data.train_batch) == ("CPU", "Nesterov", 600, 100)
    assert (s.momentum, s.weight_decay) == (0.9, 0.005)
    assert (s.base_lr, s.lr_policy, s.power) == (0.05, "poly", 1.0)
    head = (REPO_ROOT / e.solver_path).read_text().splitlines()[:6]
    assert any("shortened schedule derived from the paper's s300-a mnist solver" in ln.lower() for ln in head)


def test_draw_net_png_and_dot(tmp_path):
    r = run_script("tools/draw_net.py", "prototxt/mnist_s300a_train_val.prototxt", "-o", tmp_path / "n.png")
    assert r.returncode == 0, r.stderr
    png = (tmp_path / "n.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
    r = run_script("tools/draw_net.py", "--experiment", "cifar10_s460", "-o", tmp_path / "n.dot", "--rankdir", "LR")
    assert r.returncode == 0, r.stderr
    dot = (tmp_path / "n.dot").read_text()
    for name in ("conv1", "bn4_0", "poolcp6", "ip1", "prob", "96x4x4", "params 83,040"):
        assert name in dot
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]   # no temp leftovers
    r = run_script("tools/draw_net.py", "prototxt/mnist_s300a_train_val.prototxt", "-o", tmp_path / "n.bmpx")
    assert r.returncode == 2 and "unsupported picture format" in r.stderr and "Traceback" not in r.stderr
