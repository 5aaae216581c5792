"""Download the raw datasets from their official sources, verifying MD5 checksums.

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
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomic
from ..errors import UserError
from ..progress import progress
from ..paths import DATA_DIR


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str


@dataclass(frozen=True)
class Source:
    urls: tuple[str, ...]          # base URLs tried in order (file name appended)
    files: tuple[RemoteFile, ...]
    note: str = ""


SOURCES: dict[str, Source] = {
    "mnist": Source(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        (RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
         RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
         RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
         RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")),
        "LeCun et al.; the S3 copy is the one torchvision uses (yann.lecun.com often refuses downloads)"),
    "fashion-mnist": Source(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        (RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
         RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
         RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
         RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")),
        "Zalando Research"),
    "cifar10": Source(
        ("https://www.cs.toronto.edu/~kriz/",),
        (RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        "Krizhevsky; the binary version is cifar-10-binary.tar.gz (md5 c32a1d4ab5d03f1284b67883e8d87530)"),
    "cifar100": Source(
        ("https://www.cs.toronto.edu/~kriz/",),
        (RemoteFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),),
        "Krizhevsky; the binary version is cifar-100-binary.tar.gz (md5 03b5dce01913d631647c71ecec9e9cb8)"),
    "svhn": Source(
        ("http://ufldl.stanford.edu/housenumbers/",),
        (RemoteFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
         RemoteFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
         RemoteFile("extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7")),
        "Netzer et al., format 2 (cropped 32x32 digits); extra is 1.3 GB"),
}


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
    if dataset not in SOURCES:
        raise UserError(f"no download source for {dataset!r} (known: {', '.join(SOURCES)})")
    src = SOURCES[dataset]
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
