"""Solver schedules as data, and their ``caffe_pb2.SolverParameter``.

A :class:`Schedule` is one row: every field Caffe reads from a solver file, with the authors'
values in ``experiments.py`` (docs/spec.md §5: files at HEAD; §5.2: what the logs show was run).
Caffe semantics worth remembering (docs/spec.md §5.1):

* AdaDelta: ``momentum`` is the decay rho, ``delta`` is epsilon, and the step is multiplied by
  ``base_lr`` x lr_mult x the policy factor;
* weight decay is plain L2 added to the gradient (also on BN's Scale gamma/beta here);
* ``multistep`` advances one step per iteration once ``iter >= stepvalue[current]`` -- a
  non-monotonic list (the CIFAR-100 solvers) therefore fires its tail back to back;
* RMSProp rejects a non-zero momentum; ``rms_decay`` is its alpha.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..caffe_env import caffe_pb2


@dataclass(frozen=True)
class Schedule:
    type: str                         # "AdaDelta" | "Nesterov" | "SGD" | "RMSProp" | "Adam"
    base_lr: float
    lr_policy: str                    # "multistep" | "step" | "poly" | "fixed"
    weight_decay: float
    max_iter: int
    test_iter: int                    # test batches per test pass (x test batch = images)
    test_interval: int
    snapshot: int
    momentum: float | None = None
    delta: float | None = None
    rms_decay: float | None = None
    gamma: float | None = 0.1
    stepvalue: tuple[int, ...] = ()
    stepsize: int | None = None
    power: float | None = None
    display: int = 100
    random_seed: int | None = None
    test_initialization: bool | None = None
    solver_mode: str = "GPU"


def solver_param(s: Schedule, *, net: str, snapshot_prefix: str, weights: str | None = None):
    """The SolverParameter for schedule ``s`` (paths relative to the repo root)."""
    pb2 = caffe_pb2()
    p = pb2.SolverParameter()
    p.net = net
    p.test_iter.append(s.test_iter)
    p.test_interval = s.test_interval
    if s.test_initialization is not None:
        p.test_initialization = s.test_initialization
    p.base_lr = s.base_lr
    p.display = s.display
    p.max_iter = s.max_iter
    p.lr_policy = s.lr_policy
    if s.gamma is not None and s.lr_policy in ("multistep", "step", "exp", "inv", "sigmoid"):
        p.gamma = s.gamma
    if s.power is not None:
        p.power = s.power
    if s.stepsize is not None:
        p.stepsize = s.stepsize
    p.stepvalue.extend(s.stepvalue)
    if s.momentum is not None:
        p.momentum = s.momentum
    p.weight_decay = s.weight_decay
    if s.delta is not None:
        p.delta = s.delta
    if s.rms_decay is not None:
        p.rms_decay = s.rms_decay
    p.snapshot = s.snapshot
    p.snapshot_prefix = snapshot_prefix
    p.solver_mode = pb2.SolverParameter.SolverMode.Value(s.solver_mode)
    if s.random_seed is not None:
        p.random_seed = s.random_seed
    p.type = s.type
    if weights:
        p.weights.append(weights)
    return p
