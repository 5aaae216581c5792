#!/usr/bin/env python3
"""``simplenet-demo``: the code is in simplenet_caffe/commands/demo.py (``--help`` for usage)."""
from simplenet_caffe.commands.demo import entry

if __name__ == "__main__":
    entry()
