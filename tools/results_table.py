#!/usr/bin/env python3
"""``simplenet-results-table``: the code is in simplenet_caffe/commands/results_table.py (``--help`` for usage)."""
from simplenet_caffe.commands.results_table import entry

if __name__ == "__main__":
    entry()
