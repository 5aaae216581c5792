"""A SimpleNet variant for the user's own LMDBs: train_val, deploy and solver, built by
:mod:`.netbuilder` from a layout made out of the LMDBs' ``preprocess.json``.

What the recipe gives: the number of classes (its class names, else the largest label in its
split counts + 1), the input shape (its size + pad, or the crop), the data layer's transform
(``crop_size``, ``mean_file``, ``mean_value``, ``scale``) and mirroring in TRAIN. The schedule
is a paper experiment's (by default the first one that trains the variant), with the number
of test batches fitted to the test LMDB. Paths in the written files are absolute, so Caffe
finds the LMDBs from any working folder.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..data import lmdbio, preprocess
from ..data.layout import DataLayout, Transform
from ..errors import UserError
from ..paths import REPO_ROOT
from ..protoio import trial_build, write_text
from . import arch, netbuilder, solverspec
from .experiments import EXPERIMENTS, DataSpec, Experiment


@dataclass(frozen=True)
class OwnDataExperiment(Experiment):
    """An :class:`Experiment` whose layout is given, not looked up in the layout table."""
    own_layout: DataLayout | None = None

    @property
    def layout(self) -> DataLayout:
        return self.own_layout


def default_schedule(variant: str) -> str:
    """The experiment whose solver a variant's net gets by default: the first paper row training it."""
    for e in EXPERIMENTS.values():
        if e.variant == variant and not e.name.endswith("_demo") and e.weights is None:
            return e.name
    raise UserError(f"no experiment trains variant {variant!r}; give --schedule EXPERIMENT")


def _abs(p: str | os.PathLike) -> str:
    return str(Path(p).resolve())


def _mean_file(ref: str, recipe_dir: Path) -> str:
    """A recipe's mean_file reference as an absolute path (repo-relative, absolute, or beside the recipe)."""
    for cand in (recipe_dir.resolve() / Path(ref).name, Path(ref).resolve(), REPO_ROOT / ref):
        if cand.is_file():
            return str(cand)
    raise UserError(f"the recipe's mean file {ref} was not found (looked in {REPO_ROOT} and {recipe_dir})")


