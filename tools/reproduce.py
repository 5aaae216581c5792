#!/usr/bin/env python3
"""``simplenet-reproduce``: the code is in simplenet_caffe/commands/reproduce.py (``--help`` for usage)."""
from simplenet_caffe.commands.reproduce import entry

if __name__ == "__main__":
    entry()
