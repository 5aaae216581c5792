"""Supply chain (issue 20, principle 10): setup's wheel unpacking refuses entries outside its
target (zip-slip), and every wheel setup fetches is pinned by sha256 and checked by pip's
hash-checking mode.

The unpacker tested is the one in setup/setup.sh (its Python here-document, run as setup runs
it) on real zip files the test writes; the hash check is pip's, run on a wheel in a local folder.
"""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile

import pytest

from simplenet_caffe.paths import REPO_ROOT

SETUP = (REPO_ROOT / "setup" / "setup.sh").read_text()


def _unpacker() -> str:
    m = re.search(r"<<'PY' \|\| .*?\n(.*?)\nPY\n", SETUP, re.S)
    assert m, "setup.sh's wheel unpacker (a <<'PY' here-document) not found"
    return m.group(1)


def _wheel(path, entries: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("evil", ["x-1.data/data/lib/../../../escaped.so",
                                  "x-1.data/data/include/../../escaped.h",
                                  "x-1.data/data/lib/sub/../../../../escaped.so"])
def test_wheel_entries_outside_the_target_are_refused(tmp_path, evil):
    src, dst = tmp_path / "dl", tmp_path / "cache" / "mkl.part"
    src.mkdir()
    _wheel(src / "x-1-py3-none-any.whl", {"x-1.data/data/lib/libx.so.1": b"ok", evil: b"evil"})
    r = subprocess.run([sys.executable, "-", str(src), str(dst)], input=_unpacker(), capture_output=True, text=True)
    assert r.returncode != 0
    assert "would be written outside" in r.stderr and "refusing the wheel" in r.stderr, r.stderr
    assert not list(tmp_path.rglob("escaped*"))


def test_wheel_unpacking_keeps_lib_and_include(tmp_path):
    src, dst = tmp_path / "dl", tmp_path / "cache" / "mkl.part"
    src.mkdir()
    _wheel(src / "x-1-py3-none-any.whl", {"x-1.data/data/lib/libx.so.1": b"lib", "x-1.data/data/include/x/x.h": b"h",
                                          "x-1.data/data/share/doc.txt": b"no", "x/__init__.py": b""})
    r = subprocess.run([sys.executable, "-", str(src), str(dst)], input=_unpacker(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()) == \
        ["include/x/x.h", "lib/libx.so.1"]


def test_every_fetched_wheel_is_pinned_by_sha256():
    pins = set(re.findall(r"^\s+\[([\w.-]+==[\w.]+)\]=([0-9a-f]{64})$", SETUP, re.M))
    pinned = {spec for spec, _ in pins}
    fetched = set()
    for name in ("MKL_WHEELS", "ONEDNN_WHEELS", "CUDA_WHEELS"):
        m = re.search(rf"^{name}=\(([^)]*)\)", SETUP, re.M)
        assert m, name
        fetched |= set(m.group(1).split())
    assert fetched and fetched == pinned, (fetched ^ pinned)
    # and both ways of fetching go through the hash-checked download
    assert SETUP.count("pip_download_pinned \"$dl\"") == 2
    assert "--require-hashes" in SETUP and "pip install -q \"${CUDA_WHEELS[@]}\"" not in SETUP


def test_pip_refuses_a_wheel_whose_sha256_differs(tmp_path):
    """What setup's download does with a changed file: pip's hash-checking mode refuses it."""
    wheels = tmp_path / "index"
    wheels.mkdir()
    _wheel(wheels / "mkl-2026.2.0-py2.py3-none-manylinux_2_28_x86_64.whl",
           {"mkl-2026.2.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mkl\nVersion: 2026.2.0\n",
            "mkl-2026.2.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py2.py3-none-any\n",
            "mkl-2026.2.0.dist-info/RECORD": b""})
    sha = re.search(r"\[mkl==2026\.2\.0\]=([0-9a-f]{64})", SETUP).group(1)
    req = tmp_path / "req.txt"
    req.write_text(f"mkl==2026.2.0 --hash=sha256:{sha}\n")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--require-hashes", "--no-index", "--find-links", str(wheels), "-d", str(tmp_path / "dl"),
                        "-r", str(req)], capture_output=True, text=True)
    assert r.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in r.stderr, r.stderr
    assert not (tmp_path / "dl").exists() or not list((tmp_path / "dl").glob("*.whl"))
