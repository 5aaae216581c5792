"""``simplenet-sweep``: run a set of the paper's experiments, locally or as a Slurm job array.

  tools/sweep.py mnist_s300a svhn_s310b           by name
  tools/sweep.py 'cifar10_*' --gpu 0,1            a glob; a queue over two GPUs (one run each)
  tools/sweep.py all --slurm --time 720 --gpus 1  the paper's table as one job array
  tools/sweep.py 'mnist_*' --status               what a sweep would do, from the runs' records
  tools/sweep.py all --cost-log mnist_s300a=LOG     GPU hours of the table, from logs' s/100 iterations

Each task is `tools/reproduce.py EXP --name RUN --continue [ARGS]` (RUN = EXP, or EXP_TAG with
--tag), so the runs' own records are the sweep's state: a finished run is skipped, a stopped or
killed one resumes from its newest snapshot, a new one starts. Locally the tasks are a queue
over the GPUs (one per GPU; --gpu all: every GPU for each run in turn) or the CPU, with each
task's output in logs/sweep/RUN.out. With --slurm they are submitted with submitit as one job
array: Slurm signals each task --signal-delay seconds before --time runs out, Caffe snapshots,
submitit requeues the task, and the requeued task resumes (docs/cluster.md). Arguments after
`--` go to reproduce.py (e.g. -- --max-iter 100 --test-iter 4).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simplenet_caffe.cli import run, split_passthrough
from simplenet_caffe.errors import UserError
from simplenet_caffe.runs import cost, sweep


def _kv(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    return k, v


def main(argv=None) -> int:
    argv, extra = split_passthrough(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("experiments", nargs="*", help="names, globs, or 'all' (the paper's table, without the demos)")
    ap.add_argument("--tag", help="run names EXP_TAG instead of EXP (a second sweep of the same experiments)")
    ap.add_argument("--status", action="store_true", help="print each run's state and what the sweep would do; run nothing")
    ap.add_argument("--cost-log", type=_kv, action="append", default=[], metavar="EXPERIMENT=LOG",
                    help="print what the experiments cost in GPU hours, from these Caffe logs' s/100 iterations "
                         "(repeatable); run nothing")
    ap.add_argument("--retry-failed", action="store_true", help="also run failed or diverged runs again (--continue)")
    ap.add_argument("--gpu", help="local: GPU ids for the queue (0,1: one run per GPU) or 'all' "
                                  "(default: every GPU present, else the CPU)")
    sl = ap.add_argument_group("Slurm (--slurm; needs the [cluster] extra)")
    sl.add_argument("--slurm", action="store_true", help="submit a job array instead of running locally")
    sl.add_argument("--time", type=int, default=24 * 60, metavar="MIN", help="time limit of each job (default 1440)")
    sl.add_argument("--gpus", type=int, default=1, help="GPUs per task (0: CPU; default 1)")
    sl.add_argument("--cpus", type=int, help="CPUs per task")
    sl.add_argument("--partition", help="Slurm partition")
    sl.add_argument("--signal-delay", type=int, default=120, metavar="S",
                    help="signal the task S seconds before its time limit (default 120)")
    sl.add_argument("--max-parallel", type=int, default=256, help="array tasks running at once (default 256)")
    sl.add_argument("--slurm-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                    help="any other sbatch option (e.g. account=abc, qos=high)")
    sl.add_argument("--slurm-folder", help="submitit's job folder (default logs/sweep/slurm)")
    a = ap.parse_args(argv)

    if a.cost_log:
        print("\n".join(cost.lines(cost.costs(sweep.select(a.experiments), dict(a.cost_log)))))
        return 0
    tasks = sweep.tasks_for(sweep.select(a.experiments), a.tag)
    if not a.slurm:
        sweep.workers(a.gpu)          # a bad --gpu is refused before anything is printed
    states = [sweep.status(t, retry_failed=a.retry_failed) for t in tasks]
    width = max(len(t.run) for t in tasks)
    for s in states:
        print(f"{s.task.run:<{width}}  {s.state:<10} {'->' if s.action == 'run' else '  '} {s.why}")
    todo = [s.task for s in states if s.action == "run"]
    print(f"{len(todo)} of {len(tasks)} runs to do")
    if a.status or not todo:
        return 0
    if a.slurm:
        if a.gpus < 0 or a.time < 1 or a.signal_delay < 0:
            raise UserError("--gpus, --time and --signal-delay must not be negative (--time at least 1)")
        ids = sweep.submit_slurm(todo, extra, Path(a.slurm_folder) if a.slurm_folder else None, time_min=a.time,
                                 partition=a.partition, gpus=a.gpus, cpus=a.cpus, signal_delay_s=a.signal_delay,
                                 max_parallel=a.max_parallel, slurm_args=dict(a.slurm_arg))
        for t, j in zip(todo, ids):
            print(f"submitted {t.run}: job {j}")
        return 0
    results = sweep.run_local(todo, extra, a.gpu)
    bad = {r: rc for r, rc in results.items() if rc != 0}
    if bad:
        print("not finished: " + ", ".join(f"{r} (status {rc})" for r, rc in bad.items()), file=sys.stderr)
        return 1
    return 0


def entry() -> None:
    """The ``simplenet-sweep`` command (also ``tools/sweep.py``)."""
    run(main)
