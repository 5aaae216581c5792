"""The paper's pipeline end to end: data -> LMDB -> ``caffe train`` -> log -> plots -> table.

``run_experiment`` is what ``make demo`` (the short MNIST schedule) and ``make reproduce
EXP=...`` (any generated experiment, full schedule, resumable) both call: every step is one
of the project's own tools (``training.train``, ``caffelog.parse``, ``plotting.plot_runs``,
``results.results_table``, ``evaluation.evaluate``), so the files the demo writes are the
ones a user gets by running them by hand.

Outputs, relative to the repo root: ``logs/<run>/caffe.log`` (and ``caffe.N.log`` after a
resume), ``snapshots/<experiment>/`` (caffemodels/solverstates, from the solver; a run named otherwise
gets ``snapshots/<experiment>/<run>/``),
``plots/<run>/`` (curves as PNG+SVG, ``results.md``/``results.csv``, evaluation reports).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomic
from ..data.preprocess import class_names_for
from ..errors import UserError
from ..cli import option_hint
from ..nets import experiments
from ..nets.experiments import EXPERIMENTS
from ..paths import LOGS_DIR, PLOTS_DIR, REPO_ROOT
from . import caffelog, evaluation, plotting, results, snapshots, training


@dataclass
class Outcome:
    run: str
    log_dir: Path
    plot_dir: Path
    exit_code: int
    seconds: float
    final_accuracy: float | None
    best_accuracy: float | None
    best_iteration: int | None
    evaluated_accuracy: float | None
    files: list[Path]
    overrides: dict | None = None

    def summary(self) -> str:
        """``final test accuracy 0.9912 (iteration 200), best 0.9920 at 150`` -- or what is known."""
        if self.final_accuracy is None:
            return "no test pass in the log, so no accuracy"
        s = f"final test accuracy {self.final_accuracy:.4f}"
        if self.best_accuracy is not None:
            s += f", best {self.best_accuracy:.4f} at iteration {self.best_iteration}"
        if self.evaluated_accuracy is not None:
            s += f", evaluated top-1 {self.evaluated_accuracy:.4f}"
        if self.overrides:
            s += " (overrides: " + ", ".join(f"{k} {v}" for k, v in self.overrides.items()) + ")"
        return s


def say(msg: str) -> None:
    print(f"[simplenet] {msg}", file=sys.stderr, flush=True)


def ensure_data(exp) -> None:
    """Fail with the command to run when the experiment's LMDBs are not there."""
    lay = exp.layout
    missing = [p for p in (lay.train_lmdb, lay.test_lmdb) if not (REPO_ROOT / p / "data.mdb").is_file()]
    if exp.data.mean_file and lay.mean_file and not (REPO_ROOT / lay.mean_file).is_file():
        missing.append(lay.mean_file)
    if missing:
        cmd = lay.command or "the data_prep recipe of this dataset"
        raise UserError(f"experiment {exp.name} needs {', '.join(missing)}: build it with `{cmd}`")


#: overrides that leave the experiment's schedule as it is (a shorter max_iter only ends it early)
_SAME_SCHEDULE = ("random_seed", "snapshot", "max_iter")


def overrides_note(overrides: dict) -> str:
    """``Solver overrides `max_iter: 40000`, `random_seed: 1` (the experiment's schedule, ended early)``,
    or, when an override changes the schedule, a smoke-test warning."""
    what = ", ".join(f"`{k}: {v}`" for k, v in overrides.items())
    if any(k not in _SAME_SCHEDULE for k in overrides):
        return f"Smoke test, not the experiment's schedule: solver overrides {what}"
    return f"The experiment's schedule with solver overrides {what}" + (
        " (ended early)" if "max_iter" in overrides else "")


def latest_caffemodel(run_name: str) -> Path | None:
    """The newest caffemodel the run's own logs name (None before its first snapshot)."""
    models = [s.caffemodel for s in snapshots.logged_snapshots(training.run_log_paths(run_name)) if s.caffemodel]
    return models[-1] if models else None


