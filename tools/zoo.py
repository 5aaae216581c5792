#!/usr/bin/env python3
"""``simplenet-zoo``: the code is in simplenet_caffe/commands/zoo.py (``--help`` for usage)."""
from simplenet_caffe.commands.zoo import entry

if __name__ == "__main__":
    entry()
