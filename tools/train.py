#!/usr/bin/env python3
"""``simplenet-train``: the code is in simplenet_caffe/commands/train.py (``--help`` for usage)."""
from simplenet_caffe.commands.train import entry

if __name__ == "__main__":
    entry()
