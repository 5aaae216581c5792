"""CIFAR-10 / CIFAR-100 in both official forms: python pickle batches and binary ``.bin`` files.

Input: the extracted folder (``cifar-10-batches-py``, ``cifar-10-batches-bin``,
``cifar-100-python``, ``cifar-100-binary``), the folder above it, or the downloaded
``.tar.gz`` itself (read without extracting). The form is detected from the file names.

Output: ``N×3×32×32 uint8`` in the files' own **RGB** plane order (0-255) and ``int64``
labels. CIFAR-100 has ``fine`` (100 classes) and ``coarse`` (20 superclasses) labels.

Pickles are loaded with a restricted unpickler that only rebuilds numpy arrays, lists and
dicts, so a crafted file cannot run code.
"""
from __future__ import annotations

import importlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError
from .labels import int_labels

RECORD = 3 * 32 * 32
FILES = {
    ("cifar10", "python"): {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    ("cifar10", "binary"): {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]},
    ("cifar100", "python"): {"train": ["train"], "test": ["test"]},
    ("cifar100", "binary"): {"train": ["train.bin"], "test": ["test.bin"]},
}
NUM_CLASSES = {"cifar10": 10, "fine": 100, "coarse": 20}
#: where each form keeps its class names (python: a pickled dict entry; binary: one name a line)
META = {("cifar10", "python"): ("batches.meta", {"cifar10": "label_names"}),
        ("cifar100", "python"): ("meta", {"fine": "fine_label_names", "coarse": "coarse_label_names"}),
        ("cifar10", "binary"): ({"cifar10": "batches.meta.txt"}),
        ("cifar100", "binary"): ({"fine": "fine_label_names.txt", "coarse": "coarse_label_names.txt"})}
#: CIFAR-10's names, used when a copy lacks batches.meta (CIFAR-100's 100 names are read only from its meta file)
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        module = module.replace("numpy.core.", "numpy._core.")
        return getattr(importlib.import_module(module), name)


class _Source:
    """Files by base name, from a folder (searched two levels deep) or a tar archive."""

    def __init__(self, path: Path):
        self.path = path
        self.tar = None
        self.names: dict[str, object] = {}
        if path.is_file():
            try:
                self.tar = tarfile.open(path)
                members = self.tar.getmembers()
            except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
                raise UserError(f"{path}: not a CIFAR folder or .tar.gz archive, or a damaged one ({_one_line(e)})") from e
            for m in members:
                if m.isfile():
                    self.names.setdefault(os.path.basename(m.name), m)
        elif path.is_dir():
            for p in sorted([*path.glob("*"), *path.glob("*/*")]):
                if p.is_file():
                    self.names.setdefault(p.name, p)
        else:
            raise UserError(f"{path}: no such file or folder")

    def read(self, name: str) -> bytes:
        ref = self.names[name]
        try:
            if self.tar is not None:
                return self.tar.extractfile(ref).read()
            return Path(ref).read_bytes()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise UserError(f"{self.path}: cannot read {name}, damaged or truncated ({_one_line(e)})") from e


def detect(src: _Source, dataset: str) -> str:
    for form in ("python", "binary"):
        if all(n in src.names for names in FILES[(dataset, form)].values() for n in names):
            return form
    want = " or ".join(", ".join(sum(FILES[(dataset, f)].values(), [])) for f in ("python", "binary"))
    raise UserError(f"{src.path}: no complete {dataset} file set found (need {want})")


