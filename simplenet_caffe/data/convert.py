"""Generic dataset → LMDB conversion (what tools/to_lmdb.py runs).

Reads every requested split first (so a bad file fails before anything is written), then
writes ``<out>/<split>_lmdb`` for each split (``train+extra`` → ``train_extra_lmdb``), plus
``preprocess.json`` (with the dataset's label map: ``class_names``, ``label_map``), ``labels.txt``
for folders and, with ``mean``, ``mean.binaryproto``/``mean.npy``/``mean.json`` of the first
split accumulated in float64 while it is written (no second pass). ``<out>`` is written as one
:func:`atomic.atomic_outputs`: complete or not at all; a failed run leaves what was there.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..atomic import atomic_outputs
from ..errors import UserError
from . import imagefolder, lmdbio, stats
from .imagefolder import check_class_names, read_labels_file
from .layout import Dataset, get
from .preprocess import MAX_PIXELS, RECIPE_FILE, Recipe, check_max_pixels, load, resize_image, to_chw
from .recipes import check_limit, check_shapes

MAX_SIDE = 32768          # pixels: a larger --resize is a typo, not an image size
_SPLIT_RE = re.compile(r"^[A-Za-z0-9_-]+(\+[A-Za-z0-9_-]+)*$")


def db_name(split: str) -> str:
    """``<split>_lmdb`` (``train+extra`` → ``train_extra_lmdb``); a split name is letters, digits,
    ``_`` and ``-`` (joined by ``+``), so it always names a folder inside the output."""
    if not _SPLIT_RE.match(split):
        raise UserError(f"split names are letters, digits, '_' and '-' (joined by '+'), not {split!r}")
    return split.replace("+", "_") + "_lmdb"


def parse_size(text: str | None) -> tuple[tuple[int, int] | None, bool]:
    """``"WxH"`` → ((W, H), False); ``"N"`` → ((N, N), True) meaning shorter side N."""
    if not text:
        return None, False
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
            shorter = False
        else:
            w = h = int(text)
            shorter = True
    except ValueError:
        raise UserError(f"--resize wants WxH (e.g. 256x256) or N (shorter side), got {text!r}") from None
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise UserError(f"--resize sizes must be 1 to {MAX_SIDE} pixels, got {text!r}")
    return (w, h), shorter


def read_split(info: Dataset, path: str | os.PathLike, split: str, **opts) -> tuple[np.ndarray, np.ndarray]:
    """Read one split; ``a+b`` concatenates splits (SVHN ``train+extra``)."""
    parts = split.split("+")
    for p in parts:
        if p not in info.splits:
            raise UserError(f"{info.name} has splits {', '.join(info.splits)}, not {p!r}")
    xs, ys = zip(*(info.read(path, p, **opts) for p in parts))
    return (xs[0], ys[0]) if len(xs) == 1 else (np.concatenate(xs), np.concatenate(ys))


def reorder_channels(images: np.ndarray, have: str, want: str) -> np.ndarray:
    """N×C×H×W (or C×H×W) between ``RGB`` and ``BGR``; gray stays gray."""
    if have == want or have == "gray":
        return images
    if {have, want} != {"RGB", "BGR"}:
        raise UserError(f"cannot convert channel order {have} to {want}")
    return np.ascontiguousarray(images[..., ::-1, :, :])


def _array_items(x: np.ndarray, y: np.ndarray, order, have: str, want: str, size, mode: str) -> Iterator:
    """Records of an in-memory split: :class:`lmdbio.Block` s of 1024, or single records when a
    resize/gray conversion needs OpenCV per image."""
    idx = np.arange(len(x)) if order is None else order
    if size is None and (want == have or want != "gray"):
        for s in range(0, len(idx), 1024):
            sel = slice(s, s + 1024) if order is None else idx[s:s + 1024]   # a slice is a view: no copy
            yield lmdbio.Block(reorder_channels(x[sel], have, want), y[sel])
        return
    for i in idx:
        a = x[i]
        img = a[0] if have == "gray" else reorder_channels(a, have, "BGR").transpose(1, 2, 0)
        if size is not None:
            img = resize_image(np.ascontiguousarray(img), size[0], size[1], mode)
        yield to_chw(img, want), int(y[i])


def _settings(rec: Recipe) -> tuple:
    return rec.dataset, rec.channel_order, rec.dtype, rec.size, rec.resize_mode, rec.labels


def convert_dataset(dataset: str, src: str | os.PathLike, out_dir: str | os.PathLike, splits: list[str] | None = None,
                    list_file: str | None = None, label: str = "fine", shuffle: bool = False, seed: int = 0,
                    resize: str | None = None, resize_mode: str = "squash", gray: bool = False,
                    encode: str | None = None, channel_order: str | None = None, mean: bool = False,
                    force: bool = False, limit: int | None = None, labels_file: str | None = None,
                    max_pixels: int = MAX_PIXELS, log: Callable[[str], None] = print) -> Recipe:
    """Convert ``splits`` of ``dataset`` at ``src`` into ``out_dir`` (see the module docstring).

    ``out_dir`` is one dataset with one label map: a run may add splits to it (e.g. the val
    folder after the train folder); they are checked against the map recorded there (an
    unknown class is an error, a missing class a note) and the earlier splits are kept."""

    info = get(dataset)
    out = Path(out_dir)
    size, shorter = parse_size(resize)
    mode = "shorter" if shorter else resize_mode
    want = "gray" if gray else (channel_order or ("BGR" if encode else info.channel_order))
    check_limit(limit)
    check_max_pixels(max_pixels)
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    if encode and want == "RGB":
        raise UserError("encoded (PNG/JPEG) records are always BGR -- Caffe decodes them with OpenCV; drop --channel-order RGB")
    if info.channel_order == "gray" and want != "gray":
        raise UserError(f"{info.name} has one channel; --channel-order does not apply")
    if splits is None:
        splits = [s for s in info.splits if s != "extra"]
    if len(set(splits)) != len(splits):
        raise UserError(f"a split is given twice: {', '.join(splits)}")
    if info.read is None and len(splits) != 1:
        raise UserError("folder datasets write one DB per run: give one --split name (the output is <out>/<split>_lmdb)")
    if labels_file and info.read is not None:
        raise UserError(f"--labels is for folder datasets; {info.name} carries its own class names")
    names = [db_name(s) for s in splits]
    parts = names + (["mean.binaryproto", "mean.npy", "mean.json"] if mean else [])
    rec = Recipe(layout=out.name, dataset=info.name, channel_order=want,
                 dtype=f"encoded-{encode}" if encode else "uint8",
                 size=list(size) if size and not shorter else None, resize_mode=mode,
                 labels=label if info.name == "cifar100" else ("10 -> 0" if info.name == "svhn" else None),
                 note=f"tools/to_lmdb.py {info.name}" + (f" --resize {resize} ({mode})" if resize else "")
                 + (f" --shuffle --seed {seed}" if shuffle else ""))
    with atomic_outputs(out, parts, force=force, log=log) as stage:
        prev = _previous(stage, splits, rec)
        class_names, provenance, fixing = _label_map(info, src, splits, label, list_file, labels_file, prev, out)
        rec.class_names, rec.label_map = class_names, provenance
        if prev is not None:                     # keep the earlier splits' records and statistics
            rec.splits = {k: v for k, v in prev.splits.items() if k not in splits}
            rec.stats, rec.transform = prev.stats, prev.transform

        # read (and check) everything before writing anything
        loaded: dict[str, tuple] = {}
        for split in splits:
            if info.read is not None:
                x, y = read_split(info, src, split, label=label)
                loaded[split] = (x[:limit], y[:limit]) if limit else (x, y)
            else:
                if list_file:
                    items = imagefolder.read_list(list_file, class_names)
                else:                    # the split that fixes the map is scanned as it is (no empty classes)
                    items, _ = imagefolder.scan_folder(src, None if fixing else class_names, log=log)
                loaded[split] = (items[:limit] if limit else items, None)
                n_cls = len({lab for _, lab in loaded[split][0]})
                log(f"{len(loaded[split][0])} images in {n_cls} classes")

        if info.read is not None:       # the splits of one folder agree on the record shape
            same = size is None and (want == "gray") == (info.channel_order == "gray")   # stored = read shape
            kept = {k: v["shape"] for k, v in rec.splits.items() if v.get("shape")} if same else {}
            check_shapes({**kept, **{k: x for k, (x, _) in loaded.items()}}, out)
        for n, (split, name) in enumerate(zip(splits, names)):
            acc = stats.MeanAccumulator() if mean and n == 0 else None
            if info.read is not None:
                x, y = loaded[split]
                order = np.random.default_rng(seed).permutation(len(x)) if shuffle else None
                items = _array_items(x, y, order, info.channel_order, want, size, mode)
                total, key_suffix = len(x), False
            else:
                files = loaded[split][0]
                if shuffle:
                    files = imagefolder.shuffled(files, seed)
                items = imagefolder.iter_images(Path(src), files, gray=gray, size=size, mode=mode, encode=encode,
                                                channel_order=want, max_pixels=max_pixels)
                total, key_suffix = len(files), True
            summary = lmdbio.write_lmdb(stage / name, stats.tap(items, acc), total=total, encode=encode,
                                        key_suffix=key_suffix, desc=f"{info.name} {split}")
            summary.path = str(out / name)
            rec.add_split(split, summary, log)
            if acc is not None:
                st = acc.result()
                stats.write_mean_files(stage, st, want, extra={"source": str(out / name)})
                rec.stats = st.as_dict()
                rec.transform = {"mean_file": str(out / "mean.binaryproto")}
                log(f"mean of {split} written to {out / 'mean.binaryproto'} (+ .npy, .json):")
                for line in st.lines(want if want != "gray" else None):
                    log(line)
        if class_names and info.read is None:
            imagefolder.write_labels_file(stage / "labels.txt", class_names)
        rec.save(stage)
    return rec


def _previous(stage: Path, splits: list[str], rec: Recipe) -> Recipe | None:
    """The recipe of the splits this run keeps (carried into ``stage``), checked to be
    converted with this run's settings; None when there is none."""
    if not (stage / RECIPE_FILE).is_file():
        return None
    prev = load(stage / RECIPE_FILE)
    kept = [s for s in prev.splits if s not in splits]
    if not kept:
        return None
    if _settings(prev) != _settings(rec):
        raise UserError(f"{rec.layout}: its split(s) {', '.join(kept)} were converted from {prev.dataset} with other "
                        "settings (channel order, type, size or labels); convert into a new folder, or rerun all "
                        "splits with --force")
    return prev


