#!/usr/bin/env python3
"""``simplenet-results-table``: the code is in simplenet_caffe/commands/results_table.py (``--help`` for usage)."""
try:
    from simplenet_caffe.commands.results_table import entry
except ModuleNotFoundError as e:  # a Python without the project's venv
    import sys
    if sys.prefix != sys.base_prefix:
        raise
    sys.exit(f"{sys.argv[0]}: error: no module {e.name!r} in {sys.executable}: run `source .venv/bin/activate` "
             f"in the repo first (`make setup` makes .venv), or .venv/bin/python {sys.argv[0]}")

if __name__ == "__main__":
    entry()
