#!/usr/bin/env python3
"""``simplenet-gpu-bundle``: the code is in simplenet_caffe/commands/gpu_bundle.py (``--help`` for usage)."""
from simplenet_caffe.commands.gpu_bundle import entry

if __name__ == "__main__":
    entry()
