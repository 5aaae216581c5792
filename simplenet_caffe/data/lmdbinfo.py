"""What an LMDB of Caffe Datums holds (``tools/lmdb_info.py``): count, shapes, dtype, encoding,
labels with class names, and a PNG grid of sample images.

Records are read with :mod:`.lmdbio` (the one reader). Shapes come from the Datum's
``channels``/``height``/``width`` (encoded records are not decoded for the survey; this
project's writer fills those fields, Caffe's convert_imageset leaves them 0: then the survey
says "unknown"). Class names come from the dataset's ``preprocess.json`` when there is one.
"""
from __future__ import annotations

import collections
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..errors import UserError
from ..progress import progress
from . import lmdbio
from .preprocess import class_names_for, image_format, load, recipe_path


@dataclass
class Info:
    path: str
    count: int                                   # records in the DB (LMDB's own count)
    scanned: int = 0                             # records read for the survey (all, or --limit)
    shapes: collections.Counter = field(default_factory=collections.Counter)   # (C, H, W) -> records
    kinds: collections.Counter = field(default_factory=collections.Counter)    # "uint8" / "float32" / "encoded png" ...
    labels: collections.Counter = field(default_factory=collections.Counter)   # label -> records
    class_names: list[str] | None = None
    channel_order: str | None = None             # from preprocess.json ("gray", "BGR", "RGB"), else None
    bytes: int = 0                               # size of data.mdb

    def lines(self) -> list[str]:
        part = "" if self.scanned == self.count else f" (first {self.scanned:,} surveyed)"
        out = [f"{self.path}: {self.count:,} records{part}, data.mdb {self.bytes / 2**20:.1f} MiB"]
        for (c, h, w), n in self.shapes.most_common():
            shape = f"{c}x{h}x{w}" if c and h and w else "unknown (not in the record)"
            out.append(f"  shape     {shape} (CxHxW): {n:,} records")
        out.append("  dtype     " + ", ".join(f"{k}: {n:,}" for k, n in self.kinds.most_common()))
        out.append(f"  channels  {self.channel_order or 'order not recorded (no preprocess.json)'}")
        names = self.class_names or []
        out.append(f"  labels    {len(self.labels)} distinct" +
                   (f" of {len(names)} named classes" if names else " (no class names recorded)"))
        top = max(self.labels.values(), default=1)
        for lab in sorted(self.labels):
            name = names[lab] if 0 <= lab < len(names) else ""
            n = self.labels[lab]
            out.append(f"  {lab:>6}  {name[:24]:<24} {n:>9,}  {n / self.scanned:6.1%}  {'#' * round(30 * n / top)}")
        missing = [f"{i} {n}" for i, n in enumerate(names) if i not in self.labels]
        if missing:
            out.append(f"  no records of {len(missing)} named classes: {', '.join(missing[:10])}"
                       + (", ..." if len(missing) > 10 else ""))
        return out


def _kind(datum) -> str:
    if datum.encoded:
        return f"encoded {image_format(bytes(datum.data[:16])) or 'image (unknown format)'}"
    return "uint8" if datum.data else "float32"


def survey(path: str | os.PathLike, limit: int | None = None) -> Info:
    """Read the records (all, or the first ``limit``) and count shapes, kinds and labels."""
    p = Path(path)
    info = Info(str(p), lmdbio.count_lmdb(p), bytes=(p / "data.mdb").stat().st_size)
    info.class_names = class_names_for(p)
    if recipe_path(p).is_file():
        info.channel_order = load(p).channel_order
    total = info.count if limit is None else min(limit, info.count)
    for _, d in progress(lmdbio.read_datums(p, limit), total=total, desc=p.name, unit="rec"):
        info.scanned += 1
        info.shapes[(d.channels, d.height, d.width)] += 1
        info.kinds[_kind(d)] += 1
        info.labels[int(d.label)] += 1
    if not info.scanned:
        raise UserError(f"{p} is empty")
    return info


def _display(chw: np.ndarray, order: str | None) -> np.ndarray:
    """HxW (gray) or HxWx3 RGB in 0-1 for showing; floats (standardised data) are min-max scaled."""
    a = chw.astype(np.float64)
    if chw.dtype == np.uint8:
        a /= 255.0
    else:
        lo, hi = a.min(), a.max()
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if a.shape[0] == 1:
        return a[0]
    if a.shape[0] == 3:
        return a.transpose(1, 2, 0)[..., ::-1] if order != "RGB" else a.transpose(1, 2, 0)
    return a[0]               # another channel count: the first channel


def grid_png(path: str | os.PathLike, out: str | os.PathLike, n: int = 64, info: Info | None = None) -> Path:
    """A PNG of the first ``n`` records (title: label and class name), written atomically.
    Colour records are shown in RGB: stored BGR unless preprocess.json records RGB (encoded
    records decode as BGR)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if n < 1:
        raise UserError(f"--samples must be at least 1, got {n}")
    records = list(lmdbio.read_datums(path, n))
    if not records:
        raise UserError(f"{path} is empty")
    names = info.class_names if info else None
    order = info.channel_order if info else None
    cols = int(np.ceil(np.sqrt(len(records))))
    rows = int(np.ceil(len(records) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (_, d) in zip(axes.ravel(), records):
        img = lmdbio.datum_to_array(d)
        ax.imshow(_display(img, "BGR" if d.encoded else order), cmap="gray", vmin=0, vmax=1)
        lab = int(d.label)
        name = names[lab] if names and 0 <= lab < len(names) else ""
        title = f"{lab} {name}" if name and name != str(lab) else str(lab)
        ax.set_title(title[:14], fontsize=7)
    fig.suptitle(f"{Path(path).name}: first {len(records)} records", fontsize=9)
    fig.tight_layout()
    try:
        return write_atomic(out, lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)
