#!/usr/bin/env python3
"""``simplenet-classify``: the code is in simplenet_caffe/commands/classify.py (``--help`` for usage)."""
from simplenet_caffe.commands.classify import entry

if __name__ == "__main__":
    entry()
