"""The one way outputs are written: complete or not at all.

* :func:`write_atomic` writes a file under a unique hidden temp name beside the target
  (same folder, so the rename stays on one filesystem), fsyncs it, ``os.replace``-s it onto
  the target and fsyncs the folder. On any failure, Ctrl-C included, the temp file is removed
  and the target is left as it was.
* :func:`atomic_dir` does the same for a folder (an LMDB): it is built in a unique hidden
  temp folder beside the target and renamed into place when complete.
* :func:`atomic_outputs` is for a multi-part output (a dataset folder: train + test LMDBs,
  ``preprocess.json``, mean files, label map). It takes a lock beside the folder, builds the
  new folder in a staging folder beside it -- the parts of the existing folder that this run
  does not replace are carried over as hard links, so they cost no copy -- and swaps it in
  when every part is written. Readers see the old folder or the new one.

Temp names are ``.<name>.tmp-<host>-<pid>-<random>`` (``.old-`` for a folder being
replaced), so a temp left by a killed run (``kill -9``, power loss) is recognised: its
process is gone. :func:`clean_stale` removes such leftovers (an ``.old-`` folder whose
target is missing -- a crash between the two renames of a swap -- is put back instead), and
every writer here calls it first. New files get the mode a plain ``open()`` would give them
(0666 minus the umask).

Output-side failures (disk full, read-only folder, a path that is a file) surface as
:class:`simplenet_caffe.errors.UserError` from :func:`atomic_outputs`: one line, the previous
output untouched.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Union

from .errors import UserError

Data = Union[str, bytes, Callable[[IO[bytes]], None]]

_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname() or "host")
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+(\.tmp)?$")


def _prefix(path: Path, kind: str = "tmp") -> str:
    return f".{path.name}.{kind}-{_HOST}-{os.getpid()}-"


def write_atomic(path: str | os.PathLike, data: Data, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically and return the path (parent folders are created).

    ``data`` is text (encoded with ``encoding``), bytes, or a callback that writes into the
    binary file object it is given (e.g. ``lambda f: np.save(f, a)``); an exception from the
    callback aborts the write and leaves the target untouched. The write's own OS errors
    (disk full, read-only folder, a folder at ``path``) are a one-line :class:`UserError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_prefix(path), suffix=".tmp")
    except OSError as e:
        raise UserError(f"cannot write {path}: {_reason(e)}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                _os_step(path, f.write, data.encode(encoding) if isinstance(data, str) else data)
            _os_step(path, f.flush)
            _os_step(path, os.fsync, f.fileno())
        _os_step(path, os.chmod, tmp, 0o666 & ~_umask())
        _os_step(path, os.replace, tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _os_step(path: Path, fn, *args):
    """One of write_atomic's own file operations; its OSError (disk full, read-only, a folder
    in the way) becomes a one-line UserError. The callback's errors pass through unchanged."""
    try:
        return fn(*args)
    except OSError as e:
        raise UserError(f"cannot write {path}: {_reason(e)}; it is left as it was") from e


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh, unique hidden temp folder beside ``path`` to build a folder in; when the
    ``with`` body finishes, rename it onto ``path`` (an existing ``path`` is moved aside first
    and deleted only after the rename). On any failure the temp folder is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_prefix(path)))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(new: Path, path: Path) -> None:
    """Rename the folder ``new`` onto ``path``; an existing ``path`` is renamed aside first and
    deleted after (put back if the second rename fails)."""
    old = None
    if path.exists() or path.is_symlink():
        old = path.parent / (_prefix(path, "old") + os.urandom(4).hex())
        os.rename(path, old)
    try:
        os.rename(new, path)
    except BaseException:
        if old is not None and not path.exists():
            os.rename(old, path)      # put the previous output back
        raise
    _fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() and not old.is_symlink() else old.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(path: str | os.PathLike, log: Callable[[str], None] | None = None, *, locked: bool = False) -> list[Path]:
    """Remove the temp files/folders that killed runs left beside ``path`` (see the module
    docstring) and return them. Without ``locked`` only temps whose process (on this host) is
    gone count as stale; with it (the caller holds :func:`output_lock`, so nobody else writes
    ``path``) every temp of ``path`` does. A stale ``.old-`` folder is moved back onto a
    missing ``path``. ``log`` gets one line per entry."""
    path = Path(path)
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    found = []
    for e in entries:
        m = _TEMP_RE.match(e.name)
        if not m or m["name"] != path.name:
            continue
        pid = int(m["pid"])
        if m["host"] != _HOST or pid == os.getpid() or (not locked and _pid_alive(pid)):
            continue
        if m["kind"] == "old" and not (path.exists() or path.is_symlink()):
            os.rename(e, path)
            if log:
                log(f"note: {path} restored from {e.name} (a run was killed while swapping it in)")
            continue
        if e.is_dir() and not e.is_symlink():
            shutil.rmtree(e, ignore_errors=True)
        else:
            e.unlink(missing_ok=True)
        found.append(e)
        if log:
            log(f"note: removed {e.name}, left by an interrupted run (pid {pid})")
    return found