def experiment_for(variant: str, train_lmdb: str | os.PathLike, test_lmdb: str | os.PathLike, *,
                   name: str = "own", schedule: str | None = None, num_classes: int | None = None,
                   train_batch: int | None = None, test_batch: int | None = None, max_iter: int | None = None,
                   base_lr: float | None = None, cpu: bool = False) -> OwnDataExperiment:
    """The experiment row for ``variant`` on the given LMDBs (``preprocess.json`` beside them)."""
    if variant not in arch.VARIANTS:
        raise UserError(f"unknown variant {variant!r} (known: {', '.join(arch.VARIANTS)})")
    for p in (train_lmdb, test_lmdb):
        if not (Path(p) / "data.mdb").is_file():
            raise UserError(f"{p} is not an LMDB folder (no data.mdb)")
    recipe_file = preprocess.recipe_path(train_lmdb)
    rec = preprocess.load(train_lmdb)
    if num_classes is None:
        if rec.class_names:
            num_classes = len(rec.class_names)
        else:
            labels = [int(k) for s in rec.splits.values() for k in (s.get("label_counts") or {})]
            if not labels:
                raise UserError(f"{recipe_file} records neither class names nor label counts; give --classes N")
            num_classes = max(labels) + 1
    if num_classes < 2:
        raise UserError(f"a classifier needs at least 2 classes, got {num_classes}")
    first = next(lmdbio.read_datums(train_lmdb, 1), None)
    if first is None:
        raise UserError(f"{train_lmdb} is empty")
    d = first[1]
    c, h, w = d.channels, d.height, d.width
    t = rec.transform or {}
    unknown = sorted(set(t) - {"crop_size", "mean_file", "mean_value", "scale"})
    if unknown:
        raise UserError(f"{recipe_file}: transform fields this tool does not carry over: {', '.join(unknown)}")
    crop = t.get("crop_size")
    if crop and (crop > h or crop > w):
        raise UserError(f"{recipe_file}: crop_size {crop} is larger than the records ({h}x{w}); "
                        "rebuild the LMDB at a larger size or change the recipe's transform")
    tf = Transform(crop_size=t.get("crop_size"), mean_file=bool(t.get("mean_file")),
                   mean_value=tuple(t.get("mean_value") or ()), scale=t.get("scale"))
    layout = DataLayout(name, _abs(train_lmdb), _abs(test_lmdb),
                        _mean_file(t["mean_file"], recipe_file.parent) if t.get("mean_file") else None,
                        c, h, w, num_classes, "float" if rec.dtype == "float" else "uint8",
                        f"the user's LMDBs ({recipe_file})", transform=tf)
    sched_exp = EXPERIMENTS.get(schedule or default_schedule(variant))
    if sched_exp is None:
        raise UserError(f"unknown experiment {schedule!r} for --schedule (see tools/reproduce.py --list)")
    paper = sched_exp.data
    train_batch = train_batch or paper.train_batch
    test_batch = test_batch or paper.test_batch
    n_test = lmdbio.count_lmdb(test_lmdb)
    s = sched_exp.schedule
    s = replace(s, test_iter=max(1, math.ceil(n_test / test_batch)),
                max_iter=max_iter or s.max_iter, base_lr=base_lr if base_lr is not None else s.base_lr,
                solver_mode="CPU" if cpu else s.solver_mode,
                snapshot=min(s.snapshot, max_iter or s.snapshot), test_interval=min(s.test_interval, max_iter or s.test_interval))
    data = DataSpec(name, train_batch, test_batch, train_mirror=rec.mirror_train, transform=tf)
    return OwnDataExperiment(name, variant, data, s, "—", f"schedule of {sched_exp.name}",
                             notes=(f"Variant {variant} ({arch.VARIANTS[variant].spec_id}) on {_abs(train_lmdb)} / "
                                    f"{_abs(test_lmdb)}: {num_classes} classes, records {c}x{h}x{w}.",
                                    f"Solver: {sched_exp.name}'s schedule; test_iter {s.test_iter} x batch "
                                    f"{test_batch} covers the {n_test} test records."),
                             net_name=f"SimpleNet_{variant}_{name}", own_layout=layout,
                             top5=num_classes > 10 and sched_exp.top5)


def write(exp: OwnDataExperiment, out: str | os.PathLike) -> dict[str, Path]:
    """Write ``train_val.prototxt``, ``deploy.prototxt`` and ``solver.prototxt`` into ``out``
    (snapshots go to ``out/snapshots/<name>``); check with pycaffe that both nets build."""
    out = Path(out).resolve()
    head = "".join(f"# {line}\n" for line in ("Generated by tools/net_for_lmdb.py.", *exp.notes))
    tv, dep, sol = out / "train_val.prototxt", out / "deploy.prototxt", out / "solver.prototxt"
    sp = solverspec.solver_param(exp.schedule, net=str(tv), snapshot_prefix=str(out / "snapshots" / exp.name / exp.name))
    files = {"train_val": (tv, netbuilder.train_val_net(exp)), "deploy": (dep, netbuilder.deploy_net(exp)),
             "solver": (sol, sp)}
    with tempfile.TemporaryDirectory() as tmp:       # build both nets before anything is written
        for kind, phase in (("deploy", "TEST"), ("train_val", "TRAIN")):
            trial = write_text(Path(tmp) / f"{kind}.prototxt", files[kind][1])
            try:
                trial_build(trial, phase, where=files[kind][0].name)
            except UserError as e:
                raise UserError(f"{e} (variant {exp.variant}, input {'x'.join(map(str, exp.input_shape))}); "
                                "nothing written") from None
    for path, msg in files.values():
        write_text(path, msg, head)
    (out / "snapshots" / exp.name).mkdir(parents=True, exist_ok=True)   # caffe train refuses a missing one
    return {k: v[0] for k, v in files.items()}
