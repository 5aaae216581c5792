#!/usr/bin/env python3
"""``simplenet-prep-svhn``: the code is in simplenet_caffe/commands/prep_svhn.py (``--help`` for usage).

Runs with the venv's Python: ``source .venv/bin/activate`` once (after ``make setup``), then
``data_prep/svhn.py ...``; or ``.venv/bin/python data_prep/svhn.py ...``; or ``simplenet-prep-svhn ...``.
"""
try:
    from simplenet_caffe.commands.prep_svhn import entry
except ModuleNotFoundError as e:
    if e.name != "simplenet_caffe":
        raise
    raise SystemExit(f"{__file__}: this Python ({e.name} not installed) is not the project's venv: "
                     "run `source .venv/bin/activate` (after `make setup`) or .venv/bin/python") from None

if __name__ == "__main__":
    entry()
