"""What a deploy net's input must be: recorded in every exported file (ONNX metadata, safetensors
metadata, .pt dict) so that the exported model can be fed without this toolkit.

For a generated ``prototxt/<experiment>_deploy.prototxt`` the record comes from the experiment
table (the data layer's TEST transform: crop, mean file, mean values, scale) and from the
dataset's ``preprocess.json`` when the data has been prepared here (the stored channel order and
the mean/std the recipe applied before writing the LMDB).  Units: pixels 0-255 before any
mean/std; mean values per channel in the stored channel order; the net input is N x C x H x W
float32.
"""
from __future__ import annotations

from pathlib import Path

from ..data import preprocess
from ..data.layout import DATASETS
from ..nets import experiments
from ..nets.experiments import EXPERIMENTS
from ..paths import REPO_ROOT


def experiment_of(model: str | Path):
    """The experiment whose generated deploy net is ``model`` (matched by file name), or None."""
    stem = Path(model).name
    for exp in EXPERIMENTS.values():
        if Path(exp.deploy_path).name == stem:
            return EXPERIMENTS[exp.net_experiment]
    return None


def record(exp) -> dict:
    """The preprocessing record of an experiment's deploy net (JSON-able dict).

    Channel order and TEST transform come from the dataset records (``data.layout``); the
    stored transform (resize, mean/std, pad) from the layout's ``preprocess.json`` when the data
    has been prepared here -- its channel order then wins (a recipe can be run with another).
    """

    lay = exp.layout
    rec = {"experiment": exp.name, "layout": lay.name, "input_shape": list(exp.input_shape),
           "layout_dtype": lay.dtype, "stored_size": [lay.height, lay.width],
           "channel_order": DATASETS[lay.dataset].channel_order, "pixel_units": "0-255", "stored_transform": None,
           "data_layer_transform": exp.data.tf.as_dict(lay.mean_file)}
    path = preprocess.recipe_path(lay.name)
    if path.is_file():
        r = preprocess.load(lay.name)
        rec["channel_order"] = r.channel_order
        rec["stored_transform"] = {"size": r.size, "resize_mode": r.resize_mode, "mean": r.mean, "std": r.std,
                                   "pad": r.pad}
        rec["recipe"] = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    rec["summary"] = summary(rec)
    return rec


def summary(rec: dict) -> str:
    """One line: how to turn an image into the net input."""
    parts = [f"{rec['channel_order']} pixels 0-255"]
    st = rec.get("stored_transform")
    if st:
        if st.get("size"):
            parts.append(f"resized to {st['size'][0]}x{st['size'][1]} ({st.get('resize_mode') or 'squash'})")
        if st.get("mean") is not None:
            parts.append(f"(x - {fmt(st['mean'])}) / {fmt(st.get('std'))}")
        if st.get("pad"):
            parts.append(f"zero-pad {st['pad']}")
    else:
        h, w = rec["stored_size"]
        if rec.get("layout_dtype") == "float":
            parts.append(f"standardised as data/{rec['layout']}/preprocess.json says (not prepared here)")
        parts.append(f"{w}x{h} as the {rec['layout']} LMDB holds them")
    t = rec.get("data_layer_transform") or {}
    if t.get("crop_size"):
        parts.append(f"center crop {t['crop_size']}")
    if t.get("mean_file"):
        parts.append(f"minus the mean image {t['mean_file']}")
    if t.get("mean_value"):
        parts.append(f"minus {fmt(t['mean_value'])}")
    if t.get("scale") is not None:
        parts.append(f"times {t['scale']}")
    c, h, w = rec["input_shape"]
    return " -> ".join(parts) + f" -> N x {c} x {h} x {w} float32"


def fmt(v) -> str:
    if v is None:
        return "?"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(f"{x:.6g}" for x in v) + ")" if len(v) != 1 else f"{v[0]:.6g}"
    return f"{v:.6g}"


def for_model(model: str | Path, experiment: str | None = None) -> dict:
    """The record for a deploy prototxt: by ``experiment`` name, else matched by file name.

    A net that is not a generated one gets a record saying the preprocessing is unknown.
    """
    if experiment is not None:
        return record(EXPERIMENTS[experiments.get(experiment).net_experiment])
    exp = experiment_of(model)
    if exp is None:
        return {"experiment": None, "summary": "unknown: not a generated deploy net (give --experiment)"}
    return record(exp)
