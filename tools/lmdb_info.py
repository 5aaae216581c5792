#!/usr/bin/env python3
"""``simplenet-lmdb-info``: the code is in simplenet_caffe/commands/lmdb_info.py (``--help`` for usage)."""
from simplenet_caffe.commands.lmdb_info import entry

if __name__ == "__main__":
    entry()
