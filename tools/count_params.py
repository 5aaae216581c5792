#!/usr/bin/env python3
"""``simplenet-count-params``: the code is in simplenet_caffe/commands/count_params.py (``--help`` for usage)."""
from simplenet_caffe.commands.count_params import entry

if __name__ == "__main__":
    entry()
