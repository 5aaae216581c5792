#!/usr/bin/env python3
"""``simplenet-reference-report``: the code is in simplenet_caffe/commands/reference_report.py (``--help`` for usage)."""
from simplenet_caffe.commands.reference_report import entry

if __name__ == "__main__":
    entry()
