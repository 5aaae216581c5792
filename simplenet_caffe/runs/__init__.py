"""Runs: training with the real ``caffe train`` (training), the log parser (caffelog), plots
(plotting), results tables (results), evaluation and classification with pycaffe (evaluation,
classification) and a whole experiment end to end (pipeline).

May import the top level of simplenet_caffe, ``data`` and ``nets`` -- never commands.
"""
