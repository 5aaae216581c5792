"""Preprocessing recipes: what was done to the pixels before they went into an LMDB, and what
Caffe's data layer does to them afterwards -- recorded once, as ``preprocess.json`` next to the
DBs, and applied from there to new images (tools/classify.py uses :func:`apply`).

Conventions
-----------
* Images handed to :func:`apply` are HWC **BGR** uint8 (as ``cv2.imread`` returns them) or HW
  gray, or a file path (read with OpenCV).
* The result is the **CHW float32** array the deploy net's input blob expects: the stored
  transform (channel order, resize, gray, per-channel ``(x - mean) / std``, zero ``pad``), then
  the data layer's TEST-phase transform (center ``crop_size``, ``mean_file`` subtraction,
  ``scale``) as docs/spec.md §4 gives it. Random mirroring is a training-time augmentation and is
  not applied.
* ``channel_order`` names the order of the stored channels: ``"gray"``, ``"BGR"`` (OpenCV,
  convert_imageset, the authors' ImageNet LMDBs) or ``"RGB"`` (CIFAR/SVHN as their files hold
  them; Caffe's own convert_cifar_data keeps that order, so the authors' CIFAR nets saw RGB).
* Pixel units before standardisation are 0-255.
"""
from __future__ import annotations

import functools
import io
import json
import os
import threading
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..atomic import write_atomic
from ..errors import UserError
from ..paths import REPO_ROOT
from ..protoio import read_binaryproto
from .layout import LAYOUTS

RECIPE_FILE = "preprocess.json"
RESIZE_MODES = ("squash", "crop", "fill", "shorter")


@dataclass
class Recipe:
    layout: str                       # LAYOUTS key (or a free name for ad-hoc DBs)
    dataset: str                      # mnist, fashion-mnist, cifar10, cifar100, svhn, folder...
    channel_order: str                # "gray" | "BGR" | "RGB": order of the stored channels
    dtype: str                        # "uint8" (0-255 bytes) | "float" (float_data)
    size: list[int] | None = None     # [W, H] the images are resized to (None: native size kept)
    resize_mode: str = "squash"       # squash | crop | fill | shorter (see resize_image)
    mean: list[float] | None = None   # subtracted per channel before storing (1 value = all channels)
    std: list[float] | None = None    # then divided per channel
    pad: int = 0                      # zero pixels added on every side after standardisation
    transform: dict = field(default_factory=dict)  # data layer TEST transform: crop_size, mean_file, scale
    mirror_train: bool = False        # data layer mirrors in TRAIN (informational)
    labels: str | None = None         # e.g. "fine" for CIFAR-100, "10 -> 0" for SVHN
    splits: dict = field(default_factory=dict)     # split -> {path, count, shape, label_counts}
    stats: dict = field(default_factory=dict)      # statistics the recipe computed
    note: str = ""
    class_names: list[str] | None = None  # class_names[label] = the class's name (None: unknown)
    label_map: dict = field(default_factory=dict)  # provenance of the labels: {"source": ..., ...}

    def add_split(self, split: str, summary, log=print) -> None:
        """Record a written split (an ``lmdbio.Summary``) and log its summary lines; classes of
        the label map that the split lacks are recorded (``missing_classes``) and noted."""
        self.splits[split] = summary.as_dict()
        for line in summary.lines():
            log(line)
        if self.class_names:
            missing = [n for i, n in enumerate(self.class_names) if i not in summary.label_counts]
            if missing:
                self.splits[split]["missing_classes"] = missing
                names = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
                log(shown(f"  note: no records of {len(missing)} of the {len(self.class_names)} classes ({names})"))

    def save(self, out_dir: str | os.PathLike) -> Path:
        return write_atomic(Path(out_dir) / RECIPE_FILE, json.dumps(asdict(self), indent=2) + "\n")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """C×H×W of the deploy net's input (after pad and crop)."""
        c = 1 if self.channel_order == "gray" else 3
        crop = self.transform.get("crop_size")
        if crop:
            return c, crop, crop
        if self.size is None:
            raise UserError(f"recipe {self.layout}: no fixed image size recorded")
        w, h = self.size
        return c, h + 2 * self.pad, w + 2 * self.pad


def recipe_path(layout_or_dir: str | os.PathLike) -> Path:
    """``preprocess.json`` of a layout name (``mnist_norm``), a DB folder, or the file itself."""
    key = str(layout_or_dir)
    if key in LAYOUTS:
        return REPO_ROOT / Path(LAYOUTS[key].train_lmdb).parent / RECIPE_FILE
    p = Path(layout_or_dir)
    if p.is_dir():
        if (p / RECIPE_FILE).is_file() or not (p / "data.mdb").is_file():
            return p / RECIPE_FILE
        return p.parent / RECIPE_FILE      # an LMDB folder: the recipe sits beside it
    return p


