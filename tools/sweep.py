#!/usr/bin/env python3
"""``simplenet-sweep``: the code is in simplenet_caffe/commands/sweep.py (``--help`` for usage)."""
from simplenet_caffe.commands.sweep import entry

if __name__ == "__main__":
    entry()