# ----------------------------------------------------------------------------- locks

def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of an output: ``.<name>.lock`` beside it (kept: removing a lock file
    another process may be about to open would let two writers in)."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, busy: Callable[[str], str] | None = None) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``path``'s lock file for the ``with`` body. If
    another process holds it, a :class:`UserError` names it (pid, host, since when) at once;
    ``busy(holder)`` words that message when given.
    The body gets the lock's file descriptor: a child process given it too (``pass_fds``) keeps
    the lock held until it exits as well. The kernel drops the lock when the last process holding
    it dies, however it dies."""
    lp = lock_path(path)
    try:
        lp.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise UserError(f"cannot write {Path(path)}: {_reason(e)}") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise UserError(busy(who) if busy else
                            f"{Path(path)} is being written by {who}; wait for it to finish "
                            "(two writers to one output would mix or delete each other's parts)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield fd
    finally:
        os.close(fd)      # releases the lock


def add_lock_holder(fd: int, who: str) -> None:
    """Add ``who`` (a child given the lock, e.g. ``caffe pid N``) to the holder line that
    :func:`lock_holder` and a refused second writer show."""
    line = os.pread(fd, 200, 0).decode(errors="replace").strip()
    os.pwrite(fd, f"{line} ({who})\n".encode(), 0)     # longer than the line it replaces: one write


def lock_holder(path: str | os.PathLike) -> str | None:
    """``pid N on HOST since T`` of the process holding :func:`output_lock` on ``path`` now,
    followed by what :func:`add_lock_holder` added (``(caffe pid M)``); None when nobody holds it."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- multi-part outputs

@contextlib.contextmanager
def atomic_outputs(folder: str | os.PathLike, parts: Iterable[str], *, force: bool = False,
                   log: Callable[[str], None] | None = print) -> Iterator[Path]:
    """Build the multi-part output ``folder`` all at once; yields the staging folder to write in.

    ``parts`` are the entries (names inside ``folder``) this run writes anew; if one exists
    already, the run is refused unless ``force``. Every other entry of an existing ``folder``
    is carried over into the staging folder as hard links (or copies where links are not
    possible), so the body may read or update them (replace a carried file with
    :func:`write_atomic`, never by writing into it: the inode is shared with the live folder).
    When the body returns, the staging folder replaces ``folder``. On any failure -- an error,
    Ctrl-C, disk full -- the staging folder is removed and ``folder`` is left exactly as it
    was; a ``kill -9`` leaves a staging folder that the next run on ``folder`` removes.
    A second run on the same ``folder`` while one is running is refused with a clear message.
    SIGTERM and SIGHUP act like Ctrl-C meanwhile (KeyboardInterrupt: cleaned up, then exit 130).
    OS and LMDB write errors become one-line :class:`UserError` s."""
    folder = Path(folder)
    if folder.is_symlink():      # a folder linked from another disk: build and swap beside the real one
        folder = folder.resolve()
    parts = list(parts)
    with output_lock(folder), _signals_interrupt():
        clean_stale(folder, log, locked=True)
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder} exists and is not a folder")
        existed = folder.is_dir()
        for p in parts:
            if existed and (folder / p).exists() and not force:
                raise UserError(f"{folder / p} already exists (use --force to overwrite)")
        staging = None
        try:
            staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=_prefix(folder)))
            if existed:
                for e in folder.iterdir():
                    if e.name not in parts:
                        _link_tree(e, staging / e.name)
            yield staging
            os.chmod(staging, 0o777 & ~_umask())
            _fsync_dir(staging)
            _swap_in(staging, folder)
            staging = None
        except UserError:
            raise
        except OSError as e:
            raise UserError(f"cannot write {folder}: {_reason(e)}; "
                            + ("the previous output is unchanged" if existed else "nothing was written")) from e
        except Exception as e:
            lmdb = sys.modules.get("lmdb")
            if lmdb is not None and isinstance(e, lmdb.Error):
                raise UserError(f"cannot write {folder}: LMDB: {e}; "
                                + ("the previous output is unchanged" if existed else "nothing was written")) from e
            raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a scheduler's pre-emption, a closed terminal) raise KeyboardInterrupt
    like Ctrl-C while an output is built, so its staging folder is removed on the way out."""

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link ``src`` (a file or a folder tree) to ``dst``; copy where linking fails.
    LMDB ``lock.mdb`` files are skipped (a reader recreates its own)."""
    if src.is_dir() and not src.is_symlink():
        dst.mkdir()
        for e in src.iterdir():
            if e.name != "lock.mdb":
                _link_tree(e, dst / e.name)
        return
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{e.strerror.lower()} ({e.filename or 'output folder'})"
    return f"{e.strerror or e}" + (f" ({e.filename})" if e.filename else "")


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