def load(layout_or_dir: str | os.PathLike) -> Recipe:
    """Read a recipe by layout name (``cifar10_zeropad``), folder, or ``preprocess.json`` path."""
    path = recipe_path(layout_or_dir)
    if not path.is_file():
        raise UserError(f"no preprocessing recipe at {path} (run the data_prep recipe for this dataset first)")
    try:
        data = json.loads(path.read_text())
        rec = Recipe(**data)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"{path}: not a valid preprocess.json ({e})") from e
    bad = [k for k, t in (("layout", str), ("dataset", str), ("channel_order", str), ("dtype", str),
                          ("transform", dict), ("splits", dict), ("stats", dict), ("label_map", dict))
           if not isinstance(getattr(rec, k), t)]
    if rec.class_names is not None and not (isinstance(rec.class_names, list)
                                            and all(isinstance(n, str) for n in rec.class_names)):
        bad.append("class_names")
    if bad:
        raise UserError(f"{path}: not a valid preprocess.json (wrong type of {', '.join(bad)})")
    return rec


def class_names_for(lmdb_or_dir: str | os.PathLike) -> list[str] | None:
    """The class names of a dataset (``names[label]``), from the ``preprocess.json`` of a layout
    name, a dataset folder, one of its LMDB folders, or the file itself; ``None`` when there is
    no recipe or it records no names (older recipes, ad-hoc DBs). A damaged recipe is a
    one-line :class:`UserError`."""
    path = recipe_path(lmdb_or_dir)
    if not path.is_file():
        return None
    names = load(path).class_names
    return None if names is None else list(names)


# ----------------------------------------------------------------------------- image ops

def resize_image(img: np.ndarray, width: int, height: int | None = None, mode: str = "squash") -> np.ndarray:
    """Resize an HWC/HW image (OpenCV bilinear, as convert_imageset).

    * ``squash``: to exactly W×H, ignoring aspect (Caffe's only mode).
    * ``crop``: scale so the image covers W×H, then take the centre W×H (no distortion).
    * ``fill``: scale so the image fits in W×H, then pad with zeros (black), centred.
    * ``shorter``: scale so the shorter side is ``width`` (aspect kept, size varies).
    """
    import cv2

    if mode not in RESIZE_MODES:
        raise UserError(f"unknown resize mode {mode!r} (choose from {', '.join(RESIZE_MODES)})")
    h0, w0 = img.shape[:2]
    if mode == "shorter":
        s = width / min(h0, w0)
        size = (max(1, round(w0 * s)), max(1, round(h0 * s)))
        return img if size == (w0, h0) else cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    height = width if height is None else height
    if (w0, h0) == (width, height):
        return img
    if mode == "squash":
        return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    if mode == "crop":
        s = max(width / w0, height / h0)
        nw, nh = max(width, round(w0 * s)), max(height, round(h0 * s))
    else:
        s = min(width / w0, height / h0)
        nw, nh = min(width, max(1, round(w0 * s))), min(height, max(1, round(h0 * s)))
    r = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if mode == "crop":
        y, x = (nh - height) // 2, (nw - width) // 2
        return np.ascontiguousarray(r[y:y + height, x:x + width])
    out = np.zeros((height, width) + img.shape[2:], img.dtype)
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y:y + nh, x:x + nw] = r
    return out


def quiet_cv2():
    """cv2 with its own stderr logging off (our error message names the bad file instead)."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2


#: leading bytes of the image formats OpenCV decodes here (checked before the bytes reach it)
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
          (b"MM\x00*", "TIFF"), (b"P1", "PNM"), (b"P2", "PNM"), (b"P3", "PNM"), (b"P4", "PNM"), (b"P5", "PNM"),
          (b"P6", "PNM"))


def image_format(data: bytes) -> str | None:
    """``"JPEG"``, ``"PNG"``, ... from a file's first bytes; None if it is none of them."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


#: the most pixels (width × height) an image may have to be decoded, unless raised (--max-pixels):
#: 100 million, 300 MB as BGR bytes. A small file can promise far more (a 379 KiB PNG of
#: 20000×20000), so the header is read first and nothing is decoded above the limit.
MAX_PIXELS = 100_000_000
_PIL_LOCK = threading.Lock()


