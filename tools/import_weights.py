#!/usr/bin/env python3
"""``simplenet-import-weights``: the code is in simplenet_caffe/commands/import_weights.py (``--help`` for usage)."""
from simplenet_caffe.commands.import_weights import entry

if __name__ == "__main__":
    entry()
