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
from simplenet_caffe.errors import UserError


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="deploy prototxt the weights are for")
    ap.add_argument("--state", required=True, help="state_dict: .safetensors, .pt or .pth")
    ap.add_argument("--out", required=True, help="caffemodel to write")
    ap.add_argument("--layout", choices=["auto", "simplenet-caffe", "timm"], default="auto",
                    help="key layout of --state (default: detect)")
    ap.add_argument("--keep-input", action="store_true", help="timm layout: copy conv1 unchanged")
    ap.add_argument("--experiment", help="experiment of the net (default: from the file name)")
    ap.add_argument("--verify", type=int, default=0, metavar="N", help="check N random inputs before writing")
    ap.add_argument("--check-data", nargs="?", const="", metavar="LMDB",
                    help="check a whole LMDB (default: the experiment's TEST LMDB) before writing")
    ap.add_argument("--limit", type=int, help="with --check-data: only the first N records")
    ap.add_argument("--batch", type=int, default=100, help="batch size of the checks (default 100)")
    a = ap.parse_args(argv)
    if a.batch < 1 or a.verify < 0:
        raise UserError("--batch must be at least 1 and --verify at least 0")
    if Path(a.out).suffix != ".caffemodel":
        raise UserError(f"--out {a.out}: write a .caffemodel")
    if not Path(a.model).is_file():
        raise UserError(f"model not found: {a.model}")

    from simplenet_caffe.export import conversion

    data = None
    if a.check_data is not None:
        data = a.check_data or conversion.default_data(conversion.load_model(a.model, a.experiment))
        if not data:
            raise UserError("--check-data: no LMDB given and the net's experiment is unknown")
    res = conversion.import_weights(a.model, a.state, a.out, experiment=a.experiment, layout=a.layout,
                                  keep_input=a.keep_input, n_random=a.verify, data=data, batch=a.batch, limit=a.limit)
    print(f"net       {res['plan'].name}, state_dict layout {res['layout']}")
    for c in res["checks"]:
        for line in c.lines():
            print(f"check     {line}")
    print(f"wrote     {a.out}")
    return 0



def entry() -> None:
    """The ``simplenet-import-weights`` command (also ``tools/import_weights.py``)."""
    run(main)
