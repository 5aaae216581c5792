"""The main job on the embedded default: SimpleNet S300-A on real MNIST, end to end, on CPU.

  demo.py                      # MNIST: data_prep/mnist.py -> caffe train -> plots + table
  demo.py --dataset fashion-mnist

Steps: build data/mnist_norm (float LMDBs standardised with the global train mean/std, the
authors' MNIST preprocessing) unless present; train the slim S300-A net (the authors' 99.72 %
MNIST run) with solvers/mnist_s300a_demo_solver.prototxt -- a SHORTENED schedule derived from
the paper's Nesterov solver so it fits about 10 minutes of a 2-core CPU; parse the log; write
accuracy/loss curves, the results table (compared with the paper's 99.72 %) and a confusion
matrix into plots/<run>/; print where everything is.
"""
from __future__ import annotations

import argparse

from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.data import recipes
from simplenet_caffe.nets import experiments
from simplenet_caffe.nets.experiments import EXPERIMENTS
from simplenet_caffe.paths import DATA_DIR, LOGS_DIR, REPO_ROOT
from simplenet_caffe.runs import pipeline
from simplenet_caffe.runs.caffelog import run_logs
from simplenet_caffe.runs.record import record_path

DEMOS = {  # dataset -> (experiment, the paper's experiment to compare with)
    "mnist": ("mnist_s300a_demo", "mnist_s300a"),
    "fashion-mnist": ("fashion_mnist_s300a_demo", None),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(DEMOS), default="mnist")
    ap.add_argument("--name", help="run name (default: the demo experiment's name; when that run exists, the next "
                                   "free <name>-N, so an earlier demo run is kept)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue an interrupted demo run from its last snapshot")
    g.add_argument("--overwrite", action="store_true", help="train the named (or default) demo run again, "
                                                           "replacing it")
    ap.add_argument("--gpu", help="GPU id(s) for caffe -gpu (default: CPU)")
    ap.add_argument("--rebuild-data", action="store_true", help="rebuild the LMDBs even if present")
    a = ap.parse_args(argv)

    exp_name, paper = DEMOS[a.dataset]
    exp = experiments.get(exp_name)
    layout = exp.data.layout
    try:
        pipeline.ensure_data(exp)
        have_data = True
    except UserError:
        have_data = False
    if have_data and not a.rebuild_data:
        pipeline.say(f"using the existing LMDBs of {layout} (--rebuild-data to rebuild)")
    else:
        pipeline.say(f"building {layout} (what data_prep/mnist.py --dataset {a.dataset} does)")
        src = recipes.find_mnist_source(a.dataset, None, DATA_DIR / "raw" / a.dataset, allow_download=True)
        recipes.prepare_mnist(src, a.dataset, force=True)
    run_name = a.name or exp_name
    if not (a.resume or a.overwrite) and run_exists(run_name):
        if a.name:
            raise UserError(f"run {run_name} exists in logs/{run_name}/; give another --name (NAME=), --resume "
                            "(RESUME=1) to continue it, or --overwrite (OVERWRITE=1) to train it again")
        run_name = next(f"{exp_name}-{k}" for k in range(2, 10_000) if not run_exists(f"{exp_name}-{k}"))
        pipeline.say(f"logs/{exp_name}/ holds an earlier demo run, kept; this one is {run_name} "
                     "(--overwrite, make demo OVERWRITE=1, trains the default run again)")
    out = pipeline.run_experiment(exp_name, run_name=run_name, resume=a.resume, gpu=a.gpu, overwrite=a.overwrite,
                                  compare_with=paper)
    paper = EXPERIMENTS[paper].reported if paper else None
    print()
    print(f"SimpleNet S300-A on {a.dataset}: {out.seconds / 60:.1f} min of training ({exp.solver_path})")
    if out.final_accuracy is not None:
        print(f"  final test accuracy  {100 * out.final_accuracy:.2f} %" + (f"   (paper, full schedule: {paper} %)" if paper else ""))
        print(f"  best test accuracy   {100 * out.best_accuracy:.2f} % at iteration {out.best_iteration}")
    if out.evaluated_accuracy is not None:
        # Can differ by a few images from the log's last test: Caffe's closing "Iteration N, loss" line runs one
        # more TRAIN forward after the last snapshot, which moves BatchNorm's running averages before that test.
        print(f"  saved final snapshot, evaluated (= caffe test): {100 * out.evaluated_accuracy:.2f} %")
    print(f"  log      {out.log_dir.relative_to(REPO_ROOT)}/")
    print(f"  plots    {out.plot_dir.relative_to(REPO_ROOT)}/")
    for f in out.files:
        print(f"           {f.relative_to(REPO_ROOT)}")
    return 0


def run_exists(run_name: str) -> bool:
    """Whether logs/<run_name>/ holds a run (a record or a log)."""

    d = LOGS_DIR / run_name
    return record_path(d).is_file() or bool(run_logs(d))


def entry() -> None:
    """The ``simplenet-demo`` command (also ``tools/demo.py``)."""
    run(main)
