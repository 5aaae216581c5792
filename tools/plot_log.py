#!/usr/bin/env python3
"""``simplenet-plot-log``: the code is in simplenet_caffe/commands/plot_log.py (``--help`` for usage)."""
from simplenet_caffe.commands.plot_log import entry

if __name__ == "__main__":
    entry()
