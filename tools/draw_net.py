#!/usr/bin/env python3
"""``simplenet-draw-net``: the code is in simplenet_caffe/commands/draw_net.py (``--help`` for usage).

Runs with the venv's Python: ``source .venv/bin/activate`` once (after ``make setup``), then
``tools/draw_net.py ...``; or ``.venv/bin/python tools/draw_net.py ...``; or ``simplenet-draw-net ...``.
"""
try:
    from simplenet_caffe.commands.draw_net import entry
except ModuleNotFoundError as e:
    if e.name != "simplenet_caffe":
        raise
    raise SystemExit(f"{__file__}: this Python ({e.name} not installed) is not the project's venv: "
                     "run `source .venv/bin/activate` (after `make setup`) or .venv/bin/python") from None

if __name__ == "__main__":
    entry()
