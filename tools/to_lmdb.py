#!/usr/bin/env python3
"""``simplenet-to-lmdb``: the code is in simplenet_caffe/commands/to_lmdb.py (``--help`` for usage).

Runs with the venv's Python: ``source .venv/bin/activate`` once (after ``make setup``), then
``tools/to_lmdb.py ...``; or ``.venv/bin/python tools/to_lmdb.py ...``; or ``simplenet-to-lmdb ...``.
"""
try:
    from simplenet_caffe.commands.to_lmdb import entry
except ModuleNotFoundError as e:
    if e.name != "simplenet_caffe":
        raise
    raise SystemExit(f"{__file__}: this Python ({e.name} not installed) is not the project's venv: "
                     "run `source .venv/bin/activate` (after `make setup`) or .venv/bin/python") from None

if __name__ == "__main__":
    entry()
