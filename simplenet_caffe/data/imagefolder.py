"""Image folders (one subfolder per class) and Caffe list files (``path label``).

* Folders: classes are the subfolder names in sorted order (label 0, 1, ...); images are
  found recursively inside each class folder (sorted). ``labels.txt`` lists the classes.
* List files: one ``path label`` per line, paths relative to the image root; the label is the
  last whitespace-separated field, so paths may hold spaces and tabs; leading and trailing
  blanks are ignored (convert_imageset breaks on tabs and trailing blanks). Blank lines and
  ``#`` comments are skipped.
* Images are read as bytes (any file-name bytes) and decoded with ``cv2.imdecode`` after a
  header check (:func:`preprocess.read_image`): records are CHW uint8 in **BGR** order (as
  convert_imageset stores them and as the authors' ImageNet LMDBs were built), or one channel
  with ``gray``. An empty, truncated or undecodable image is an error naming the file
  (convert_imageset only logs it and writes an almost empty DB).
* Labels: one label map per dataset (:func:`scan_folder` with ``classes``), never renumbered
  per split.
"""
from __future__ import annotations

import collections
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import write_atomic
from ..errors import UserError
from .preprocess import quiet_cv2, read_image, resize_image, shown, to_chw

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
_LINE = re.compile(r"^\s*(.*?\S)\s+(-?\d+)\s*$")


def scan_folder(root: str | os.PathLike, classes: list[str] | None = None,
                log=print) -> tuple[list[tuple[str, int]], list[str]]:
    """``([(relative path, label)], class names)`` for a folder of class subfolders.

    Without ``classes`` the classes are the subfolder names, sorted (label 0, 1, ...). With
    ``classes`` (a dataset's label map, fixed by its train split) each subfolder gets the
    label of its name in ``classes``: a subfolder not in the map is an error, a class with no
    subfolder (or no images) is logged as a note -- labels are never renumbered."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise UserError(f"{root}: empty folder (expected one subfolder per class)")
    if classes is None:
        names, index = found, {n: i for i, n in enumerate(found)}
    else:
        names, index = list(classes), {n: i for i, n in enumerate(classes)}
        unknown = [n for n in found if n not in index]
        if unknown:
            raise UserError(f"{root}: class folder(s) not in the dataset's label map: {', '.join(map(shown, unknown))} "
                            f"(the map has {len(names)} classes, fixed by the train split or --labels)")
    items: list[tuple[str, int]] = []
    empty = []
    for name in found:
        files = sorted(p for p in (root / name).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
        if not files:
            empty.append(name)
        items += [(p.relative_to(root).as_posix(), index[name]) for p in files]
    if empty and classes is None:
        raise UserError(f"{root}: class folder(s) with no images: {', '.join(map(shown, empty))}")
    missing = [n for n in names if n not in found or n in empty]
    if classes is not None and missing:
        log(shown(f"note: {root} has no images of {len(missing)} of the {len(names)} classes "
                  f"({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}); labels keep the map's numbers"))
    return items, names


def write_labels_file(path: str | os.PathLike, names: list[str]) -> Path:
    """Write a label map file (``labels.txt``): one name a line, folder-name bytes kept as they are."""
    return write_atomic(path, "".join(n + "\n" for n in names).encode("utf-8", "surrogateescape"))


def read_labels_file(path: str | os.PathLike) -> list[str]:
    """A label map file: one class name per line, line N (from 0) = label N (``labels.txt``)."""
    path = Path(path)
    try:
        names = [line.strip() for line in path.read_bytes().decode("utf-8", "surrogateescape").splitlines()]
    except OSError as e:
        raise UserError(f"cannot read labels file {path}: {e}") from e
    while names and not names[-1]:
        names.pop()
    if not names:
        raise UserError(f"{path}: labels file is empty (one class name per line)")
    bad = [n for n, name in enumerate(names, 1) if not name]
    if bad:
        raise UserError(f"{path}:{bad[0]}: empty class name")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"{path}: class name(s) listed twice: {', '.join(dup)}")
    return names


def read_list(path: str | os.PathLike) -> list[tuple[str, int]]:
    """Parse a Caffe list file into ``[(path, label)]`` (see module docstring)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read list file {path}: {e}") from e
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise UserError(f"{path}:{n}: expected 'path label' with an integer label, got {line.strip()!r}")
        label = int(m.group(2))
        if label < 0:
            raise UserError(f"{path}:{n}: negative label {label}")
        items.append((m.group(1), label))
    if not items:
        raise UserError(f"{path}: list file has no entries")
    return items


def load_one(root: Path, rel: str, gray: bool, size: tuple[int, int] | None, mode: str,
             encode: str | None, channel_order: str = "BGR"):
    """One record: ``(CHW uint8, encoded bytes or None)``."""
    path = root / rel
    img = read_image(path, gray=gray)
    changed = gray or channel_order != "BGR"
    if size is not None:
        w, h = size
        r = resize_image(img, w, h, mode)
        changed = changed or r.shape[:2] != img.shape[:2]
        img = r
    chw = to_chw(img, "gray" if gray else channel_order)
    raw = None
    if encode and not changed and path.suffix.lower().lstrip(".").replace("jpeg", "jpg") == encode:
        raw = path.read_bytes()       # keep the file's own bytes (no second JPEG compression)
    return chw, raw


def iter_images(root: str | os.PathLike, items: list[tuple[str, int]], gray: bool = False,
                size: tuple[int, int] | None = None, mode: str = "squash", encode: str | None = None,
                channel_order: str = "BGR", threads: int | None = None, chunk: int = 32) -> Iterator:
    """Yield ``(CHW uint8, label, relative path, raw)`` in list order (the item format of
    :func:`lmdbio.write_lmdb`); ``raw`` is the file's bytes when they can be stored unchanged
    as the requested encoding, else None.

    Decoding runs on a few threads (OpenCV releases the GIL), ``chunk`` images per task, with
    a bounded window of tasks in flight: the threads keep decoding while the caller writes,
    and memory stays bounded however long the list is."""
    root = Path(root)
    threads = threads or min(4, os.cpu_count() or 1)
    quiet_cv2()                        # imread's own warnings off: our error names the file

    def load(part):
        return [load_one(root, rel, gray, size, mode, encode, channel_order) for rel, _ in part]

    def emit(part, fut):
        for (rel, label), (chw, raw) in zip(part, fut.result()):
            yield chw, label, rel, raw

    window: collections.deque = collections.deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for s in range(0, len(items), chunk):
                part = items[s:s + chunk]
                window.append((part, pool.submit(load, part)))
                if len(window) > 2 * threads:
                    yield from emit(*window.popleft())
            while window:
                yield from emit(*window.popleft())
        finally:
            for _, fut in window:          # on an error or an early stop: drop the queued tasks
                fut.cancel()


def shuffled(items: list, seed: int) -> list:
    """A seeded permutation (numpy PCG64), the same on every machine."""
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[i] for i in order]
