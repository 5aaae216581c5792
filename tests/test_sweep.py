"""tools/sweep.py: selection, state from the run records, the local queue, and a real Slurm.

The sweeps run in a scratch copy of the repository (its own data/, logs/, snapshots/) on the
first real MNIST images. The Slurm test starts Debian's slurmctld, slurmd and munged on
localhost as root (tests/_slurm_helpers.py), submits two smoke experiments as one job array,
requeues one of them mid-run with `scontrol requeue` and sends the other the time-limit signal,
and checks that both finish and that their stitched curves have no gap.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import IN_CI, need
from simplenet_caffe.errors import UserError
from simplenet_caffe.runs import sweep

#: Smoke overrides for reproduce.py: a few hundred small-batch iterations of the paper's nets.
SMOKE = ["--batch-size", "16", "--test-iter", "1", "--test-interval", "50", "--snapshot", "10"]


def test_select_names_globs_and_the_table():
    from simplenet_caffe.nets.experiments import EXPERIMENTS

    assert sweep.select(["mnist_s300a"]) == ["mnist_s300a"]
    assert sweep.select(["svhn_*", "mnist_s300a", "svhn_a5m"]) == \
        [n for n in EXPERIMENTS if n in ("svhn_a5m", "svhn_s310b", "mnist_s300a")]        # table order, once each
    table = sweep.select(["all"])
    assert len(table) == len(EXPERIMENTS) - 2 and not any(n.endswith("_demo") for n in table)
    with pytest.raises(UserError, match=r"no experiment matches 'nope_\*'"):
        sweep.select(["nope_*"])
    with pytest.raises(UserError, match="name the experiments"):
        sweep.select([])
    assert [t.run for t in sweep.tasks_for(["mnist_s300a"], "s2")] == ["mnist_s300a_s2"]
    cmd = sweep.Task("mnist_s300a", "r").command(["--max-iter", "5"], "1")
    assert cmd[1:] == [str(Path(cmd[1])), "mnist_s300a", "--name", "r", "--continue", "--gpu", "1", "--max-iter", "5"]
    assert sweep.workers("0,1") == ["0", "1"] and sweep.workers("all") == ["all"]
    with pytest.raises(UserError, match="--gpu takes GPU ids"):
        sweep.workers("x")


def test_bad_input_is_one_line(tmp_path):
    from conftest import run_script

    for args, msg in [(["nope_*"], "no experiment matches 'nope_*'"), ([], "name the experiments"),
                      (["mnist_s300a", "--gpu", "x"], "--gpu takes GPU ids"),
                      (["mnist_s300a", "--cost-log", "nope=x.log"], "unknown experiment 'nope'"),
                      (["mnist_s300a", "--cost-log", f"mnist_s300a={tmp_path}/none.log"], "none.log")]:
        r = run_script("tools/sweep.py", *args)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, mnist_dir, caffe):
    from test_docs_commands import _copy_repo

    repo = tmp_path_factory.mktemp("sweep") / "repo"
    _copy_repo(repo)
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = dict(os.environ, PYTHONPATH=str(repo), PATH=f"{repo / '.venv' / 'bin'}:{os.environ['PATH']}",
               MPLBACKEND="Agg")
    cp = subprocess.run([sys.executable, "data_prep/mnist.py", "--src", str(mnist_dir), "--limit-train", "2000",
                         "--limit-test", "200"], cwd=repo, env=env, capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    return repo, env


def _sweep(repo, env, *args, **kw):
    return subprocess.run([sys.executable, "tools/sweep.py", *args], cwd=repo, env=env, capture_output=True, text=True,
                          **kw)


def _record(repo, run):
    from simplenet_caffe.runs import record

    return record.read(repo / "logs" / run)


def test_local_queue_runs_then_skips(scratch):
    repo, env = scratch
    args = ["mnist_s300a_demo", "--tag", "local", "--", "--max-iter", "20", *SMOKE]
    cp = _sweep(repo, env, *args)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "mnist_s300a_demo_local  new" in cp.stdout and "1 of 1 runs to do" in cp.stdout
    rec = _record(repo, "mnist_s300a_demo_local")
    assert rec.state == "done" and rec.iterations_done == 20 and rec.experiment == "mnist_s300a_demo"
    assert (repo / "logs" / "sweep" / "mnist_s300a_demo_local.out").is_file()
    again = _sweep(repo, env, *args)
    assert again.returncode == 0 and "done at iteration 20" in again.stdout and "0 of 1 runs to do" in again.stdout
    assert len(_record(repo, "mnist_s300a_demo_local").segments) == 1


# ----------------------------------------------------------------------------- Slurm

@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    from _slurm_helpers import PACKAGES, Slurm, missing

    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the Slurm test must run as root in CI")
        pytest.skip("needs root: it starts munged, slurmctld and slurmd on localhost")
    if missing():
        cp = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
                            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), capture_output=True, text=True)
        need(not missing(), f"Slurm is not installed ({', '.join(missing())} missing; apt-get install: "
                            f"{cp.stderr.strip()[-200:]})")
    s = Slurm(tmp_path_factory.mktemp("slurm"))
    try:
        s.start(cpus=os.cpu_count() or 2)
        yield s
    finally:
        s.stop()


def _wait(what, ok, timeout, slurm):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = ok()
        if v:
            return v
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}\n{slurm.sh('squeue', check=False).stdout}\n{slurm.logs()}")


@pytest.mark.slow
def test_slurm_array_requeued_and_timed_out_tasks_finish_without_gaps(scratch, slurm, tmp_path):
    from simplenet_caffe.runs import caffelog

    repo, env = scratch
    env = dict(env, **{k: v for k, v in slurm.env.items() if k == "SLURM_CONF"})
    runs = {"mnist_s300a_demo": "mnist_s300a_demo_slurm", "mnist_s300a": "mnist_s300a_slurm"}
    max_iter = 400
    args = [*runs, "--tag", "slurm", "--slurm", "--gpus", "0", "--cpus", "1", "--time", "60",
            "--slurm-folder", str(tmp_path / "jobs"), "--", "--max-iter", str(max_iter), *SMOKE]
    cp = _sweep(repo, env, *args)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    jobs = dict(re.findall(r"^submitted (\S+): job (\S+)$", cp.stdout, re.M))
    assert set(jobs) == set(runs.values()), cp.stdout
    assert all(re.fullmatch(r"\d+_\d", j) for j in jobs.values()), jobs       # one array, one task each

    def mid_run(run):
        log = repo / "logs" / run / "caffe.log"
        if not log.is_file() or not list((repo / "snapshots").glob(f"*/{run}/*_iter_*.solverstate")):
            return None
        its = [int(i) for i in re.findall(r"Iteration (\d+)", log.read_text(errors="replace"))]
        return max(its) if its and 20 <= max(its) < max_iter - 100 else None

    def back_in_queue(run):
        rec = _record(repo, run)
        if rec is not None and len(rec.segments) > 1:
            return True                                       # already running again
        out = slurm.sh("squeue", "-h", "-j", jobs[run], "-o", "%T %r", check=False).stdout.split()
        if out[:1] != ["PENDING"]:
            return None
        if "BeginTime" in out:                                # Slurm holds a requeued job back a while
            slurm.sh("scontrol", "update", f"JobId={jobs[run]}", "StartTime=now")
        return True

    # the demo run is requeued from outside (as a pre-emption is): Slurm's SIGTERM reaches Caffe;
    # the other gets the time-limit signal (submitit's USR2, as `#SBATCH --signal` sends it): its
    # task stops Caffe with SIGTERM, waits for the snapshot and has submitit requeue the task
    how = {runs["mnist_s300a_demo"]: ["scontrol", "requeue"], runs["mnist_s300a"]: ["scancel", "--signal=USR2"]}
    reached: dict[str, int] = {}

    def signal_when_mid_run():
        for run, cmd in how.items():
            if run not in reached and (it := mid_run(run)) is not None:
                slurm.sh(*cmd, jobs[run])
                reached[run] = it
        return len(reached) == len(how)

    _wait("both runs to be mid-run", signal_when_mid_run, 600, slurm)
    for run in how:
        _wait(f"{run}'s task to be back in the queue", lambda: back_in_queue(run), 180, slurm)   # noqa: B023

    def all_done():
        recs = {r: _record(repo, r) for r in runs.values()}
        return all(rec is not None and rec.state == "done" for rec in recs.values()) and recs

    recs = _wait("both runs to finish", all_done, 900, slurm)
    for run, rec in recs.items():
        assert rec.iterations_done == max_iter, (run, rec)
        parsed = caffelog.parse(repo / "logs" / run)
        assert not parsed.warnings, (run, parsed.warnings)
        tests = [r["iteration"] for r in parsed.test.rows]
        assert tests == sorted(set(tests)) and tests[-1] == max_iter, (run, tests)
        assert set(range(50, max_iter + 1, 50)) <= set(tests), (run, tests)
    for run in runs.values():
        segs = recs[run].segments
        assert len(segs) == 2, (run, segs)
        first, second = segs
        assert first.signal == "SIGTERM" and first.state == "stopped", (run, first)
        assert 0 < second.start_iter <= first.end_iter <= reached[run] + 100, (run, first, second)
        assert second.state == "done" and second.end_iter == max_iter, (run, second)
        train = [r["iteration"] for r in caffelog.parse(repo / "logs" / run).train.rows]
        assert train == sorted(set(train)) and train[-1] >= max_iter - 100, (run, train)
    # the sweep's state is the runs': a rerun submits nothing
    again = _sweep(repo, env, *args)
    assert again.returncode == 0 and "0 of 2 runs to do" in again.stdout, again.stdout
