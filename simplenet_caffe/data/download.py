"""Download the raw datasets from their official sources (each dataset record's
``download``, see layout.py), verifying MD5 checksums (through simplenet_caffe/fetch.py).

Files land in ``data/raw/<dataset>/`` (git-ignored) under their official names; a file that
is already there with the right checksum is not fetched again. Each download goes to a
temporary name and is renamed only after its checksum matched, so a failed or interrupted
download never leaves a file that looks complete.

``mirror`` (or the environment variable ``SIMPLENET_DATA_MIRROR``) replaces the list of
base URLs, e.g. a local copy or -- in the tests -- an HTTP server on 127.0.0.1.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from ..fetch import Checksum, fetch
from ..paths import DATA_DIR
from .layout import DATASETS, get


def raw_dir(dataset: str) -> Path:
    return DATA_DIR / "raw" / dataset


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
        fetch([base + rf.name for base in bases], out / rf.name, Checksum("md5", rf.md5), timeout=timeout)
    return out