def _load_pickle(data: bytes, name: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 -- any failure means a corrupt or foreign file
        raise UserError(f"{name}: corrupt or not a CIFAR python batch ({e.__class__.__name__}: {_one_line(e)})") from e
    if not isinstance(obj, dict):
        raise UserError(f"{name}: not a CIFAR python batch (a {type(obj).__name__}, not a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _check(images, labels: dict[str, np.ndarray], name: str) -> None:
    """Counts match the images; each label is a whole number in its range (``labels`` is updated
    to ``int64`` arrays)."""
    for kind, lab in labels.items():
        lab = labels[kind] = int_labels(lab, 0, NUM_CLASSES[kind] - 1, name,
                                        "labels" if kind == "cifar10" else f"{kind} labels")
        if len(lab) != len(images):
            raise UserError(f"{name}: label count mismatch: {len(images)} images but {len(lab)} {kind} labels")


def _read_python(data: bytes, name: str, dataset: str):
    d = _load_pickle(data, name)
    if "data" not in d:
        raise UserError(f"{name}: not a CIFAR python batch (no 'data' entry)")
    x = np.asarray(d["data"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != RECORD:
        raise UserError(f"{name}: 'data' must be N×3072 uint8, got {x.shape} {x.dtype}")
    keys = {"cifar10": "labels"} if dataset == "cifar10" else {"fine": "fine_labels", "coarse": "coarse_labels"}
    labels = {}
    for kind, key in keys.items():
        if key not in d:
            raise UserError(f"{name}: no '{key}' entry")
        labels[kind] = d[key]
    _check(x, labels, name)
    return x.reshape(-1, 3, 32, 32), labels


def _read_binary(data: bytes, name: str, dataset: str):
    nlab = 1 if dataset == "cifar10" else 2
    rec = nlab + RECORD
    if not data or len(data) % rec:
        raise UserError(f"{name}: size {len(data)} is not a multiple of the {rec}-byte {dataset} record "
                        "(truncated, or the wrong dataset)")
    a = np.frombuffer(data, np.uint8).reshape(-1, rec)
    labels = ({"cifar10": a[:, 0].astype(np.int64)} if dataset == "cifar10"
              else {"coarse": a[:, 0].astype(np.int64), "fine": a[:, 1].astype(np.int64)})
    _check(a, labels, name)
    return a[:, nlab:].reshape(-1, 3, 32, 32), labels


def _open(path: str | os.PathLike, dataset: str) -> tuple[_Source, str]:
    """The file set of ``dataset`` at ``path`` and its form (``python`` or ``binary``)."""
    src = _Source(Path(path))
    try:
        return src, detect(src, dataset)
    except UserError:
        # a folder holding the downloaded archive(s), e.g. data/raw/cifar10/cifar-10-python.tar.gz
        archives = sorted(p for n, p in src.names.items() if src.tar is None and n.endswith((".tar.gz", ".tgz", ".tar")))
        for arc in archives:
            try:
                cand = _Source(Path(arc))
                return cand, detect(cand, dataset)
            except UserError:
                continue
        raise


def _kind(dataset: str, split: str | None, label: str) -> str:
    if dataset not in ("cifar10", "cifar100"):
        raise UserError(f"unknown CIFAR dataset {dataset!r}")
    if split is not None and split not in ("train", "test"):
        raise UserError(f"CIFAR has splits train and test, not {split!r}")
    kind = "cifar10" if dataset == "cifar10" else label
    if kind not in NUM_CLASSES:
        raise UserError(f"CIFAR-100 labels are fine or coarse, not {label!r}")
    return kind


def read_cifar(path: str | os.PathLike, dataset: str, split: str, label: str = "fine") -> tuple[np.ndarray, np.ndarray]:
    """One split: ``(N×3×32×32 uint8 RGB, N int64 labels)``. ``label``: CIFAR-100 ``fine``/``coarse``."""
    kind = _kind(dataset, split, label)
    src, form = _open(path, dataset)
    reader = _read_python if form == "python" else _read_binary
    xs, ys = [], []
    for name in FILES[(dataset, form)][split]:
        x, labs = reader(src.read(name), f"{src.path}:{name}", dataset)
        xs.append(x)
        ys.append(labs[kind])
    return np.concatenate(xs), np.concatenate(ys)


def class_names(path: str | os.PathLike, dataset: str, label: str = "fine") -> list[str] | None:
    """The class names the files carry (``label_names``, ``fine_label_names``/``coarse_label_names``
    or the binary form's ``*.txt``), index = label; CIFAR-10's standard names when the meta
    file is absent; None for a CIFAR-100 copy without one. A damaged meta file is an error."""
    kind = _kind(dataset, None, label)
    src, form = _open(path, dataset)
    names = None
    if form == "python":
        meta, keys = META[(dataset, form)]
        if meta in src.names:
            d = _load_pickle(src.read(meta), f"{src.path}:{meta}")
            raw = d.get(keys[kind])
            if raw is not None:
                names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in raw]
    else:
        meta = META[(dataset, form)][kind]
        if meta in src.names:
            names = [n.strip() for n in src.read(meta).decode("utf-8", "replace").splitlines() if n.strip()]
    if names is None:
        return list(CIFAR10_NAMES) if kind == "cifar10" else None
    if len(names) != NUM_CLASSES[kind]:
        raise UserError(f"{src.path}: the meta file names {len(names)} classes, {dataset} ({kind}) has {NUM_CLASSES[kind]}")
    return names
