#!/usr/bin/env python3
"""``simplenet-show-mean``: the code is in simplenet_caffe/commands/show_mean.py (``--help`` for usage).

Runs with the venv's Python: ``source .venv/bin/activate`` once (after ``make setup``), then
``tools/show_mean.py ...``; or ``.venv/bin/python tools/show_mean.py ...``; or ``simplenet-show-mean ...``.
"""
try:
    from simplenet_caffe.commands.show_mean import entry
except ModuleNotFoundError as e:
    if e.name != "simplenet_caffe":
        raise
    raise SystemExit(f"{__file__}: this Python ({e.name} not installed) is not the project's venv: "
                     "run `source .venv/bin/activate` (after `make setup`) or .venv/bin/python") from None

if __name__ == "__main__":
    entry()
