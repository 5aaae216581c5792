"""Generic dataset → LMDB conversion (what tools/to_lmdb.py runs).

Reads every requested split first (so a bad file fails before anything is written), then
writes ``<out>/<split>_lmdb`` for each split (``train+extra`` → ``train_extra_lmdb``), plus
``preprocess.json`` and, with ``mean``, ``mean.binaryproto``/``mean.npy``/``mean.json`` of the
first split accumulated in float64 while it is written (no second pass). If a later split
fails, the DBs this run already wrote are removed again.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import datasets, lmdbio
from ..atomic import write_atomic
from ..errors import UserError
from .preprocess import Recipe, resize_image, to_chw


def db_name(split: str) -> str:
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
    if w <= 0 or h <= 0:
        raise UserError(f"--resize sizes must be positive, got {text!r}")
    return (w, h), shorter


def _array_items(x: np.ndarray, y: np.ndarray, order, have: str, want: str, size, mode: str) -> Iterator:
    """Records of an in-memory split: :class:`lmdbio.Block` s of 1024, or single records when a
    resize/gray conversion needs OpenCV per image."""
    idx = np.arange(len(x)) if order is None else order
    if size is None and (want == have or want != "gray"):
        for s in range(0, len(idx), 1024):
            sel = slice(s, s + 1024) if order is None else idx[s:s + 1024]   # a slice is a view: no copy
            yield lmdbio.Block(datasets.reorder_channels(x[sel], have, want), y[sel])
        return
    for i in idx:
        a = x[i]
        img = a[0] if have == "gray" else datasets.reorder_channels(a, have, "BGR").transpose(1, 2, 0)
        if size is not None:
            img = resize_image(np.ascontiguousarray(img), size[0], size[1], mode)
        yield to_chw(img, want), int(y[i])


def convert_dataset(dataset: str, src: str | os.PathLike, out_dir: str | os.PathLike, splits: list[str] | None = None,
                    list_file: str | None = None, label: str = "fine", shuffle: bool = False, seed: int = 0,
                    resize: str | None = None, resize_mode: str = "squash", gray: bool = False,
                    encode: str | None = None, channel_order: str | None = None, mean: bool = False,
                    force: bool = False, limit: int | None = None, log: Callable[[str], None] = print) -> Recipe:
    from . import imagefolder, stats   # here, not at the top: a plain MNIST/CIFAR run starts faster

    info = datasets.get(dataset)
    out = Path(out_dir)
    size, shorter = parse_size(resize)
    mode = "shorter" if shorter else resize_mode
    want = "gray" if gray else (channel_order or ("BGR" if encode else info.channel_order))
    if encode and want == "RGB":
        raise UserError("encoded (PNG/JPEG) records are always BGR -- Caffe decodes them with OpenCV; drop --channel-order RGB")
    if info.channel_order == "gray" and want != "gray":
        raise UserError(f"{info.name} has one channel; --channel-order does not apply")
    if splits is None:
        splits = [s for s in info.splits if s != "extra"]
    if info.read is None and len(splits) != 1:
        raise UserError("folder datasets write one DB per run: give one --split name (the output is <out>/<split>_lmdb)")
    targets = [out / db_name(s) for s in splits]
    for t in targets:
        lmdbio.check_target(t, force)

    # read (and check) everything before writing anything
    loaded: dict[str, tuple] = {}
    for split in splits:
        if info.read is not None:
            x, y = datasets.read_split(info, src, split, label=label)
            if limit:
                x, y = x[:limit], y[:limit]
            loaded[split] = (x, y)
        else:
            if list_file:
                items, classes = imagefolder.read_list(list_file), None
            else:
                items, classes = imagefolder.scan_folder(src)
            if limit:
                items = items[:limit]
            loaded[split] = (items, classes)
            log(f"{len(items)} images in {len(classes) if classes else len(set(l for _, l in items))} classes")

    rec = Recipe(layout=out.name, dataset=info.name, channel_order=want,
                 dtype=f"encoded-{encode}" if encode else "uint8",
                 size=list(size) if size and not shorter else None, resize_mode=mode,
                 labels=label if info.name == "cifar100" else ("10 -> 0" if info.name == "svhn" else None),
                 note=f"tools/to_lmdb.py {info.name}" + (f" --resize {resize} ({mode})" if resize else "")
                 + (f" --shuffle --seed {seed}" if shuffle else ""))
    written: list[Path] = []
    try:
        for n, (split, target) in enumerate(zip(splits, targets)):
            acc = stats.MeanAccumulator() if mean and n == 0 else None
            if info.read is not None:
                x, y = loaded[split]
                order = np.random.default_rng(seed).permutation(len(x)) if shuffle else None
                items = _array_items(x, y, order, info.channel_order, want, size, mode)
                total = len(x)
                key_suffix = False
            else:
                files, classes = loaded[split]
                if shuffle:
                    files = imagefolder.shuffled(files, seed)
                root = Path(src)
                items = imagefolder.iter_images(root, files, gray=gray, size=size, mode=mode, encode=encode,
                                                channel_order=want)
                total = len(files)
                key_suffix = True
                if classes:
                    write_atomic(out / "labels.txt", "".join(c + "\n" for c in classes))
            summary = lmdbio.write_lmdb(target, stats.tap(items, acc), total=total, force=force, encode=encode,
                                        key_suffix=key_suffix, desc=f"{info.name} {split}")
            written.append(target)
            rec.add_split(split, summary, log)
            if acc is not None:
                st = acc.result()
                paths = stats.write_mean_files(out, st, want, extra={"source": str(target)})
                rec.stats = st.as_dict()
                rec.transform = {"mean_file": str(paths["binaryproto"])}
                log(f"mean of {split} written to {paths['binaryproto']} (+ .npy, .json):")
                for line in st.lines(want if want != "gray" else None):
                    log(line)
    except BaseException:
        for t in written:
            shutil.rmtree(t, ignore_errors=True)
        raise
    rec.save(out)
    return rec
