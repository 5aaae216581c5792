#!/usr/bin/env python3
"""``simplenet-parse-log``: the code is in simplenet_caffe/commands/parse_log.py (``--help`` for usage)."""
from simplenet_caffe.commands.parse_log import entry

if __name__ == "__main__":
    entry()
