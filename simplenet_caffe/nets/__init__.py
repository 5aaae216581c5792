"""Nets: the variant table (arch), the one net builder (netbuilder), the experiment table
(experiments), solver schedules (solverspec), the prototxt/solver generator (generate),
parameter/MAC counting (counting) and net drawing (drawing).

May import the top level of simplenet_caffe and ``data`` (a net's data layer reads where the
dataset's layout says its LMDBs are) -- never runs or commands.
"""
