#!/usr/bin/env python3
"""``simplenet-show-mean``: the code is in simplenet_caffe/commands/show_mean.py (``--help`` for usage)."""
from simplenet_caffe.commands.show_mean import entry

if __name__ == "__main__":
    entry()
