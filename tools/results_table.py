#!/usr/bin/env python3
"""``simplenet-results-table``: the code is in simplenet_caffe/commands/results_table.py (``--help`` for usage).

Runs with the venv's Python: ``source .venv/bin/activate`` once (after ``make setup``), then
``tools/results_table.py ...``; or ``.venv/bin/python tools/results_table.py ...``; or ``simplenet-results-table ...``.
"""
try:
    from simplenet_caffe.commands.results_table import entry
except ModuleNotFoundError as e:
    if e.name != "simplenet_caffe":
        raise
    raise SystemExit(f"{__file__}: this Python ({e.name} not installed) is not the project's venv: "
                     "run `source .venv/bin/activate` (after `make setup`) or .venv/bin/python") from None

if __name__ == "__main__":
    entry()