def report(exp, run_name: str, reported: tuple[str, str] | None = None,
           overrides: dict | None = None) -> tuple[list[Path], dict]:
    """Parse the run's logs; write curves and the results table into plots/<run>/.

    `reported`: (the authors' accuracy in %, where it comes from), compared with the run's final
    test accuracy in results.md. `overrides`: the smoke-test solver overrides, noted there.
    """
    logs = training.run_log_paths(run_name)
    if not logs:
        raise UserError(f"no logs for run {run_name} in {LOGS_DIR / run_name}")
    run = caffelog.parse(logs)
    out = PLOTS_DIR / run_name
    out.mkdir(parents=True, exist_ok=True)
    files = plotting.plot_runs(run, out, name=run_name)
    table = results.results_table([run], labels=[exp.name], nets=REPO_ROOT / exp.deploy_path)
    stats = results.run_stats(run)
    files += table.write(out)
    if reported and stats["final_accuracy"] is not None:
        value, source = reported
        got = 100 * stats["final_accuracy"]
        md = out / "results.md"
        write_atomic(md, md.read_text() + f"\n| | test accuracy (%) |\n|---|---:|\n| this run, final (iteration "
                     f"{stats['final_iteration']}) | {got:.2f} |\n| the authors ({source}) | {value} |\n"
                     f"| difference | {got - float(value):+.2f} |\n")
    if overrides:
        md = out / "results.md"
        write_atomic(md, md.read_text() + "\n" + overrides_note(overrides)
                     + f" (solver used: logs/{run_name}/{training.DERIVED_SOLVER}).\n")
    for part, tab in (("train", run.train), ("test", run.test)):
        files.append(tab.to_csv(out / f"{run_name}.{part}.csv"))
    return files, stats


def run_experiment(exp_name: str, run_name: str | None = None, resume: bool = False, gpu=None,
                   overwrite: bool = False, evaluate_final: bool = True, compare_with: str | None = None,
                   overrides: dict | None = None, cont: bool = False) -> Outcome:
    """Train ``exp_name`` with its generated solver, then parse, plot, tabulate and evaluate.

    The results table compares the run with the authors' accuracy of ``compare_with`` (an
    experiment name; default the experiment itself, when the authors reported one).
    """

    exp = experiments.get(exp_name)
    run_name = run_name or exp_name
    ensure_data(exp)
    solver = REPO_ROOT / exp.solver_path
    say(f"training {exp_name} with {exp.solver_path} (log: logs/{run_name}/)")
    t0 = time.time()
    res = training.train(solver, run_name=run_name, gpu=gpu, resume=resume or None, overwrite=overwrite,
                         overrides=overrides, experiment=exp_name, cont=cont)
    seconds = time.time() - t0
    rc = res.rc
    if res.state == "diverged":
        err = UserError(f"{run_name} diverged ({res.diverged}): no accuracy is reported; see logs/{run_name}/")
        err.exit_code = training.DIVERGED_RC
        raise err
    if res.record is not None:
        overrides = res.record.overrides
    if rc != 0:
        logs = training.run_log_paths(run_name)
        if rc > 128 and training.run_started(logs):
            err = UserError(f"training of {run_name} stopped (status {rc}); continue it with "
                            f"{option_hint('--resume', 'RESUME=1')}")
            err.exit_code = rc
            raise err
        if training.run_started(logs):
            raise UserError(f"caffe train exited with status {rc}; see logs/{run_name}/ (continue with "
                            f"{option_hint('--resume', 'RESUME=1')}, or start again with "
                            f"{option_hint('--overwrite', 'OVERWRITE=1')})")
        raise UserError(f"caffe train exited with status {rc} before its first iteration; see logs/{run_name}/ "
                        f"for why, then rerun the same command")
    ref = EXPERIMENTS[compare_with or exp_name]
    files, stats = report(exp, run_name, (ref.reported, f"{ref.name}: {ref.reported_note}")
                          if ref.reported_acc is not None else None, overrides=overrides)
    evaluated = None
    model = latest_caffemodel(run_name)
    if evaluate_final and model is not None:
        say(f"evaluating {model.relative_to(REPO_ROOT)} on {exp.layout.test_lmdb} (deterministic)")
        en = evaluation.load_eval_net(REPO_ROOT / exp.train_val_path, model, batch=exp.data.test_batch)
        res = evaluation.evaluate(en, en.source)
        evaluated = res.topk(1)

        paths = evaluation.write_reports(res, PLOTS_DIR / run_name / "eval", title=f"{exp_name} test",
                                         class_names=class_names_for(REPO_ROOT / exp.layout.test_lmdb))
        files += list(paths.values())
    return Outcome(run_name, LOGS_DIR / run_name, PLOTS_DIR / run_name, rc, seconds,
                   stats["final_accuracy"], stats["best_accuracy"], stats["best_iteration"], evaluated, files,
                   overrides or None)
