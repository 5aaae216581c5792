"""``simplenet-export``: export a Caffe SimpleNet (deploy prototxt + caffemodel) to PyTorch or ONNX, verified.

  export.py --model prototxt/mnist_s300a_demo_deploy.prototxt --weights W.caffemodel --to pytorch --out net.safetensors
  export.py --model ... --weights W.caffemodel --to onnx --out net.onnx --verify 8
  export.py --model ... --weights W.caffemodel --to onnx --out net.onnx --check-data     # whole TEST LMDB

PyTorch: a state_dict (.safetensors, or .pt/.pth) of the project's twin module (keys = Caffe
layer names, BatchNorm+Scale as one affine BatchNorm2d; load it with
simplenet_caffe.export.files.load_module, which needs torch and safetensors only), or with
--layout timm the SimpleNet_Pytorch/timm `features.N.*`/`classifier.*` keys (ImageNet family
only; conv1 is refitted to RGB 0-1 input standardised per channel unless --keep-input).
ONNX: opset 17, input `data` (N x C x H x W), outputs `logits` and `prob`; the input
preprocessing is model metadata (`simplenet.input`, `simplenet.preprocessing`).

--verify N runs N random inputs and --check-data [LMDB] a whole LMDB (default: the net's TEST
LMDB) through Caffe, the PyTorch twin and onnxruntime, prints top-1 of each and the largest
logit difference, and writes nothing when they differ by more than 1e-4 of the largest logit.
Needs the [export] extra: pip install ".[export]".
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.export import conversion


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="deploy prototxt (a generated prototxt/*_deploy.prototxt)")
    ap.add_argument("--weights", required=True, help=".caffemodel")
    ap.add_argument("--to", required=True, choices=["pytorch", "onnx"])
    ap.add_argument("-o", "--out", required=True, help=".safetensors, .pt or .pth (pytorch); .onnx (onnx)")
    ap.add_argument("--layout", choices=["simplenet-caffe", "timm"], default="simplenet-caffe",
                    help="state_dict keys for --to pytorch (default: Caffe layer names)")
    ap.add_argument("--keep-input", action="store_true",
                    help="with --layout timm: copy conv1 as is (do not refit it to timm's RGB/std input)")
    ap.add_argument("--experiment", help="experiment whose preprocessing to record (default: from the file name)")
    add_check_options(ap)
    a = ap.parse_args(argv)
    out = Path(a.out)
    want = (".onnx",) if a.to == "onnx" else (".safetensors", ".pt", ".pth")
    if out.suffix not in want:
        raise UserError(f"--out {out}: --to {a.to} writes {' or '.join(want)}")
    if a.layout == "timm" and a.to != "pytorch":
        raise UserError("--layout timm applies to --to pytorch only")
    if not Path(a.model).is_file():
        raise UserError(f"model not found: {a.model}")

    data = check_data_source(a)
    res = conversion.export(a.model, a.weights, a.to, out, layout=a.layout, experiment=a.experiment,
                            n_random=a.verify, data=data, batch=a.batch_size, limit=a.limit, keep_input=a.keep_input)
    print(f"net       {res['plan'].name} ({res['params']:,} learnable parameters)")
    print(f"input     {res['prep'].get('summary')}")
    print(f"convert   {res['convert_s']:.2f} s (read caffemodel {res['read_s']:.2f} s); total {res['total_s']:.2f} s")
    print_checks(res["checks"])
    print(f"wrote     {out}")
    return 0


def add_check_options(ap) -> None:
    """--verify, --check-data, --limit, --batch: the checks both conversion commands run before writing."""
    ap.add_argument("--verify", type=int, default=0, metavar="N", help="check N random inputs before writing")
    ap.add_argument("--check-data", nargs="?", const="", metavar="LMDB",
                    help="check a whole LMDB (default: the experiment's TEST LMDB) before writing")
    ap.add_argument("--limit", type=int, help="with --check-data: only the first N records")
    ap.add_argument("--batch-size", type=int, default=100, help="batch size of the checks (default 100)")


def check_data_source(a) -> str | None:
    """The LMDB of --check-data (its default: the experiment's TEST LMDB), after checking the numbers."""
    if a.batch_size < 1 or a.verify < 0:
        raise UserError("--batch-size must be at least 1 and --verify at least 0")
    if a.limit is not None and (a.limit < 1 or a.check_data is None):
        raise UserError(f"--limit must be a positive number of records, got {a.limit}" if a.limit < 1
                        else "--limit applies to --check-data")
    if a.check_data is None:
        return None

    data = a.check_data or conversion.default_data(conversion.load_model(a.model, a.experiment))
    if not data:
        raise UserError("--check-data: no LMDB given and the net's experiment is unknown")
    return data


def print_checks(checks) -> None:
    for c in checks:
        for line in c.lines():
            print(f"check     {line}")


def entry() -> None:
    """The ``simplenet-export`` command (also ``tools/export.py``)."""
    run(main)
