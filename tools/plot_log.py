#!/usr/bin/env python3
"""``simplenet-plot-log``: the code is in simplenet_caffe/commands/plot_log.py (``--help`` for usage)."""
try:
    from simplenet_caffe.commands.plot_log import entry
except ModuleNotFoundError as e:  # a Python without the project's venv
    raise SystemExit(f"{__file__}: error: no module {e.name!r}: run `source .venv/bin/activate` first (made by `make setup`)")

if __name__ == "__main__":
    entry()
