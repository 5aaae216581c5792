#!/usr/bin/env python3
"""``simplenet-export``: the code is in simplenet_caffe/commands/export.py (``--help`` for usage)."""
from simplenet_caffe.commands.export import entry

if __name__ == "__main__":
    entry()
