#!/usr/bin/env python3
"""``simplenet-gen-prototxt``: the code is in simplenet_caffe/commands/gen_prototxt.py (``--help`` for usage)."""
from simplenet_caffe.commands.gen_prototxt import entry

if __name__ == "__main__":
    entry()
