"""The one way outputs are written: complete or not at all.

* :func:`write_atomic` writes a file under a unique hidden temp name beside the target
  (``tempfile`` in the same folder, so the rename stays on one filesystem), fsyncs it,
  ``os.replace``-s it onto the target and fsyncs the folder. On any failure, Ctrl-C
  included, the temp file is removed and the target is left as it was.
* :func:`atomic_dir` does the same for a folder (an LMDB): it is built in a unique hidden
  temp folder beside the target and renamed into place when complete.

A reader therefore sees the old output or the new one, never a half-written file that looks
complete. New files get the mode a plain ``open()`` would give them (0666 minus the umask).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator, Union

Data = Union[str, bytes, Callable[[IO[bytes]], None]]


def write_atomic(path: str | os.PathLike, data: Data, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically and return the path (parent folders are created).

    ``data`` is text (encoded with ``encoding``), bytes, or a callback that writes into the
    binary file object it is given (e.g. ``lambda f: np.save(f, a)``); an exception from the
    callback aborts the write and leaves the target untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode(encoding) if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh, unique hidden temp folder beside ``path`` to build a folder in; when the
    ``with`` body finishes, rename it onto ``path`` (an existing ``path`` is moved aside first
    and deleted only after the rename). On any failure the temp folder is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    old = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
        os.rename(tmp, path)
    except BaseException:
        if old is not None and not path.exists():
            os.replace(old / path.name, path)   # put the previous output back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not supported everywhere: then it is skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
