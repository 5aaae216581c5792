"""Classify image files with a deploy net, preprocessed as the net's training data was.

Two records say how: the dataset's recipe (``preprocess.json`` beside the LMDBs, see
:mod:`simplenet_caffe.data.preprocess`: channel order, resize, mean/std, zero pad -- what was
done before the pixels went into the LMDB) and the net's TEST data layer (center crop, mean
file / mean values, scale -- what Caffe does when it reads them), taken from the train_val net
as evaluate.py does (:func:`simplenet_caffe.runs.evaluation.transform_net`), never from the
transform the recipe recorded for its default experiment.  Together they turn a BGR 0-255
image file into the CHW float32 array the net's input expects; the net's ``prob`` output
(softmax) gives the probabilities.  Class names come from the recipe (``class_names``).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..data import preprocess
from ..errors import UserError
from ..nets.experiments import EXPERIMENTS
from ..progress import progress
from .evaluation import check_finite, load_eval_net, test_transform, transform_net


def recipe_for_model(model: str | os.PathLike, recipe: str | os.PathLike | None = None) -> preprocess.Recipe:
    """The preprocessing recipe of ``model``: given explicitly, or that of its experiment's dataset."""
    if recipe is not None:
        return preprocess.load(recipe)

    stem = Path(model).name
    for suffix in ("_deploy.prototxt", "_train_val.prototxt"):
        if stem.endswith(suffix) and stem[: -len(suffix)] in EXPERIMENTS:
            return preprocess.load(EXPERIMENTS[stem[: -len(suffix)]].data.layout)
    raise UserError(f"cannot tell which dataset {Path(model).name} was trained on: pass --preprocess "
                    "(a layout name such as mnist_norm, a DB folder or a preprocess.json)")


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Prediction:
    image: str
    top: list[tuple[int, float]]      # (class index, probability), best first


def input_recipe(model, recipe=None, transform_from=None) -> preprocess.Recipe:
    """The dataset recipe of ``model`` with the TEST transform of its train_val net (see the
    module docstring); without a train_val net the recipe's recorded transform, with a note."""
    rec = recipe_for_model(model, recipe)
    tv = transform_net(model, transform_from)
    if tv is None:
        print(f"classify: note: no train_val net for {Path(model).name} (pass --transform-from): using the "
              f"transform recorded in the dataset's preprocess.json: {rec.transform or 'none'}", file=sys.stderr)
        return rec
    transform, _ = test_transform(tv)
    transform.pop("mirror", None)                 # a TEST-time random flip is not applied to single images
    return replace(rec, transform=transform)


def classify_files(model, weights, images, recipe=None, top_k: int = 3, batch: int = 16,
                   transform_from=None, allow_partial: bool = False) -> list[Prediction]:
    """One :class:`Prediction` (top_k classes) per image file, in order."""
    if top_k < 1:
        raise UserError("--top-k must be at least 1")
    rec = input_recipe(model, recipe, transform_from)
    en = load_eval_net(model, weights, batch=min(batch, len(images)), allow_partial=allow_partial)
    for note in en.notes:
        print(f"classify: {'warning' if note.startswith('--allow-partial') else 'note'}: {note}", file=sys.stderr)
    if en.label_blob is not None:
        raise UserError(f"{model} is a train_val net; classify needs the deploy net")
    shape = en.net.blobs[en.input_blob].data.shape[1:]
    arrays = []
    for img in images:
        if not Path(img).is_file():
            raise UserError(f"image not found: {img}")
        x = preprocess.apply(rec, img)
        if x.shape != shape:
            raise UserError(f"{img}: preprocessing gives {x.shape}, the net expects {shape}")
        arrays.append(x)
    probs = []
    bs = en.net.blobs[en.input_blob].data.shape[0]
    for i in progress(range(0, len(arrays), bs), desc="classify", unit="batch"):
        chunk = arrays[i:i + bs]
        en.net.blobs[en.input_blob].data[: len(chunk)] = np.stack(chunk)
        en.net.forward()
        out = en.net.blobs[en.output_blob].data[: len(chunk)].reshape(len(chunk), -1).copy()
        check_finite(out, f"{en.output_blob!r} for {chunk and images[i]}" + (f" and the {len(chunk) - 1} after it"
                                                                                if len(chunk) > 1 else ""))
        probs.append(out if en.output_is_prob else softmax(out))
    p = np.concatenate(probs)
    k = min(top_k, p.shape[1])
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return [Prediction(str(img), [(int(c), float(p[i, c])) for c in order[i]]) for i, img in enumerate(images)]


def class_names(model, recipe=None, labels_file=None, num_classes: int | None = None) -> list[str] | None:
    """Class names for ``model``'s outputs: a ``labels_file`` (one name per line) or the dataset's
    ``preprocess.json``; None when neither names them."""
    if labels_file is not None:
        try:
            names = [ln.strip() for ln in Path(labels_file).read_text().splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read --labels {labels_file}: {e}") from None
    else:
        names = recipe_for_model(model, recipe).class_names
    if names is not None and num_classes is not None and len(names) != num_classes:
        raise UserError(f"{len(names)} class names for a net with {num_classes} outputs")
    return names
