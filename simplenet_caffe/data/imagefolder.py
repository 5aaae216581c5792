"""Image folders (one subfolder per class) and Caffe list files (``path label``).

* Folders: classes are the subfolder names in sorted order (label 0, 1, ...); images are
  found recursively inside each class folder (sorted). ``labels.txt`` lists the classes.
* List files: one ``path label`` per line, paths relative to the image root; the label is the
  last whitespace-separated field, so paths may hold spaces and tabs; leading and trailing
  blanks are ignored (convert_imageset breaks on tabs and trailing blanks). Blank lines and
  ``#`` comments are skipped. A path must stay inside the root (no absolute path, no ``..``);
  a label is 0 to 2**31 - 1 (Caffe's int32), below the label map's size when there is one, and
  the label of its class folder when the path's first folder is a class of the map.
* Class folders are walked recursively, following symlinked sub-folders (each real folder
  once). Class names are one line each in ``labels.txt``: a name with a line break or with
  blanks at either end is refused.
* Images are read as bytes (any file-name bytes) and decoded with ``cv2.imdecode`` after a
  header check (:func:`preprocess.read_image`): records are CHW uint8 in **BGR** order (as
  convert_imageset stores them and as the authors' ImageNet LMDBs were built), or one channel
  with ``gray``. An empty, truncated or undecodable image is an error naming the file
  (convert_imageset only logs it and writes an almost empty DB).
* Labels: one label map per dataset (:func:`scan_folder` with ``classes``), never renumbered
  per split, never truncated.
"""
from __future__ import annotations

import collections
import concurrent.futures
import os
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import write_atomic
from ..errors import UserError
from .labels import MAX_LABEL
from .preprocess import MAX_PIXELS, caffe_keeps_as_is, quiet_cv2, read_image, resize_image, shown, to_chw

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
    check_class_names(found, root)
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
        files = sorted(image_files(root / name))
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


def image_files(folder: Path) -> Iterator[Path]:
    """The image files under ``folder`` (by extension), recursively, following symlinked
    sub-folders; a folder reached twice (a link loop, or two links to one folder) is walked once."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        for f in filenames:
            p = Path(dirpath) / f
            if p.suffix.lower() in IMAGE_EXTS and p.is_file():
                yield p


def check_class_names(names: list[str], where) -> None:
    """Refuse class names that ``labels.txt`` (one name a line, blanks at the ends ignored)
    cannot hold as they are."""
    for name in names:
        if "\n" in name or "\r" in name or name != name.strip():
            raise UserError(f"{shown(where)}: class name {shown(repr(name))} has a line break or blanks at an end, "
                            "which labels.txt (one name a line) cannot keep; rename the folder")


def write_labels_file(path: str | os.PathLike, names: list[str]) -> Path:
    """Write a label map file (``labels.txt``): one name a line, folder-name bytes kept as they are."""
    check_class_names(names, path)
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
    dup = sorted(n for n, k in collections.Counter(names).items() if k > 1)
    if dup:
        raise UserError(f"{path}: class name(s) listed twice: {', '.join(dup)}")
    return names


def read_list(path: str | os.PathLike, class_names: list[str] | None = None) -> list[tuple[str, int]]:
    """Parse a Caffe list file into ``[(path, label)]`` (see module docstring). With
    ``class_names`` (the dataset's label map) each label is checked against it."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read list file {path}: {e}") from e
    index = {n: i for i, n in enumerate(class_names)} if class_names else {}
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise UserError(f"{path}:{n}: expected 'path label' with an integer label, got {line.strip()!r}")
        rel, label = m.group(1), int(m.group(2))
        if not 0 <= label <= MAX_LABEL:
            raise UserError(f"{path}:{n}: label {label} is out of range (0 to {MAX_LABEL}, Caffe's int32)")
        parts = rel.replace("\\", "/").split("/")
        if rel.startswith(("/", "\\")) or ".." in parts or (len(rel) > 1 and rel[1] == ":"):
            raise UserError(f"{path}:{n}: {shown(rel)} is not a path inside the image root "
                            "(absolute paths and '..' are refused)")
        if class_names:
            if label >= len(class_names):
                raise UserError(f"{path}:{n}: label {label} is not in the dataset's label map "
                                f"({len(class_names)} classes, 0 to {len(class_names) - 1})")
            want = index.get(parts[0]) if len(parts) > 1 else None
            if want is not None and want != label:
                raise UserError(f"{path}:{n}: {shown(rel)} is in class folder {shown(parts[0])!r}, which the label "
                                f"map numbers {want}, but the line gives label {label}")
        items.append((rel, label))
    if not items:
        raise UserError(f"{path}: list file has no entries")
    return items


def load_one(root: Path, rel: str, gray: bool, size: tuple[int, int] | None, mode: str,
             encode: str | None, channel_order: str = "BGR", max_pixels: int = MAX_PIXELS):
    """One record: ``(CHW uint8, encoded bytes or None)``; the file's own bytes only when Caffe
    decodes them to this record (:func:`preprocess.caffe_keeps_as_is`)."""
    path = root / rel
    img = read_image(path, gray=gray, max_pixels=max_pixels)
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
        if not caffe_keeps_as_is(raw, chw.shape[0]):
            raw = None
    return chw, raw


#: what libjpeg prints on stderr (through OpenCV) about a JPEG it decodes in spite of damage
_DECODER_DAMAGE = re.compile(rb"Corrupt JPEG data|Premature end of JPEG file|Invalid JPEG file structure|"
                             rb"JPEG datastream contains no image|Bogus (marker|Huffman|DQT|DAC)|Unsupported marker")


class DecoderWarnings:
    """Catch what C decoders print on stderr while images are decoded: libjpeg warns about a
    damaged JPEG on file descriptor 2 and decodes it anyway (grey blocks, shifted rows), so
    its warning is the only sign. Inside the ``with`` block fd 2 goes to a temp file;
    :meth:`check` passes everything in it on to the real stderr (progress bars, other
    warnings) except libjpeg's damage warnings, which it returns."""

    def __enter__(self) -> "DecoderWarnings":
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile()
        self.real = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        self.pos, self.pending = 0, b""
        return self

    def check(self) -> str | None:
        """Pass new output on; return the damage warnings printed since the last call, or None."""
        sys.stderr.flush()
        size = os.fstat(self.file.fileno()).st_size
        if size == self.pos:
            return None
        data = self.pending + os.pread(self.file.fileno(), size - self.pos, self.pos)
        self.pos = size
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1      # keep an unfinished line for later
        data, self.pending = data[:cut], data[cut:]
        keep, bad = [], []
        for line in data.splitlines(keepends=True):
            (bad if _DECODER_DAMAGE.search(line) else keep).append(line)
        if keep:
            os.write(self.real, b"".join(keep))
        return b" ".join(b.strip() for b in bad).decode("utf-8", "replace") or None

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self.real, 2)
        try:
            size = os.fstat(self.file.fileno()).st_size
            rest = self.pending + os.pread(self.file.fileno(), size - self.pos, self.pos)
            if rest:
                os.write(2, rest)
        finally:
            os.close(self.real)
            self.file.close()


