"""Download the raw datasets from their official sources (each dataset record's
``download``, see layout.py), verifying MD5 checksums.

Files land in ``data/raw/<dataset>/`` (git-ignored) under their official names; a file that
is already there with the right checksum is not fetched again. Each download goes to a
temporary name and is renamed only after its checksum matched, so a failed or interrupted
download never leaves a file that looks complete.

``mirror`` (or the environment variable ``SIMPLENET_DATA_MIRROR``) replaces the list of
base URLs, e.g. a local copy or -- in the tests -- an HTTP server on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..atomic import write_atomic
from ..errors import UserError
from ..paths import DATA_DIR
from ..progress import progress
from .layout import DATASETS, get


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def raw_dir(dataset: str) -> Path:
    return DATA_DIR / "raw" / dataset


def fetch(url: str, dest: Path, md5: str | None, timeout: float = 60) -> Path:
    """Download one URL to ``dest`` (temp name, checksum, rename)."""
    def copy(f) -> None:
        h = hashlib.md5()
        with urllib.request.urlopen(url, timeout=timeout) as r:
            total = int(r.headers.get("Content-Length") or 0) or None
            bar = progress(None, total=total, desc=dest.name, unit="B", unit_scale=True)
            try:
                while block := r.read(1 << 20):
                    f.write(block)
                    h.update(block)
                    bar.update(len(block))
            finally:
                bar.close()
        if md5 and h.hexdigest() != md5:
            raise UserError(f"checksum mismatch for {url}: md5 {h.hexdigest()}, expected {md5} (file discarded)")

    return write_atomic(dest, copy)


def download(dataset: str, dest: str | os.PathLike | None = None, mirror: str | None = None,
             files: list[str] | None = None, timeout: float = 60) -> Path:
    """Fetch ``dataset``'s files into ``dest`` (default ``data/raw/<dataset>``); returns the folder."""
    src = get(dataset).download
    if src is None:
        raise UserError(f"no download source for {dataset!r} (known: "
                        f"{', '.join(d.name for d in DATASETS.values() if d.download)})")
    out = Path(dest) if dest else raw_dir(dataset)
    mirror = mirror or os.environ.get("SIMPLENET_DATA_MIRROR")
    bases = (mirror.rstrip("/") + "/",) if mirror else src.urls
    for rf in src.files:
        if files is not None and rf.name not in files:
            continue
        target = out / rf.name
        if target.is_file() and md5sum(target) == rf.md5:
            continue
        errors = []
        for base in bases:
            try:
                fetch(base + rf.name, target, rf.md5, timeout)
                break
            except (urllib.error.URLError, OSError) as e:
                errors.append(f"{base + rf.name}: {getattr(e, 'reason', e)}")
        else:
            raise UserError(f"could not download {rf.name}: " + "; ".join(errors))
    return out
