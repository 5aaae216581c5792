#!/usr/bin/env python3
"""``simplenet-prep-cifar``: the code is in simplenet_caffe/commands/prep_cifar.py (``--help`` for usage)."""
from simplenet_caffe.commands.prep_cifar import entry

if __name__ == "__main__":
    entry()
