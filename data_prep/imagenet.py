#!/usr/bin/env python3
"""``simplenet-prep-imagenet``: the code is in simplenet_caffe/commands/prep_imagenet.py (``--help`` for usage)."""
from simplenet_caffe.commands.prep_imagenet import entry

if __name__ == "__main__":
    entry()
