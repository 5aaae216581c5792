#!/usr/bin/env python3
"""``simplenet-net-for-lmdb``: the code is in simplenet_caffe/commands/net_for_lmdb.py (``--help`` for usage)."""
from simplenet_caffe.commands.net_for_lmdb import entry

if __name__ == "__main__":
    entry()
