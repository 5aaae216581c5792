#!/usr/bin/env python3
"""``simplenet-compare-log-net``: the code is in simplenet_caffe/commands/compare_log_net.py (``--help`` for usage)."""
from simplenet_caffe.commands.compare_log_net import entry

if __name__ == "__main__":
    entry()
