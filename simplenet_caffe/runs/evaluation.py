"""Evaluate a trained Caffe classifier on an LMDB: top-1/top-5, per-class accuracy, confusion.

The net is a generated deploy net (``Input`` -> ... -> ``Softmax prob``) or a train_val net
(its Data layers are swapped for Inputs; the TEST-phase data layer supplies the LMDB source
and the ``transform_param``). Records are read with :mod:`simplenet_caffe.data.lmdbio` and put
through Caffe's TEST-phase data transform (:func:`simplenet_caffe.data.preprocess.caffe_transform`:
center crop, mean file / mean values, scale), then forwarded in batches through pycaffe.

Deterministic by default: no test-time mirroring even when the net's TEST layer says
``mirror: true``, unless ``mirror="random"`` (a seeded 50 % flip per image -- the authors'
random-mirror test, docs/spec.md §4) or ``mirror="all"`` is asked for.

Weights are checked against the net before loading (:func:`check_weights`): a layer whose
blob shapes differ, or that has no weights in the file, is refused by name -- Caffe would abort,
or silently keep random fillers and print accuracies of random weights.

Top-k accuracy is Caffe's Accuracy layer's (this Caffe's ``accuracy_layer.cpp``): a record
counts when fewer than k OTHER classes score at least as high as its label (``>=``: a class
tied with the label counts against it); records whose label is ``ignore_label`` are left out.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import caffe_env
from ..atomic import write_atomic
from ..data.lmdbio import count_lmdb, read_datums, read_lmdb
from ..data.preprocess import caffe_transform, load, recipe_path
from ..errors import UserError
from ..nets.counting import in_phase
from ..nets.netbuilder import DATA_LAYER_TYPES, train_val_to_inputs
from ..paths import REPO_ROOT
from ..progress import progress
from ..protoio import read_caffemodel, read_net, to_text, trial_build


@dataclass
class EvalNet:
    net: object                 # caffe.Net in TEST phase
    input_blob: str             # where images go (N x C x H x W)
    label_blob: str | None      # train_val nets: the label input (filled, so loss/accuracy layers run)
    output_blob: str            # class scores (logits or softmax; argmax/top-k are the same)
    output_is_prob: bool        # output_blob is a Softmax top (probabilities), not logits
    transform: dict             # TEST transform_param: crop_size, mean_file, mean_value, scale, mirror
    source: str | None          # TEST data layer's LMDB, relative to the repo root
    num_classes: int
    model_path: Path
    notes: list[str] = field(default_factory=list)
    ignore_label: int | None = None  # the TEST Accuracy layer's ignore_label: such records are left out


def _transform_dict(tp) -> dict:
    out = {}
    if tp.crop_size:
        out["crop_size"] = int(tp.crop_size)
    if tp.mean_file:
        out["mean_file"] = tp.mean_file
    if len(tp.mean_value):
        out["mean_value"] = [float(v) for v in tp.mean_value]
    if tp.HasField("scale"):
        out["scale"] = float(tp.scale)
    if tp.mirror:
        out["mirror"] = True
    return out


def check_weights(net, weights: Path, allow_partial: bool = False) -> list[str]:
    """Check that a .caffemodel holds weights for ``net``: every layer with parameters, by name,
    with the same blob shapes.

    Raises UserError (one line) naming the layers whose blob shapes differ (Caffe would abort
    with a CHECK failure) and the layers without weights in the file (Caffe would silently keep
    their random fillers) -- the latter only a note with ``allow_partial``.  Returns notes:
    layers only in the file (ignored, as Caffe does) and, with ``allow_partial``, the layers
    left at their fillers.
    """
    model = read_caffemodel(weights)
    layers = list(model.layer) or list(model.layers)  # V2 or the V1 `layers` field
    saved = {lp.name: [tuple(b.shape.dim) if b.HasField("shape") else (b.num, b.channels, b.height, b.width)
                       for b in lp.blobs] for lp in layers if len(lp.blobs)}
    mismatched, missing, notes = [], [], []
    squeeze = lambda s: tuple(d for d in s if d != 1)  # noqa: E731 - V1 blobs are 4-D padded with 1s
    for name, blobs in net.params.items():
        if name not in saved:
            missing.append(name)
            continue
        want = [tuple(b.data.shape) for b in blobs]
        got = saved[name]
        if len(want) != len(got) or any(squeeze(w) != squeeze(g) for w, g in zip(want, got)):
            mismatched.append(f"{name} (net {want}, file {got})")
    unused = sorted(set(saved) - set(net.params))
    if unused:
        notes.append(f"weights of layers not in the net are ignored: {', '.join(unused)}")
    if mismatched:
        raise UserError(f"{weights} does not fit the net: blob shapes differ in {len(mismatched)} layer(s): "
                        + "; ".join(mismatched))
    if missing:
        where = (f"{len(missing)} of the net's {len(net.params)} layers with weights" if len(missing) < len(net.params)
                 else f"any of the net's {len(net.params)} layers with weights")
        if not allow_partial:
            raise UserError(f"{weights} has no weights for {where}: {', '.join(missing)} (a caffemodel of "
                            f"another net? --allow-partial keeps their random fillers)")
        notes.append(f"--allow-partial: {len(missing)} layer(s) keep their random fillers: {', '.join(missing)}")
    return notes


def test_data_layer(param):
    """The TEST-phase data layer of a NetParameter (None for a deploy net)."""

    return next((lp for lp in param.layer if lp.type in DATA_LAYER_TYPES and in_phase(lp, "TEST")), None)


def test_transform(model: str | os.PathLike) -> tuple[dict, str | None]:
    """(TEST transform_param as a dict, LMDB source) of a train_val prototxt, read without pycaffe."""
    dl = test_data_layer(read_net(model))
    if dl is None:
        raise UserError(f"{model}: no TEST data layer to take the transform from")
    return _transform_dict(dl.transform_param), dl.data_param.source or None


def transform_net(model: str | os.PathLike, transform_from: str | os.PathLike | None = None) -> Path | None:
    """The train_val net whose TEST data layer gives ``model``'s input transform: ``transform_from``
    when given, the model itself when it has a TEST data layer, the generated sibling
    ``<experiment>_train_val.prototxt`` of an ``<experiment>_deploy.prototxt``; else None."""
    if transform_from is not None:
        return Path(transform_from)
    model = Path(model)
    if test_data_layer(read_net(model)) is not None:
        return model
    if model.name.endswith("_deploy.prototxt"):
        sibling = model.with_name(model.name.replace("_deploy.prototxt", "_train_val.prototxt"))
        if sibling.is_file():
            return sibling
    return None


def load_eval_net(model: str | os.PathLike, weights: str | os.PathLike | None, batch: int = 100,
                  allow_partial: bool = False) -> EvalNet:
    """Build the TEST-phase pycaffe net of a deploy or train_val prototxt and load ``weights``
    (checked by :func:`check_weights`; ``allow_partial`` lets layers without weights keep their fillers)."""

    caffe = caffe_env.import_caffe()
    model = Path(model)
    param = read_net(model, for_caffe=True)
    dl = test_data_layer(param)
    if dl is not None:
        transform, source = _transform_dict(dl.transform_param), dl.data_param.source or None
        image_blob, label_blob = dl.top[0], (dl.top[1] if len(dl.top) > 1 else None)
        param = train_val_to_inputs(param, batch=batch)
        acc = [lp for lp in param.layer if lp.type == "Accuracy" and in_phase(lp, "TEST")]
        if not acc:
            raise UserError(f"{model}: train_val net without a TEST Accuracy layer; cannot tell the score blob")
        output, output_is_prob = acc[0].bottom[0], False
        ap = acc[0].accuracy_param
        ignore = int(ap.ignore_label) if ap.HasField("ignore_label") else None
    else:
        inputs = [lp for lp in param.layer if lp.type == "Input"]
        if not inputs:
            raise UserError(f"{model}: no Data or Input layer; is this a Caffe net?")
        inputs[0].input_param.shape[0].dim[0] = batch
        image_blob, label_blob = inputs[0].top[0], None
        transform, source = {}, None
        output, output_is_prob = param.layer[-1].top[0], param.layer[-1].type == "Softmax"
        ignore = None
    with tempfile.NamedTemporaryFile("w", suffix=".prototxt") as tmp:
        tmp.write(to_text(param))
        tmp.flush()
        trial_build(tmp.name, "TEST", where=model)      # a Caffe CHECK here would abort this process
        net = caffe.Net(tmp.name, caffe.TEST)
    notes = []
    if weights is not None:
        weights = Path(weights)
        if not weights.is_file():
            raise UserError(f"weights file not found: {weights}")
        notes = check_weights(net, weights, allow_partial=allow_partial)
        net.copy_from(str(weights))
    return EvalNet(net, image_blob, label_blob, output, output_is_prob, transform, source,
                   int(net.blobs[output].data.shape[1]), model, notes, ignore)


def data_path(source: str | os.PathLike) -> Path:
    p = Path(source)
    return p if p.is_absolute() else REPO_ROOT / p


@dataclass
class EvalResult:
    labels: np.ndarray          # (N,) int
    scores: np.ndarray          # (N, K) float32 output of the net
    num_classes: int
    ignored: int = 0            # records left out: their label is the Accuracy layer's ignore_label

    @property
    def predictions(self) -> np.ndarray:
        return self.scores.argmax(axis=1)

    def topk(self, k: int, ignore_label: int | None = None) -> float:
        """Fraction of records (those whose label is not ``ignore_label``) whose label is among
        the k best scores, as Caffe's Accuracy layer counts: fewer than k other classes score
        ``>=`` the label's score (ties count against, as in Caffe; 0.0 when no record counts).
        Unlike Caffe's layer, a record with any NaN or infinite score counts as wrong (Caffe's
        comparisons with NaN are all false, so it counts such a record as correct)."""
        keep = np.ones(len(self.labels), bool) if ignore_label is None else self.labels != ignore_label
        labels, scores = self.labels[keep], self.scores[keep]
        if not len(labels):
            return 0.0
        true = scores[np.arange(len(labels)), labels]
        others = (scores >= true[:, None]).sum(axis=1) - 1
        return float(((others < k) & np.isfinite(scores).all(axis=1)).mean())

    def confusion(self) -> np.ndarray:
        """(K, K) counts: row = true label, column = predicted."""
        cm = np.zeros((self.num_classes, self.num_classes), np.int64)
        np.add.at(cm, (self.labels, self.predictions), 1)
        return cm

    def per_class(self) -> np.ndarray:
        cm = self.confusion()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(cm) / cm.sum(axis=1)


#: recipe fields that change what a record holds: a net trained on one reads another wrongly
RECIPE_FIELDS = ("channel_order", "size", "mean", "std", "pad")


def _prepared(source: str | os.PathLike) -> dict:
    """How an LMDB was prepared, as far as it can be known: the first record's kind (uint8 or
    float) and C×H×W, and the recipe fields of the ``preprocess.json`` beside it (if any)."""
    path = data_path(source)
    out: dict = {}
    first = next(read_datums(path, limit=1), None) if (path / "data.mdb").is_file() else None
    if first is not None:
        d = first[1]
        out["kind"] = "float" if len(d.float_data) else "uint8"
        out["shape"] = (d.channels, d.height, d.width)
    rp = recipe_path(path)
    if rp.is_file():
        rec = load(rp)
        out.update({k: getattr(rec, k) for k in RECIPE_FIELDS})
        out["recipe"] = str(rp)
    return out


def check_recipe(en: EvalNet, data: str | os.PathLike, allow_mismatch: bool = False) -> list[str]:
    """Compare how ``data`` was prepared with how the net's own data (its TEST data layer's
    source) was: record kind (uint8 bytes vs standardised floats), C×H×W, and the recipes'
    channel order, size, mean, std and pad. A difference is a :class:`UserError` naming it, or
    with ``allow_mismatch`` a warning returned for the caller to print. Nothing is compared
    when the net names no source, or its source does not exist here."""
    if not en.source or data_path(data).resolve() == data_path(en.source).resolve():
        return []
    if not (data_path(en.source) / "data.mdb").is_file():
        return []
    want, got = _prepared(en.source), _prepared(data)
    diffs = [f"{k} {got[k]} vs {want[k]}" for k in ("kind", "shape", *RECIPE_FIELDS)
             if k in want and k in got and got[k] != want[k]]
    if not diffs:
        return []
    msg = (f"{data} was prepared another way than the net's own data {en.source}: " + "; ".join(diffs)
           + " (this data vs the net's)")
    if not allow_mismatch:
        raise UserError(msg + "; prepare it with the net's recipe, or --allow-recipe-mismatch to score it anyway")
    return [f"WARNING: {msg}; scored anyway (--allow-recipe-mismatch): the result does not measure the net"]


def check_finite(out: np.ndarray, what: str) -> None:
    """Refuse net outputs holding NaN or Inf: argmax and accuracies of them mean nothing (a NaN
    row's argmax is its first NaN, and every score ties with it)."""
    bad = ~np.isfinite(out)
    if bad.any():
        raise UserError(f"the net's output {what} holds {int(bad.sum())} NaN/Inf value(s) of {out.size}: the weights "
                        "(a diverged training?) or the input are not finite; no result")


def evaluate(en: EvalNet, source: str | os.PathLike, limit: int | None = None, mirror: str = "none",
             seed: int = 0, progress_desc: str = "evaluate") -> EvalResult:
    """Forward every record of ``source`` (an LMDB) through ``en`` and collect the scores.

    ``mirror``: "none" (deterministic), "random" (seeded 50 % horizontal flip per image, like
    Caffe's TEST ``mirror: true``), "all" (every image flipped). Records labelled with the net's
    ``ignore_label`` are forwarded but left out of the result, as Caffe's Accuracy layer does.
    """

    if mirror not in ("none", "random", "all"):
        raise UserError(f"mirror must be none, random or all, not {mirror!r}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be a positive number of records, got {limit}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    path = data_path(source)
    n = count_lmdb(path)
    if limit is not None:
        n = min(n, limit)
    if n == 0:
        raise UserError(f"{path} holds no records")
    rng = np.random.default_rng(seed)
    blob = en.net.blobs[en.input_blob]
    batch = blob.data.shape[0]
    scores = np.zeros((n, en.num_classes), np.float32)
    labels = np.zeros(n, np.int64)
    ignored = np.zeros(n, bool)
    images: list[np.ndarray] = []
    done = 0

    def flush():
        nonlocal done
        k = len(images)
        x = np.stack(images)
        if x.shape[1:] != blob.data.shape[1:]:
            raise UserError(f"records give {x.shape[1:]} after the transform, the net's input is {blob.data.shape[1:]}")
        blob.data[:k] = x
        if en.label_blob:
            en.net.blobs[en.label_blob].data[:k] = labels[done:done + k]
            en.net.blobs[en.label_blob].data[k:] = 0
        en.net.forward()
        out = en.net.blobs[en.output_blob].data[:k].reshape(k, -1)
        check_finite(out, f"{en.output_blob!r} of records {done} to {done + k - 1}")
        scores[done:done + k] = out
        done += k
        images.clear()

    for i, (_, arr, label) in enumerate(progress(read_lmdb(path, limit=n), total=n, desc=progress_desc, unit="img")):
        flip = mirror == "all" or (mirror == "random" and rng.random() < 0.5)
        images.append(caffe_transform(arr, en.transform, mirror=flip))
        if en.ignore_label is not None and label == en.ignore_label:
            label = 0                       # forwarded in its batch, dropped from the result below
            ignored[i] = True
        elif not 0 <= label < en.num_classes:
            raise UserError(f"record {i} of {path} has label {label}, the net has {en.num_classes} classes")
        labels[i] = label
        if len(images) == batch:
            flush()
    if images:
        flush()
    keep = ~ignored
    return EvalResult(labels[keep], scores[keep], en.num_classes, int(ignored.sum()))


def write_reports(res: EvalResult, out_dir: str | os.PathLike, title: str, class_names=None) -> dict[str, Path]:
    """Confusion matrix as CSV and PNG, per-class accuracy CSV, summary JSON."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(class_names) if class_names else [str(i) for i in range(res.num_classes)]
    cm = res.confusion()
    paths = {"confusion_csv": out / "confusion.csv", "per_class_csv": out / "per_class.csv",
             "summary_json": out / "summary.json", "confusion_png": out / "confusion.png"}
    def csv_text(rows) -> str:
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return buf.getvalue()

    write_atomic(paths["confusion_csv"], csv_text([["true\\pred", *names],
                                                   *([name, *row.tolist()] for name, row in zip(names, cm))]))
    write_atomic(paths["per_class_csv"], csv_text([["class", "count", "correct", "accuracy"],
                                                   *([name, int(cm[i].sum()), int(cm[i, i]), f"{res.per_class()[i]:.6f}"]
                                                     for i, name in enumerate(names))]))
    summary = {"title": title, "records": int(len(res.labels)), "top1": res.topk(1)}
    if res.num_classes > 5:
        summary["top5"] = res.topk(5)
    write_atomic(paths["summary_json"], json.dumps(summary, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = res.num_classes
    size = min(4 + 0.4 * k, 16)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(cm, cmap="Blues")
    if k <= 20:
        ax.set_xticks(range(k), names, rotation=90 if k > 10 else 0)
        ax.set_yticks(range(k), names)
        thresh = cm.max() / 2
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > thresh else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: top-1 {100 * summary['top1']:.2f}%")
    fig.tight_layout()
    write_atomic(paths["confusion_png"], lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return paths
