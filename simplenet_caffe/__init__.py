"""SimpleNet (arXiv 1608.06037) reproduction toolkit for real BVLC Caffe.

Shared code for the thin scripts in tools/ and data_prep/. Modules are named for what they
hold; see README.md for the map.
"""
__version__ = "0.1.0"