def iter_images(root: str | os.PathLike, items: list[tuple[str, int]], gray: bool = False,
                size: tuple[int, int] | None = None, mode: str = "squash", encode: str | None = None,
                channel_order: str = "BGR", threads: int | None = None, chunk: int = 32,
                max_pixels: int = MAX_PIXELS) -> Iterator:
    """Yield ``(CHW uint8, label, relative path, raw)`` in list order (the item format of
    :func:`lmdbio.write_lmdb`); ``raw`` is the file's bytes when they can be stored unchanged
    as the requested encoding, else None.

    Decoding runs on a few threads (OpenCV releases the GIL), ``chunk`` images per task, with
    a bounded window of tasks in flight: the threads keep decoding while the caller writes,
    and memory stays bounded however long the list is. A JPEG that libjpeg decodes with a
    damage warning is an error naming the file (:class:`DecoderWarnings`): when a finished
    task leaves such a warning, the tasks in flight are stopped and the candidates decoded
    again one at a time to find it."""
    root = Path(root)
    threads = threads or min(4, os.cpu_count() or 1)
    quiet_cv2()                        # OpenCV's own warnings off: our error names the file

    def load(part):
        return [load_one(root, rel, gray, size, mode, encode, channel_order, max_pixels) for rel, _ in part]

    def find_damaged(parts, warning: str, warn: DecoderWarnings):
        for fut in [f for _, f in window]:
            fut.cancel()
        concurrent.futures.wait([f for _, f in window])
        warn.check()
        for rel, _ in (it for part in parts for it in part):
            load_one(root, rel, gray, size, mode, encode, channel_order, max_pixels)
            found = warn.check()
            if found:
                raise UserError(f"{shown(root / rel)}: damaged image ({found})")
        raise UserError(f"an image decoder reported damage ({warning}) among {shown(root / parts[0][0][0])} "
                        f"and the {sum(map(len, parts)) - 1} images after it")

    window: collections.deque = collections.deque()
    with DecoderWarnings() as warn, ThreadPoolExecutor(max_workers=threads) as pool:   # pool ends first

        def emit(part, fut):
            results = fut.result()
            warning = warn.check()
            if warning:
                find_damaged([part] + [p for p, _ in window], warning, warn)
            for (rel, label), (chw, raw) in zip(part, results):
                yield chw, label, rel, raw

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
