#!/usr/bin/env python3
"""``simplenet-count-params``: the code is in simplenet_caffe/commands/count_params.py (``--help`` for usage).

Runs with the venv's Python: ``source .venv/bin/activate`` once (after ``make setup``), then
``tools/count_params.py ...``; or ``.venv/bin/python tools/count_params.py ...``; or ``simplenet-count-params ...``.
"""
try:
    from simplenet_caffe.commands.count_params import entry
except ModuleNotFoundError as e:
    if e.name != "simplenet_caffe":
        raise
    raise SystemExit(f"{__file__}: this Python ({e.name} not installed) is not the project's venv: "
                     "run `source .venv/bin/activate` (after `make setup`) or .venv/bin/python") from None

if __name__ == "__main__":
    entry()
