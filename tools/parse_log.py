#!/usr/bin/env python3
"""``simplenet-parse-log``: the code is in simplenet_caffe/commands/parse_log.py (``--help`` for usage).

Runs with the venv's Python: ``source .venv/bin/activate`` once (after ``make setup``), then
``tools/parse_log.py ...``; or ``.venv/bin/python tools/parse_log.py ...``; or ``simplenet-parse-log ...``.
"""
try:
    from simplenet_caffe.commands.parse_log import entry
except ModuleNotFoundError as e:
    if e.name != "simplenet_caffe":
        raise
    raise SystemExit(f"{__file__}: this Python ({e.name} not installed) is not the project's venv: "
                     "run `source .venv/bin/activate` (after `make setup`) or .venv/bin/python") from None

if __name__ == "__main__":
    entry()
