"""``simplenet-import-weights``: turn a PyTorch SimpleNet state_dict into a caffemodel for a generated deploy net.

  import_weights.py --model prototxt/mnist_s300a_demo_deploy.prototxt --state net.safetensors --out W.caffemodel
  import_weights.py --model prototxt/imagenet_5m_m2_deploy.prototxt --state simplenet_5m_m2.pth --out W.caffemodel

The state_dict is the project's twin module's (keys = Caffe layer names, as tools/export.py
writes) or the SimpleNet_Pytorch/timm layout (`features.N.*`, `classifier.*`; ImageNet family
nets only), told apart by its keys (or --layout).  timm weights expect RGB input scaled to 0-1
and standardised per channel; the Caffe nets take BGR 0-255 minus the mean times one scale, so
conv1 is refitted to that exactly (--keep-input copies it unchanged).  BatchNorm running stats
become Caffe's mean/variance blobs with scale factor 1 (or the original blobs, bit for bit,
when the state_dict came from tools/export.py and was not retrained).

Then `caffe test -model <train_val> -weights W.caffemodel` evaluates it. --verify N / --check-data
compare Caffe with the new caffemodel against the PyTorch twin and onnxruntime before writing.
Needs the [export] extra: pip install ".[export]".
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.commands.export import add_check_options, check_data_source, print_checks
from simplenet_caffe.errors import UserError
from simplenet_caffe.export import conversion


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="deploy prototxt the weights are for")
    ap.add_argument("--state", required=True, help="state_dict: .safetensors, .pt or .pth")
    ap.add_argument("-o", "--out", required=True, help="caffemodel to write")
    ap.add_argument("--layout", choices=["auto", "simplenet-caffe", "timm"], default="auto",
                    help="key layout of --state (default: detect)")
    ap.add_argument("--keep-input", action="store_true", help="timm layout: copy conv1 unchanged")
    ap.add_argument("--experiment", help="experiment of the net (default: from the file name)")
    add_check_options(ap)
    a = ap.parse_args(argv)
    if Path(a.out).suffix != ".caffemodel":
        raise UserError(f"--out {a.out}: write a .caffemodel")
    if not Path(a.model).is_file():
        raise UserError(f"model not found: {a.model}")

    data = check_data_source(a)
    res = conversion.import_weights(a.model, a.state, a.out, experiment=a.experiment, layout=a.layout,
                                    keep_input=a.keep_input, n_random=a.verify, data=data, batch=a.batch_size, limit=a.limit)
    print(f"net       {res['plan'].name}, state_dict layout {res['layout']}")
    print_checks(res["checks"])
    print(f"wrote     {a.out}")
    return 0


def entry() -> None:
    """The ``simplenet-import-weights`` command (also ``tools/import_weights.py``)."""
    run(main)
