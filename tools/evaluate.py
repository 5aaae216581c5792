#!/usr/bin/env python3
"""``simplenet-evaluate``: the code is in simplenet_caffe/commands/evaluate.py (``--help`` for usage)."""
from simplenet_caffe.commands.evaluate import entry

if __name__ == "__main__":
    entry()
