"""Classify image files with a deploy net, using the training data's recorded preprocessing.

The recipe (``preprocess.json`` beside the LMDBs, see :mod:`simplenet_caffe.data.preprocess`) turns a
BGR 0-255 image file into the CHW float32 array the net's input expects; the net's ``prob``
output (softmax) gives the probabilities.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data import preprocess
from ..errors import UserError
from ..progress import progress
from .evaluation import load_eval_net


def recipe_for_model(model: str | os.PathLike, recipe: str | os.PathLike | None = None) -> preprocess.Recipe:
    """The preprocessing recipe of ``model``: given explicitly, or that of its experiment's dataset."""
    if recipe is not None:
        return preprocess.load(recipe)
    from ..nets.experiments import EXPERIMENTS

    stem = Path(model).name
    for suffix in ("_deploy.prototxt", "_train_val.prototxt"):
        if stem.endswith(suffix) and stem[: -len(suffix)] in EXPERIMENTS:
            return preprocess.load(EXPERIMENTS[stem[: -len(suffix)]].data.layout)
    raise UserError(f"cannot tell which dataset {Path(model).name} was trained on: pass --preprocess "
                    "(a layout name such as mnist_norm, a DB folder or a preprocess.json)")


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def classify_files(model, weights, images, recipe=None, top_k: int = 3, batch: int = 16):
    """[(image path, [(class, probability), ...top_k])] for each image file, in order."""
    if top_k < 1:
        raise UserError("--top-k must be at least 1")
    rec = recipe_for_model(model, recipe)
    en = load_eval_net(model, weights, batch=min(batch, len(images)))
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
        probs.append(out if en.output_is_prob else softmax(out))
    p = np.concatenate(probs)
    k = min(top_k, p.shape[1])
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return [(img, [(int(c), float(p[i, c])) for c in order[i]]) for i, img in enumerate(images)]
