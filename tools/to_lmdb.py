#!/usr/bin/env python3
"""``simplenet-to-lmdb``: the code is in simplenet_caffe/commands/to_lmdb.py (``--help`` for usage)."""
from simplenet_caffe.commands.to_lmdb import entry

if __name__ == "__main__":
    entry()
