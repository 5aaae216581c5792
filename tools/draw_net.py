#!/usr/bin/env python3
"""``simplenet-draw-net``: the code is in simplenet_caffe/commands/draw_net.py (``--help`` for usage)."""
from simplenet_caffe.commands.draw_net import entry

if __name__ == "__main__":
    entry()
