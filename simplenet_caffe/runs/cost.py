"""What a set of experiments costs in GPU hours, from Caffe logs' seconds per 100 iterations.

A log's rate is its wall time over its iterations (test passes, snapshots and all), from the
first to the last timestamped row. An experiment gets, in order of preference:

1. ``measured``: the rate of a log given for it;
2. ``same net``: the rate of a log given for another experiment that trains the same net
   (same generated train_val) with the same train batch;
3. ``scaled``: the rate of the measured log with the nearest work per iteration (conv + IP
   multiply-accumulates per image x train batch, counted on the generated nets), scaled by the
   ratio of the two works -- an estimate on the GPU that wrote that log.

Hours = max_iter x seconds per iteration / 3600.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..errors import UserError
from ..nets import counting, netbuilder
from ..nets.experiments import EXPERIMENTS
from .caffelog import parse


@dataclass(frozen=True)
class Cost:
    experiment: str
    max_iter: int
    s_per_100: float
    how: str          # "measured", "same net as X", "scaled from X"
    hours: float


def rate(log: str | os.PathLike) -> float:
    """Seconds per 100 iterations of a Caffe log (or run folder), wall time over iterations."""
    try:
        run = parse(log)
    except (ValueError, OSError) as e:       # the parser's "not a log file", a missing file
        raise UserError(f"--cost-log: {e}") from None
    rows = [r for r in run.train.rows if r.get("seconds") is not None]
    if len(rows) < 2 or rows[-1]["iteration"] <= rows[0]["iteration"]:
        raise UserError(f"{log}: too few timestamped training rows to measure a rate")
    return 100 * (rows[-1]["seconds"] - rows[0]["seconds"]) / (rows[-1]["iteration"] - rows[0]["iteration"])


def work(exp_name: str) -> float:
    """Multiply-accumulates per training iteration: per-image MACs of the net x train batch."""
    exp = EXPERIMENTS[exp_name]
    net = EXPERIMENTS[exp.net_experiment]
    return counting.count_prototxt(netbuilder.deploy_net(net)).macs * net.data.train_batch


def costs(experiments: list[str], logs: dict[str, str]) -> list[Cost]:
    """The cost of each experiment, from ``logs`` (experiment -> its log)."""
    for e in logs:
        if e not in EXPERIMENTS:
            raise UserError(f"--cost-log {e}=...: unknown experiment {e!r}")
    if not logs:
        raise UserError("give at least one --cost-log EXPERIMENT=LOG")
    measured = {e: rate(p) for e, p in logs.items()}
    works = {e: work(e) for e in set(experiments) | set(measured)}
    out = []
    for name in experiments:
        exp = EXPERIMENTS[name]
        key = (exp.net_experiment, EXPERIMENTS[exp.net_experiment].data.train_batch)
        if name in measured:
            s, how = measured[name], "measured"
        else:
            same = [m for m in measured
                    if (EXPERIMENTS[m].net_experiment, EXPERIMENTS[EXPERIMENTS[m].net_experiment].data.train_batch) == key]
            if same:
                s, how = measured[same[0]], f"same net as {same[0]}"
            else:
                ref = min(measured, key=lambda m: abs(math.log(works[name] / works[m])))
                s, how = measured[ref] * works[name] / works[ref], f"scaled from {ref}"
        out.append(Cost(name, exp.schedule.max_iter, s, how, exp.schedule.max_iter * s / 100 / 3600))
    return out


def lines(cs: list[Cost]) -> list[str]:
    w = max(len(c.experiment) for c in cs)
    out = [f"{'experiment':<{w}}  {'max_iter':>9}  {'s/100 it':>8}  {'GPU hours':>9}  from",
           *(f"{c.experiment:<{w}}  {c.max_iter:>9,}  {c.s_per_100:>8.1f}  {c.hours:>9,.1f}  {c.how}" for c in cs)]
    out.append(f"{'total':<{w}}  {'':>9}  {'':>8}  {sum(c.hours for c in cs):>9,.1f}  "
               f"({sum(1 for c in cs if not c.how.startswith('scaled'))} of {len(cs)} from a log of the same net)")
    return out
