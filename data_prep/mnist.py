#!/usr/bin/env python3
"""``simplenet-prep-mnist``: the code is in simplenet_caffe/commands/prep_mnist.py (``--help`` for usage)."""
from simplenet_caffe.commands.prep_mnist import entry

if __name__ == "__main__":
    entry()
