"""Find the Caffe this project uses: its command-line tools and pycaffe.

Order of lookup:
1. ``CAFFE_ROOT`` (an install prefix with ``bin/caffe`` and ``python/caffe``);
2. the prefix `make setup` recorded in ``.venv/.caffe-prefix`` (a build in the cache
   outside the repo) -- the venv also has wrapper scripts ``.venv/bin/caffe`` etc.;
3. ``caffe`` on PATH.

Every tool goes through :func:`caffe_tool`, :func:`import_caffe` and :func:`caffe_pb2` so
that a missing build gives one message: "Caffe is not built: run make setup".
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import UserError
from .paths import REPO_ROOT

NOT_BUILT = "Caffe is not built: run make setup (or set CAFFE_ROOT to an existing Caffe install)"


class CaffeNotBuilt(UserError):
    def __init__(self, detail: str = ""):
        super().__init__(NOT_BUILT + (f" [{detail}]" if detail else ""))


def _venv_dir() -> Path:
    return Path(os.environ.get("SIMPLENET_VENV", REPO_ROOT / ".venv"))


@functools.lru_cache(maxsize=None)
def caffe_prefix() -> Path | None:
    """The Caffe install prefix (``bin/``, ``lib/``, ``python/``), or None when unknown."""
    root = os.environ.get("CAFFE_ROOT")
    if root:
        return Path(root)
    rec = _venv_dir() / ".caffe-prefix"
    if rec.is_file():
        p = Path(rec.read_text().strip())
        if p.is_dir():
            return p
    return None


def caffe_tool(name: str = "caffe") -> Path:
    """Path of a Caffe command-line tool (``caffe``, ``convert_imageset``, ``compute_image_mean``...).

    Prefers the venv wrapper (which sets PYTHONPATH for Python layers; libcaffe comes from the binary's RUNPATH).
    """
    candidates = [_venv_dir() / "bin" / name]
    prefix = caffe_prefix()
    if prefix is not None:
        candidates += [prefix / "bin" / name, prefix / "bin" / f"{name}.bin"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which(name)
    if found:
        return Path(found)
    raise CaffeNotBuilt(f"no `{name}` tool found")


# As the venv wrappers: OpenMP threads spin this many rounds (tens of microseconds) between
# parallel regions before they sleep. Sleeping at once (OMP_WAIT_POLICY=PASSIVE) costs ~9 % on
# the small S300-A net on a quiet machine; libgomp's default (300,000 rounds) hogs shared cores.
OMP_SPINCOUNT = "10000"


def tool_env() -> dict[str, str]:
    """Environment for running Caffe tools as subprocesses (pycaffe on PYTHONPATH for Python layers)."""
    env = dict(os.environ)
    prefix = caffe_prefix()
    if prefix is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(prefix / "python"), env.get("PYTHONPATH")]))
    env.setdefault("GLOG_logtostderr", "1")
    if not (env.get("OMP_WAIT_POLICY") or env.get("GOMP_SPINCOUNT")):
        env["GOMP_SPINCOUNT"] = OMP_SPINCOUNT
    return env


# A glog line's head: severity, date (MMDD; YYYYMMDD in glog >= 0.7), time, thread id, file:line.
_GLOG_LINE_RE = re.compile(r"^([FE])(?:\d{8}|\d{4}) \d\d:\d\d:\d\d(?:\.\d+)? +\d+ [^\]\s]+:\d+\] (.*)$", re.M)


def fatal_message(output: str) -> str | None:
    """Why Caffe aborted, from its glog output: the message of the last FATAL (``F``) line,
    else of the last ERROR (``E``) line; both glog date formats (``F1204 ...``, ``F20261204 ...``).
    None when there is neither (a crash, or output that is not glog's)."""
    lines = _GLOG_LINE_RE.findall(output or "")
    for severity in "FE":
        found = [msg.strip() for sev, msg in lines if sev == severity]
        if found:
            return found[-1]
    return None


def run_tool(name: str, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a Caffe tool with :func:`tool_env`; output captured as text unless overridden."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run([str(caffe_tool(name)), *map(str, args)], env=tool_env(), **kw)
    if check and proc.returncode != 0:
        out = (proc.stderr or "") if kw.get("capture_output") else ""
        why = fatal_message(out) or out.strip()[-2000:]
        raise UserError(f"`{name} {' '.join(map(str, args))}` failed with status {proc.returncode}"
                        + (f": {why}" if why else ""))
    return proc


@functools.lru_cache(maxsize=None)
def import_caffe():
    """Import pycaffe quietly (GLOG_minloglevel=2 unless set) and return the module."""
    prefix = caffe_prefix()
    if prefix is not None and str(prefix / "python") not in sys.path:
        sys.path.insert(0, str(prefix / "python"))
    # glog reads GLOG_minloglevel once, when pycaffe initialises it; restore the variable after
    # so that caffe subprocesses started later still log normally.
    saved = os.environ.get("GLOG_minloglevel")
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import caffe  # noqa: PLC0415
        import caffe.proto  # noqa: PLC0415
    except ImportError as e:
        raise CaffeNotBuilt(f"import caffe failed: {e}") from e
    finally:
        if saved is None:
            os.environ.pop("GLOG_minloglevel", None)
    if not hasattr(caffe.proto, "caffe_pb2") and "caffe.proto.caffe_pb2" in sys.modules:
        caffe.proto.caffe_pb2 = sys.modules["caffe.proto.caffe_pb2"]   # loaded earlier by caffe_pb2()
    return caffe


@functools.lru_cache(maxsize=None)
def caffe_pb2():
    """The caffe_pb2 module generated from this Caffe's caffe.proto (no pycaffe C++ import needed)."""
    prefix = caffe_prefix()
    if prefix is not None and str(prefix / "python") not in sys.path:
        sys.path.insert(0, str(prefix / "python"))
    name = "caffe.proto.caffe_pb2"
    if name in sys.modules:
        return sys.modules[name]
    if "caffe" not in sys.modules:
        # Load the generated file on its own: `from caffe.proto import ...` would first run
        # caffe/__init__.py (the C++ extension, skimage, scipy: ~1 s per tool start). It is
        # registered under its real name, so a later `import caffe` reuses this module.

        for base in ([prefix / "python"] if prefix is not None else []) + [Path(p) for p in sys.path if p]:
            f = base / "caffe" / "proto" / "caffe_pb2.py"
            if f.is_file():
                spec = importlib.util.spec_from_file_location(name, f)
                mod = importlib.util.module_from_spec(spec)
                sys.modules[name] = mod
                try:
                    spec.loader.exec_module(mod)
                except Exception as e:
                    del sys.modules[name]
                    raise CaffeNotBuilt(f"{f} failed to load: {e}") from e
                return mod
    try:
        from caffe.proto import caffe_pb2 as pb2  # noqa: PLC0415
    except ImportError as e:
        raise CaffeNotBuilt(f"caffe.proto.caffe_pb2 not importable: {e}") from e
    return pb2
