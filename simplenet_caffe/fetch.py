"""The one file fetcher: a URL (or a list of mirrors) -> a checked local file, through pooch.

pooch downloads to a temporary name in the target's folder, checks the hash and only then
renames the file into place, so a failed, interrupted or tampered download never leaves a file
that looks complete. It retries a failed download (network error or hash mismatch) and keeps
files already present with the right hash (no download). This module adds what pooch lacks:

* ``file://`` URLs (a local mirror: an offline site, the tests), copied with the same checks;
* a published sha256 *prefix* (torch.hub's ``name-<8 hex>.pth`` convention) checked on the
  temporary file, before pooch moves it into place;
* the project's progress bar (simplenet_caffe/progress.py) and one-line errors
  (:class:`~simplenet_caffe.errors.UserError`): a mismatch names the URL and both hashes.

Hashes are hex digests: ``md5`` (the datasets' published checksums) or ``sha256``.
"""
from __future__ import annotations

import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import UserError
from .progress import progress

#: Download attempts after the first one that failed (pooch waits 1 s, 2 s, ... between them).
RETRIES = 2


@dataclass(frozen=True)
class Checksum:
    """What a file must hash to: ``algo`` is "md5" or "sha256"; ``digest`` a full hex digest,
    or only its leading characters when ``prefix`` (then pooch cannot check it; we do)."""
    algo: str
    digest: str
    prefix: bool = False

    def pooch_hash(self) -> str | None:
        return None if self.prefix else f"{self.algo}:{self.digest}"

    def matches(self, path: str | os.PathLike) -> bool:
        return file_hash(path, self.algo).startswith(self.digest.lower()) if self.prefix else \
            file_hash(path, self.algo) == self.digest.lower()

    def __str__(self) -> str:
        return f"{self.algo} {self.digest}" + ("..." if self.prefix else "")


def file_hash(path: str | os.PathLike, algo: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (``algo``: any hashlib name)."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class _Mismatch(ValueError):
    """Raised inside pooch's download loop (a ValueError is what pooch retries on)."""


class _Downloader:
    """pooch downloader: http(s) through pooch's own, file:// by copying; then the prefix check."""

    def __init__(self, check: Checksum, name: str, timeout: float):
        self.check, self.name, self.timeout = check, name, timeout

    def __call__(self, url: str, output_file, pooch_obj) -> None:
        import pooch

        bar = progress(None, total=None, desc=self.name, unit="B", unit_scale=True)
        try:
            if url.startswith("file://"):
                src = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
                bar.total = src.stat().st_size
                with open(src, "rb") as fin, open(output_file, "wb") as fout:
                    while block := fin.read(1 << 20):
                        fout.write(block)
                        bar.update(len(block))
            else:
                pooch.HTTPDownloader(progressbar=bar, timeout=self.timeout)(url, output_file, pooch_obj)
        finally:
            bar.close()
        if self.check.prefix and not self.check.matches(output_file):
            raise _Mismatch(f"{self.check.algo} {file_hash(output_file, self.check.algo)}")


def fetch(urls: str | Sequence[str], dest: str | os.PathLike, check: Checksum, *, timeout: float = 60,
          retries: int = RETRIES) -> Path:
    """Make ``dest`` a verified copy of the file at the first of ``urls`` that serves it.

    A ``dest`` that already has the right hash is kept as it is (nothing is downloaded). A
    download whose hash differs is discarded (nothing kept, the previous ``dest`` untouched) and
    reported as one :class:`UserError` line; so is a file no URL serves."""
    try:
        import pooch
        import requests
    except ImportError as e:
        raise UserError(f"downloading needs pooch ({e}): run make setup") from None

    pooch.get_logger().setLevel("WARNING")
    dest = Path(dest)
    urls = [urls] if isinstance(urls, str) else list(urls)
    if dest.is_file() and check.prefix and not check.matches(dest):
        dest.unlink()          # pooch would keep a file it has no full hash for
    errors = []
    for url in urls:
        p = pooch.create(path=dest.parent, base_url="", registry={dest.name: check.pooch_hash()},
                         urls={dest.name: url}, retry_if_failed=retries)
        try:
            p.fetch(dest.name, downloader=_Downloader(check, dest.name, timeout))
            return dest
        except _Mismatch as e:
            raise UserError(f"checksum mismatch for {url}: {e}, expected {check} (download discarded)") from None
        except ValueError as e:     # pooch's own hash check
            if "hash" not in str(e).lower():
                raise
            raise UserError(f"checksum mismatch for {url}: expected {check} (download discarded)") from None
        except (requests.RequestException, OSError) as e:
            errors.append(f"{url}: {_reason(e)}")
    raise UserError(f"could not download {dest.name}: " + "; ".join(errors))


def mirrored(url: str, mirror: str | None) -> str:
    """``url`` under ``mirror``: the mirror base URL + the URL's path (scheme and host removed)."""
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + urllib.parse.urlparse(url).path.lstrip("/")


def _reason(e: Exception) -> str:
    resp = getattr(e, "response", None)
    if resp is not None and getattr(resp, "status_code", None):
        return f"HTTP {resp.status_code} {resp.reason}"
    if isinstance(e, FileNotFoundError):
        return "no such file"
    return str(getattr(e, "strerror", None) or e).splitlines()[0][:200]