def _label_map(info: Dataset, src, splits: list[str], label: str, list_file: str | None, labels_file: str | None,
               prev: Recipe | None, out: Path) -> tuple[list[str] | None, dict, bool]:
    """The dataset's one label map: recorded by an earlier run into ``out`` (kept), else the
    ``--labels`` file, else the source's class names (folders: the train split's subfolders).
    The flag is true when this run's (folder) split fixes the map."""
    given = read_labels_file(labels_file) if labels_file else None
    if prev is not None and (prev.class_names or prev.label_map):
        if given is not None and given != prev.class_names:
            raise UserError(f"--labels {labels_file} differs from the label map {out} already has "
                            f"({prev.label_map.get('source', 'recorded')}); one dataset has one label map")
        return prev.class_names, prev.label_map, False
    if given is not None:
        return given, {"source": f"labels file {labels_file}", "num_classes": len(given)}, False
    if info.read is not None:
        names = info.class_names(src, label=label)
        return names, {"source": f"{info.name} files" if names else "none (the files carry no class names)",
                       "num_classes": len(names) if names else info.num_classes}, False
    if list_file:
        return None, {"source": f"list file {list_file} (integer labels, no names)", "num_classes": None}, False
    if not splits[0].startswith("train"):
        raise UserError(f"{out} has no label map yet: convert the train split first (it fixes the classes), "
                        "or give --labels FILE (one class name per line)")
    root = Path(src)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    check_class_names(names, root)
    return names, {"source": f"folder names of the {splits[0]} split (sorted)", "num_classes": len(names)}, True
