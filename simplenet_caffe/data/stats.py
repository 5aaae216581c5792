"""The one mean/std computation, and mean-file I/O (``.binaryproto``, ``.npy``, ``.json``).

* Accumulation is in float64 (Caffe's compute_image_mean sums in float32, which rounds once
  the sums pass 2^24 on large sets).
* Values are in the units of the records: 0-255 for uint8 DBs.
* Arrays are CHW; channel order is the DB's (recorded in ``preprocess.json``).
* ``std`` is the population standard deviation (ddof=0) over all pixels of a channel (or of
  the whole set, for ``global_std``), as the authors' numpy scripts computed it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..atomic import write_atomic
from ..caffe_env import caffe_pb2
from ..errors import UserError
from ..progress import progress
from ..protoio import write_binary
from .lmdbio import count_lmdb, read_lmdb


@dataclass
class Stats:
    """Result of :class:`MeanAccumulator`."""

    count: int
    mean_image: np.ndarray        # C×H×W float64, per-pixel mean (what mean.binaryproto holds)
    channel_mean: np.ndarray      # C
    channel_std: np.ndarray       # C
    global_mean: float            # over every pixel of every channel
    global_std: float

    def as_dict(self) -> dict:
        return {
            "count": self.count,
            "shape": list(self.mean_image.shape),
            "channel_mean": [float(x) for x in self.channel_mean],
            "channel_std": [float(x) for x in self.channel_std],
            "global_mean": float(self.global_mean),
            "global_std": float(self.global_std),
        }

    def lines(self, order: str | None = None) -> list[str]:
        names = list(order) if order and len(order) == len(self.channel_mean) else [str(i) for i in range(len(self.channel_mean))]
        out = [f"{self.count} records, shape {'x'.join(map(str, self.mean_image.shape))}"]
        for n, m, s in zip(names, self.channel_mean, self.channel_std):
            out.append(f"  channel {n}: mean {m:.6f}  std {s:.6f}")
        out.append(f"  all pixels: mean {self.global_mean:.6f}  std {self.global_std:.6f}")
        return out


class MeanAccumulator:
    """Streaming float64 sums over records of one shape; feed single CHW arrays or N×C×H×W batches."""

    def __init__(self) -> None:
        self.n = 0
        self.sum: np.ndarray | None = None       # C×H×W
        self.sumsq: np.ndarray | None = None     # C (per channel sum of squares)

    def add(self, batch: np.ndarray) -> None:
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4:
            raise UserError(f"expected CHW records, got shape {batch.shape[1:]}")
        if self.sum is None:
            self.sum = np.zeros(batch.shape[1:], np.float64)
            self.sumsq = np.zeros(batch.shape[1], np.float64)
        elif batch.shape[1:] != self.sum.shape:
            raise UserError(f"records have different shapes ({'x'.join(map(str, self.sum.shape))} and "
                            f"{'x'.join(map(str, batch.shape[1:]))}); a mean image needs one size (resize first)")
        b = batch.astype(np.float64, copy=False)
        self.sum += b.sum(axis=0)
        self.sumsq += np.einsum("nchw,nchw->c", b, b)
        self.n += batch.shape[0]

    def result(self) -> Stats:
        if not self.n:
            raise UserError("no records to compute a mean from")
        mean_image = self.sum / self.n
        c, h, w = mean_image.shape
        per_ch = self.n * h * w
        ch_mean = self.sum.reshape(c, -1).sum(axis=1) / per_ch
        ch_var = np.maximum(self.sumsq / per_ch - ch_mean**2, 0.0)
        g_mean = self.sum.sum() / (per_ch * c)
        g_var = max(self.sumsq.sum() / (per_ch * c) - g_mean**2, 0.0)
        return Stats(self.n, mean_image, ch_mean, np.sqrt(ch_var), float(g_mean), float(np.sqrt(g_var)))


def tap(items: Iterator, acc: MeanAccumulator | None) -> Iterator:
    """Yield ``items`` (records whose first element is a CHW array) unchanged, feeding each
    array to ``acc`` on the way: one pass writes a DB and computes its mean."""
    if acc is None:
        yield from items
        return
    for item in items:
        acc.add(item[0])
        yield item


def compute_stats(arrays: np.ndarray | Iterable[np.ndarray], chunk: int = 4096) -> Stats:
    """Stats of an N×C×H×W array (processed in chunks) or an iterable of CHW arrays."""
    acc = MeanAccumulator()
    if isinstance(arrays, np.ndarray):
        for i in range(0, len(arrays), chunk):
            acc.add(arrays[i:i + chunk])
    else:
        for a in arrays:
            acc.add(a)
    return acc.result()


def lmdb_stats(path: str | os.PathLike, desc: str = "mean") -> Stats:
    """Stats over every record of an LMDB (a pass over the DB, like compute_image_mean)."""

    acc = MeanAccumulator()
    for _, a, _ in progress(read_lmdb(path), total=count_lmdb(path), desc=desc, unit="rec"):
        acc.add(a)
    return acc.result()


# ----------------------------------------------------------------------------- mean files

def array_to_blobproto(mean_image: np.ndarray):
    """BlobProto of a C×H×W mean (shape 1×C×H×W; also the legacy num/channels/height/width
    fields, which is what compute_image_mean writes)."""
    pb = caffe_pb2()
    m = np.asarray(mean_image, np.float64)
    if m.ndim != 3:
        raise UserError(f"a mean image is C×H×W, got shape {m.shape}")
    c, h, w = m.shape
    blob = pb.BlobProto(num=1, channels=c, height=h, width=w)
    blob.data.extend(m.astype(np.float32).ravel().tolist())
    return blob


def write_binaryproto(path: str | os.PathLike, mean_image: np.ndarray) -> None:
    write_binary(path, array_to_blobproto(mean_image))


def write_mean_files(out_dir: str | os.PathLike, stats: Stats, channel_order: str | None = None,
                     stem: str = "mean", extra: dict | None = None) -> dict[str, Path]:
    """Write ``<stem>.binaryproto``, ``<stem>.npy`` (C×H×W float32) and ``<stem>.json``
    (per-channel mean/std, global mean/std, count, channel order)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"binaryproto": out / f"{stem}.binaryproto", "npy": out / f"{stem}.npy", "json": out / f"{stem}.json"}
    write_binaryproto(paths["binaryproto"], stats.mean_image)
    write_atomic(paths["npy"], lambda f: np.save(f, stats.mean_image.astype(np.float32)))
    info = {**stats.as_dict(), "channel_order": channel_order, "units": "as stored in the DB (0-255 for uint8)"}
    if extra:
        info.update(extra)
    write_atomic(paths["json"], json.dumps(info, indent=2) + "\n")
    return paths


def describe_mean(mean: np.ndarray, order: str | None = None) -> list[str]:
    """Lines describing a mean image: shape and per-channel means (what show_mean prints)."""
    c = mean.shape[0]
    names = list(order) if order and len(order) == c else [str(i) for i in range(c)]
    lines = [f"shape {'x'.join(map(str, mean.shape))} (CxHxW)"]
    for n, ch in zip(names, mean.reshape(c, -1)):
        lines.append(f"  channel {n}: mean {ch.mean():.6f}  (min {ch.min():.4f}, max {ch.max():.4f})")
    return lines

