"""The counter reproduces the check values of docs/spec.md (§1, §2, §9.3, §10.2, §12) exactly."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest
from google.protobuf import text_format

from _nets_helpers import inputs_net_file
from conftest import run_script
from simplenet_caffe.nets import counting, netbuilder
from simplenet_caffe.nets.experiments import EXPERIMENTS
from simplenet_caffe.paths import REPO_ROOT


def _exp(name, **kw):
    return replace(EXPERIMENTS[name], **kw) if kw else EXPERIMENTS[name]


def _count(exp, phase="TRAIN"):
    return counting.count_prototxt(netbuilder.train_val_net(exp), phase=phase)


# docs/spec.md §12: full learnable, weights only, BN stored floats, .caffemodel floats, Netscope params (+ MACs from §1/§2)
SECTION_12 = [
    ("A5M-DROP 3x32", _exp("cifar10_a5m_zeropad"), 5_493_258, 5_484_736, 3_978, 5_497_236, 652_151_296),
    ("A5M-NODROP 3x32", _exp("cifar10_a5m_zeropad", variant="a5m_nodrop"), 5_493_258, 5_484_736, 3_978, 5_497_236,
     652_151_296),
    ("A5M-NODROP 1x28", _exp("mnist_a5m_nodrop"), 5_492_106, 5_483_584, 3_978, 5_496_084, 509_275_648),
    ("A5M-FX2 1x28", _exp("mnist_a5m_fx2"), 5_490_570, 5_483_584, 3_978, 5_494_548, 493_874_688),
    ("A5M-C100 3x32", _exp("cifar100_a5m"), 5_516_388, 5_507_776, 3_978, 5_520_366, None),
    ("S310-B 3x32", _exp("svhn_s310b"), 311_594, 309_568, 1_098, 312_692, 55_788_160),
    ("S310-B 1x28", _exp("mnist_s310b"), 310_442, 308_416, 1_098, 311_540, 42_305_152),
    ("S300-A 3x32", _exp("cifar10_s300a"), 302_028, 300_296, 1_006, 303_034, 56_207_336),
    ("S300-A 1x28", _exp("mnist_s300a"), 301_452, 299_720, 1_006, 302_458, 43_003_112),
    ("S460 3x32", _exp("cifar10_s460"), 455_862, 453_832, 1_162, 457_024, 75_241_960),
    ("C100-MISC 3x32", _exp("cifar100_misc"), 19_959_140, 19_941_056, 10_637, 19_969_777, 919_281_664),
    ("IMNET-SLIM 3x227", _exp("imagenet_slim"), 383_624, 380_608, 1_098, 384_722, 353_401_024),
    ("IMNET-6.4M 3x227", _exp("imagenet_6p4m"), 6_410_728, 6_401_216, 3_978, 6_414_706, 1_894_155_008),
]


@pytest.mark.parametrize("label,exp,learnable,weights,bn,caffemodel,macs", SECTION_12, ids=[r[0] for r in SECTION_12])
def test_section_12_parameter_conventions(label, exp, learnable, weights, bn, caffemodel, macs):
    for net in (netbuilder.train_val_net(exp), netbuilder.deploy_net(exp)):
        c = counting.count_prototxt(net)
        assert (c.learnable, c.weights, c.bn_stored, c.caffemodel, c.netscope_params) == (
            learnable, weights, bn, caffemodel, learnable)
        if macs is not None:
            assert c.macs == macs


# docs/spec.md §9.3: PyTorch ImageNet family (params incl. BN affine = our Scale; GMACs at 224)
PT = [("imagenet_small_m1_05", 1_506_792, 0.341), ("imagenet_small_m2_05", 1_506_792, 0.428),
      ("imagenet_small_m1_075", 3_287_272, 0.759), ("imagenet_small_m2_075", 3_287_272, 0.954),
      ("imagenet_5m_m1", 5_752_808, 1.342), ("imagenet_5m_m2", 5_752_808, 1.689),
      ("imagenet_9m_m1", 9_508_968, 2.774), ("imagenet_9m_m2", 9_508_968, 3.555)]


@pytest.mark.parametrize("name,params,gmacs", PT)
def test_pytorch_family_counts(name, params, gmacs):
    c = counting.count_prototxt(netbuilder.deploy_net(EXPERIMENTS[name]))
    assert c.learnable == params
    assert round(c.macs / 1e9, 3) == gmacs
    bn_buffers = {1_506_792: 4_544, 3_287_272: 6_816, 5_752_808: 9_088, 9_508_968: 11_776}[params]
    assert c.bn_stored == bn_buffers + 13          # + one scale-factor float per Caffe BN layer


def test_readme_flops_row_is_the_6p4m_imagenet_net_at_227():
    """README: SimpleNet | MACC 1.9G | COMP 1.82M | ADD 1.5M | DIV 1.5M | Activations 6.38M | Params 6.4M | 24.4 MB."""
    c = _count(EXPERIMENTS["imagenet_6p4m"])
    assert (c.macc, c.comp, c.add, c.div, c.exp) == (1_895_651_328, 1_824_256, 1_497_320, 1_497_320, 1_000)
    assert c.macc - c.macs == 1_496_320                     # Scale layers
    assert c.activations == 6_381_611 and c.input_activations == 3 * 227 * 227
    assert c.netscope_params == 6_410_728
    assert c.size_mb == pytest.approx(24.455, abs=5e-4)
    shown = [counting._si(v) for v in (c.macc, c.comp, c.add, c.activations, c.netscope_params)]
    assert shown == ["1.90G", "1.82M", "1.50M", "6.38M", "6.41M"]


# docs/spec.md §10.2 Netscope-method numbers at 1x3x32x32, TRAIN phase: MACC, COMP, ADD(=DIV), activations, params
HEAD_NETSCOPE = [
    ("NoDropout", _exp("cifar10_a5m_zeropad", variant="a5m_nodrop"), 652_732_928, 837_632, 581_642, 2_506_004),
    ("DropoutAll", _exp("cifar10_a5m_zeropad"), 652_732_928, 1_354_752, 581_642, 3_023_124),
    ("S310-B", _exp("cifar10_s310b"), 55_982_720, 254_464, 194_570, 814_932),
    ("S460", _exp("cifar10_s460"), 75_452_392, 301_856, 210_442, 882_968),
]


@pytest.mark.parametrize("label,exp,macc,comp,add,act", HEAD_NETSCOPE, ids=[r[0] for r in HEAD_NETSCOPE])
def test_section_10_netscope_columns_for_head_templates(label, exp, macc, comp, add, act):
    c = _count(exp)
    assert (c.macc, c.comp, c.add, c.div, c.exp) == (macc, comp, add, add, 10)
    # the Models/* templates have no data layer: their activations exclude the input
    assert c.activations - c.input_activations == act
    assert c.netscope_params == c.learnable


def test_section_10_s300a_log_net_counts_its_data_layer():
    c = _count(EXPERIMENTS["cifar10_s300a"])
    assert (c.macc, c.comp, c.add, c.activations, round(c.size_mb, 2)) == (56_380_904, 230_688, 173_578, 728_216,
                                                                           1.15)


def test_legacy_input_header_is_not_an_activation(caffe_pb2):
    deploy = netbuilder.deploy_net(EXPERIMENTS["cifar10_s460"])
    legacy = caffe_pb2.NetParameter()
    legacy.CopyFrom(deploy)
    del legacy.layer[0]
    legacy.input.append("data")
    legacy.input_dim.extend([1, 3, 32, 32])
    a, b = counting.count_prototxt(deploy), counting.count_prototxt(legacy)
    assert b.activations == a.activations - 3 * 32 * 32 and b.learnable == a.learnable and b.macs == a.macs


def test_per_layer_rows_match_section_1_1():
    """§1.1 per-layer table: learnable (conv + its Scale), MACs and conv output shape; post-op order."""
    rows = {r.name: r for r in counting.count_prototxt(netbuilder.deploy_net(EXPERIMENTS["cifar10_a5m_zeropad"])).rows}
    table = {"conv1": (1_920, 1_769_472, (64, 32, 32)), "conv1_0": (74_112, 75_497_472, (128, 32, 32)),
             "conv2": (147_840, 150_994_944, (128, 32, 32)), "conv2_1": (147_840, 150_994_944, (128, 32, 32)),
             "conv2_2": (147_840, 37_748_736, (128, 16, 16)), "conv3": (147_840, 37_748_736, (128, 16, 16)),
             "conv4": (295_680, 75_497_472, (256, 16, 16)), "conv4_1": (590_592, 37_748_736, (256, 8, 8)),
             "conv4_2": (590_592, 37_748_736, (256, 8, 8)), "conv4_0": (1_181_184, 18_874_368, (512, 4, 4)),
             "cccp4": (1_050_624, 16_777_216, (2048, 4, 4)), "cccp5": (524_544, 8_388_608, (256, 4, 4)),
             "cccp6": (590_080, 2_359_296, (256, 2, 2)), "ip1": (2_570, 2_560, (10,))}
    for conv, (params, macs, shape) in table.items():
        scale = rows.get("scale" + conv[4:]) if conv.startswith("conv") else None
        learnable = rows[conv].learnable + (scale.learnable if scale else 0)
        assert (learnable, rows[conv].macs, rows[conv].shape) == (params, macs, shape), conv
    post = {"conv1": ["bn1", "scale1", "relu1", "drop1"],
            "conv2_1": ["bn2_1", "scale2_1", "relu2_1", "pool2_1", "drop4"],
            "conv4": ["pool4", "bn4", "scale4", "relu4", "drop7"],
            "conv4_2": ["bn4_2", "scale4_2", "relu4_2", "drop9", "pool4_2"],
            "cccp5": ["relu_cccp5", "poolcp5", "drop12"], "cccp6": ["relu_cccp6", "poolcp6", "ip1"]}
    names = list(rows)
    for conv, ops in post.items():
        i = names.index(conv)
        assert names[i + 1:i + 1 + len(ops)] == ops, conv
    assert rows["poolcp6"].shape == (256, 1, 1) and rows["pool4_2"].shape == (256, 4, 4)


def test_caffemodel_float_count_matches_a_real_caffemodel(caffe, caffe_pb2, tmp_path):
    """Convention (d) against bytes: save S300-A MNIST with pycaffe, decode, sum the blobs (spec: 302,458)."""
    path = inputs_net_file(caffe_pb2, EXPERIMENTS["mnist_s300a"], batch=1, tmpdir=tmp_path)
    net = caffe.Net(path, caffe.TEST)
    net.save(str(tmp_path / "m.caffemodel"))
    saved = caffe_pb2.NetParameter()
    saved.ParseFromString((tmp_path / "m.caffemodel").read_bytes())
    total = sum(len(b.data) for lp in saved.layer for b in lp.blobs)
    bn = sum(len(b.data) for lp in saved.layer if lp.type == "BatchNorm" for b in lp.blobs)
    c = counting.count_prototxt(path)
    assert total == c.caffemodel == 302_458 and bn == c.bn_stored == 1_006
    assert sum(p.data.size for ps in net.params.values() for p in ps) == 302_458


def test_count_params_cli_formats(tmp_path):
    r = run_script("tools/count_params.py", "prototxt/imagenet_6p4m_train_val.prototxt")
    assert r.returncode == 0, r.stderr
    assert "full learnable 6,410,728" in r.stdout and "MACC 1.90G COMP 1.82M" in r.stdout
    assert "activations 6.38M params 6.41M size 24.45 MB" in r.stdout
    r = run_script("tools/count_params.py", "--experiment", "mnist_s300a", "--format", "json", "-o", tmp_path / "c.json")
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "c.json").read_text())
    assert d["totals"]["learnable"] == 301_452 and d["totals"]["macs"] == 43_003_112
    assert d["layers"][-1]["name"] == "prob" and d["input_shape"] == [1, 28, 28]
    r = run_script("tools/count_params.py", "prototxt/svhn_s310b_deploy.prototxt", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[-1]["name"] == "TOTAL" and int(rows[-1]["learnable"]) == 311_594
    assert sum(int(x["learnable"]) for x in rows[:-1]) == 311_594
    r = run_script("tools/count_params.py", "prototxt/svhn_s310b_deploy.prototxt", "--input-shape", "3,40,40")
    assert r.returncode == 0 and "input 3x40x40" in r.stdout


def test_count_params_cli_errors(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text("layer { name: 'a' type: 'Convolution' bogus_field: 3 }\n")
    for args, msg in [((tmp_path / "none.prototxt",), "no such file"), ((bad,), "not a valid Caffe NetParameter"),
                      (("prototxt/svhn_s310b_deploy.prototxt", "--input-shape", "3,x"), "expected C,H,W"),
                      (("--experiment", "nope"), "unknown experiment")]:
        r = run_script("tools/count_params.py", *args)
        assert r.returncode == 2, args
        assert msg in r.stderr and "Traceback" not in r.stderr
    unk = tmp_path / "unk.prototxt"
    unk.write_text(text_format.MessageToString(netbuilder.deploy_net(EXPERIMENTS["mnist_s300a"]))
                   + "layer { name: 'lrn' type: 'LRN' bottom: 'prob' top: 'lrn' }\n")
    r = run_script("tools/count_params.py", unk)
    assert r.returncode == 2 and "LRN is not supported" in r.stderr


def test_count_prototxt_on_committed_files_agrees_with_in_memory_nets():
    for e in EXPERIMENTS.values():
        if e.net_from:
            continue
        a = counting.count_prototxt(str(REPO_ROOT / e.train_val_path))
        b = counting.count_prototxt(netbuilder.train_val_net(e))
        assert a.totals() == b.totals()
