#!/usr/bin/env python3
"""``simplenet-prep-svhn``: the code is in simplenet_caffe/commands/prep_svhn.py (``--help`` for usage)."""
from simplenet_caffe.commands.prep_svhn import entry

if __name__ == "__main__":
    entry()
