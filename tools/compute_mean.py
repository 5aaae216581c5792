#!/usr/bin/env python3
"""``simplenet-compute-mean``: the code is in simplenet_caffe/commands/compute_mean.py (``--help`` for usage)."""
from simplenet_caffe.commands.compute_mean import entry

if __name__ == "__main__":
    entry()
