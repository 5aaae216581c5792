#!/usr/bin/env python3
"""``simplenet-runs``: the code is in simplenet_caffe/commands/runs.py (``--help`` for usage)."""
from simplenet_caffe.commands.runs import entry

if __name__ == "__main__":
    entry()