def image_header(data: bytes, name) -> tuple[int, int, str]:
    """``(width, height, Pillow mode)`` from an image file's header; nothing is decoded."""
    with _PIL_LOCK:           # Pillow's own bomb limit off while the header is read: ours applies
        old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.size[0], im.size[1], im.mode
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise UserError(f"{shown(name)}: damaged image header ({' '.join(str(e).split())})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = old


def check_max_pixels(n: int) -> int:
    """A ``--max-pixels`` value: a positive number of pixels."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise UserError(f"--max-pixels must be a positive number of pixels, got {n!r}")
    return n


def check_pixels(data: bytes, name, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an image whose header promises more than ``max_pixels`` pixels."""
    w, h, _ = image_header(data, name)
    if w * h > max_pixels:
        raise UserError(f"{shown(name)}: {w}×{h} pixels is more than the limit of {max_pixels:,} "
                        f"({w * h * 3 / 2**30:.1f} GiB decoded); --max-pixels N raises the limit")


def caffe_keeps_as_is(data: bytes, channels: int) -> bool:
    """Whether image file bytes can be stored unchanged in an encoded Datum of ``channels``
    channels: Caffe's data layer decodes them as they are (OpenCV's IMREAD_UNCHANGED) and takes
    only 8-bit pixels of the record's channels, so only an 8-bit gray (1) or colour (3) PNG or
    JPEG qualifies -- not 16-bit, alpha, palette or CMYK files (they are re-encoded instead)."""
    fmt = image_format(data)
    if fmt == "PNG" and len(data) > 25:
        depth, colour = data[24], data[25]          # IHDR: bit depth, colour type (0 gray, 2 RGB)
        return depth == 8 and (colour, channels) in ((0, 1), (2, 3))
    if fmt == "JPEG":
        try:
            mode = image_header(data, "")[2]
        except UserError:
            return False
        return (mode, channels) in (("L", 1), ("RGB", 3))
    return False


def decode_image(data: bytes, name, gray: bool = False, unchanged: bool = False,
                 max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image file bytes to HWC BGR uint8 (or HW with ``gray``), checked in Python first:
    an empty file, an unknown header, a PNG or JPEG without its end marker (a truncated file,
    which OpenCV would decode with a grey lower part), more than ``max_pixels`` pixels
    (:func:`check_pixels`) and anything OpenCV rejects are one :class:`UserError` naming
    ``name``. ``unchanged``: the file's own channels and depth (OpenCV's IMREAD_UNCHANGED)."""
    cv2 = quiet_cv2()
    if not data:
        raise UserError(f"{shown(name)}: empty file, not an image")
    fmt = image_format(data)
    if fmt is None:
        raise UserError(f"{shown(name)}: not an image (unknown header {data[:8]!r})")
    if fmt == "JPEG" and data.rfind(b"\xff\xd9", max(0, len(data) - 65536)) < 0:
        raise UserError(f"{shown(name)}: truncated JPEG (no end-of-image marker)")
    if fmt == "PNG":
        _check_png(data, name)
    check_pixels(data, name, max_pixels)
    try:
        flag = cv2.IMREAD_UNCHANGED if unchanged else cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as e:
        raise UserError(f"{shown(name)}: {fmt} image OpenCV cannot decode ({str(e).strip().splitlines()[-1]})") from e
    if img is None or img.size == 0:
        raise UserError(f"{shown(name)}: damaged {fmt} image (OpenCV cannot decode it)")
    return img


def _check_png(data: bytes, name) -> None:
    """Walk a PNG's chunks and check each one's length and CRC (libpng would print its own
    error lines for a damaged file before OpenCV gives up)."""
    i, n = 8, len(data)
    while True:
        if i + 12 > n:
            raise UserError(f"{shown(name)}: truncated PNG (no IEND chunk)")
        length = int.from_bytes(data[i:i + 4], "big")
        end = i + 12 + length
        if length > 0x7FFFFFFF or end > n:
            raise UserError(f"{shown(name)}: truncated or damaged PNG (a chunk runs past the end of the file)")
        kind = data[i + 4:i + 8]
        if zlib.crc32(data[i + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            raise UserError(f"{shown(name)}: damaged PNG (CRC error in chunk {kind!r})")
        if kind == b"IEND":
            return
        i = end


def shown(name) -> str:
    """A file name (or text holding one) fit for a terminal: bytes that are not UTF-8 appear
    as ``\\xe9``."""
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


def read_image(path: str | os.PathLike, gray: bool = False, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file as HWC BGR uint8 (or HW with ``gray``); one clear error if unreadable.

    The bytes are read by Python (any file-name bytes work: ``cv2.imread`` crashes on names
    that are not UTF-8) and decoded with :func:`decode_image`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError(f"cannot read image {shown(path)} (no such file)") from None
    except OSError as e:
        raise UserError(f"cannot read image {shown(path)} ({e.strerror or e})") from e
    return decode_image(data, path, gray, max_pixels=max_pixels)


def to_chw(img: np.ndarray, channel_order: str = "BGR") -> np.ndarray:
    """HWC BGR (or HW gray) → CHW in ``channel_order`` (``"BGR"``, ``"RGB"`` or ``"gray"``)."""
    if img.ndim == 2:
        return img[None] if channel_order == "gray" else np.repeat(img[None], 3, axis=0)
    if channel_order == "gray":
        import cv2

        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[None]
    chw = img.transpose(2, 0, 1)
    return np.ascontiguousarray(chw[::-1] if channel_order == "RGB" else chw)


def standardise(chw: np.ndarray, mean, std, pad: int = 0) -> np.ndarray:
    """``(x - mean) / std`` per channel (scalars broadcast), then ``pad`` zero pixels per side; float32."""
    x = chw.astype(np.float32)
    c = x.shape[-3]
    if mean is not None:
        x -= np.asarray(mean, np.float32).reshape(-1, 1, 1) if len(mean) == c or len(mean) == 1 else _bad(mean, c)
    if std is not None:
        x /= np.asarray(std, np.float32).reshape(-1, 1, 1) if len(std) == c or len(std) == 1 else _bad(std, c)
    if pad:
        widths = [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)]
        x = np.pad(x, widths, mode="constant")
    return x


def _bad(values, c):
    raise UserError(f"{len(values)} mean/std values for {c} channels")


def apply(recipe: Recipe, image: np.ndarray | str | os.PathLike) -> np.ndarray:
    """The CHW float32 array the deploy net expects for one image (see module docstring)."""
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image, gray=recipe.channel_order == "gray")
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise UserError(f"apply() expects a uint8 image (0-255), got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if recipe.channel_order == "gray" and img.ndim == 3:
        import cv2

        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif recipe.channel_order != "gray" and img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if recipe.size is not None:
        w, h = recipe.size
        img = resize_image(img, w, h, recipe.resize_mode)
    x = standardise(to_chw(img, recipe.channel_order), recipe.mean, recipe.std, recipe.pad)
    return caffe_transform(x, recipe.transform or {})


def caffe_transform(chw: np.ndarray, transform: dict, mirror: bool = False) -> np.ndarray:
    """Caffe's TEST-phase ``DataTransformer`` on one record (CHW; uint8 0-255 or float).

    ``transform`` holds ``transform_param`` fields: ``crop_size`` (center crop), ``mean_file``
    (per-pixel mean image, indexed at the uncropped position, as Caffe does), ``mean_value``
    (per channel, one value = all channels), ``scale`` (applied after the mean). ``mirror``
    flips the result horizontally (the caller decides; Caffe flips at random when the layer
    sets ``mirror: true``). Returns CHW float32.
    """
    x = np.asarray(chw, dtype=np.float32)
    crop = transform.get("crop_size")
    _, hh, ww = x.shape
    y0, x0 = ((hh - crop) // 2, (ww - crop) // 2) if crop else (0, 0)
    if crop:
        if crop > min(hh, ww):
            raise UserError(f"crop_size {crop} is larger than the {hh}x{ww} image")
        x = x[:, y0:y0 + crop, x0:x0 + crop]
    if transform.get("mean_file"):
        mean = _mean_image(transform["mean_file"])
        if mean.shape[1:] != (hh, ww):
            raise UserError(f"mean file {transform['mean_file']} is {mean.shape[1]}x{mean.shape[2]}, the image {hh}x{ww}")
        x = x - mean[:, y0:y0 + x.shape[1], x0:x0 + x.shape[2]]
    if transform.get("mean_value"):
        x = x - np.asarray(transform["mean_value"], np.float32).reshape(-1, 1, 1)
    if transform.get("scale"):
        x = x * np.float32(transform["scale"])
    if mirror:
        x = x[:, :, ::-1]
    return np.ascontiguousarray(x, dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _mean_image(mean_file: str) -> np.ndarray:
    mf = Path(mean_file)
    return read_binaryproto(mf if mf.is_absolute() else REPO_ROOT / mf).astype(np.float32)
