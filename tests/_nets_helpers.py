"""Helpers shared by tests/test_nets*.py and tests/test_counting*.py."""
from __future__ import annotations

import tempfile
from pathlib import Path

from google.protobuf import text_format

from simplenet_caffe.nets import netbuilder
from simplenet_caffe.nets.experiments import EXPERIMENTS
from simplenet_caffe.paths import REPO_ROOT

#: experiments that own a net (solver-only experiments reuse another's)
NET_EXPERIMENTS = [e for e in EXPERIMENTS.values() if e.net_from is None]

#: Spatial size of named blobs (docs/spec.md §1, §2, §9.3, §12 feature-map sequences, Caffe ceil pooling).
_CIFAR = {"conv1": 32, "pool2_1": 16, "pool4": 8, "pool4_2": 4, "poolcp5": 2, "poolcp6": 1}
_MNIST = {"conv1": 28, "pool2_1": 14, "pool4": 7, "pool4_2": 4, "poolcp5": 2, "poolcp6": 1}
_PT_M1 = {"conv1": 112, "conv1_0": 56, "conv2": 28, "conv2_1": 28, "pool3": 14, "pool4_0": 7, "cccp6": 7,
          "poolcp6": 1}
_PT_M2 = {"conv1": 112, "conv1_0": 56, "conv2": 56, "conv2_1": 28, "pool3": 14, "pool4_0": 7, "cccp6": 7,
          "poolcp6": 1}
EXPECTED_SPATIAL = {
    ("a5m_drop", 32): _CIFAR, ("a5m_nodrop", 32): _CIFAR, ("s310b", 32): _CIFAR, ("s300a", 32): _CIFAR,
    ("s460", 32): _CIFAR,
    ("c100_misc", 32): {**_CIFAR, "cccp5": 2, "poolcp5": 1, "cccp6": 1, "poolcp6": 1, "fc_conv": 3},
    ("a5m_nodrop", 28): _MNIST, ("s310b", 28): _MNIST, ("s300a", 28): _MNIST,
    ("a5m_fx2", 28): {"pool2_1": 14, "pool4": 7, "pool4_2": 4, "cccp4": 3, "cccp5": 2, "poolcp5": 1, "cccp6": 1,
                      "poolcp6": 1},
    ("imnet_slim", 227): {"conv1": 75, "pool2_1": 38, "pool4": 19, "pool4_2": 10, "poolcp5": 5, "cccp6": 5,
                          "poolcp6": 1},
    ("imnet_6p4m", 227): {"conv1": 74, "conv1_0": 74, "conv2": 34, "pool2_1": 17, "pool4": 9, "pool4_2": 5,
                          "poolcp5": 3, "poolcp6": 1},
    **{(f"pt_{v}", 224): (_PT_M1 if "m1" in v else _PT_M2)
       for v in ("5m_m1", "5m_m2", "9m_m1", "9m_m2", "small_m1_05", "small_m2_05", "small_m1_075", "small_m2_075")},
}


def read_net(pb2, rel: str):
    net = pb2.NetParameter()
    text_format.Merge((REPO_ROOT / rel).read_text(), net)
    return net


def inputs_net_file(pb2, exp, batch: int = 2, tmpdir: Path | None = None) -> str:
    """The experiment's committed train_val net with Data layers swapped for Input, as a temp file."""
    net = netbuilder.train_val_to_inputs(read_net(pb2, exp.train_val_path), batch=batch)
    f = tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False, dir=tmpdir)
    f.write(text_format.MessageToString(net))
    f.close()
    return f.name
