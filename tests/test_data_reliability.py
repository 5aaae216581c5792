"""Reliability of the data side, with real files and real processes (issue 14): every reader
fuzzed with truncations and bit flips, conversions killed (SIGKILL, SIGINT) mid-write and rerun,
two writers on one output, a full and a read-only disk (small tmpfs mounts; CI runs as root).
Each case must end with one error line and exit 2 (or 130 for Ctrl-C), or the correct result,
with nothing lost or half-written."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import PY, run_script, tmpfs
from simplenet_caffe.paths import REPO_ROOT

TESTS = Path(__file__).parent

# The fuzz loop runs in a child process so that a signal death (SIGSEGV in OpenCV, SIGBUS in
# LMDB) fails the test instead of killing pytest. It prints one JSON line of outcome counts.
CHILD = r"""
import json, sys, traceback
import numpy as np
from pathlib import Path
from simplenet_caffe.errors import UserError
kind, path = sys.argv[1], Path(sys.argv[2])
import test_data_reliability as t
reader, check = t.READERS[kind]
data = path.read_bytes() if path.is_file() else (path / "data.mdb").read_bytes()
out = {"ok": 0, "error": 0}
for i, mutant in enumerate(t.mutants(data, seed=len(data))):
    target = t.place(path, mutant, i)
    try:
        result = reader(target)
    except UserError as e:
        assert "\n" not in str(e), str(e)
        out["error"] += 1
    else:
        check(result)
        out["ok"] += 1
print(json.dumps(out))
"""


def mutants(data: bytes, seed: int, flips: int = 30):
    """Truncations (empty, inside the header, halfway, one byte short) and random bit flips,
    a third of them inside the first 64 bytes (the header)."""
    for n in sorted({0, 1, 3, 8, 15, 17, 40, len(data) // 2, len(data) - 1}):
        if n < len(data):
            yield data[:n]
    r = np.random.default_rng(seed)
    for k in range(flips):
        b = bytearray(data)
        i = int(r.integers(min(64, len(b)))) if k % 3 == 0 else int(r.integers(len(b)))
        b[i] ^= 1 << int(r.integers(8))
        yield bytes(b)


def place(path: Path, data: bytes, i: int) -> Path:
    """Write a mutant next to the original (same name in a fresh folder: readers find files by name)."""
    d = path.parent / f"m{i}"
    d.mkdir(exist_ok=True)
    if path.is_dir():                       # an LMDB folder
        (d / path.name).mkdir(exist_ok=True)
        (d / path.name / "data.mdb").write_bytes(data)
        return d / path.name
    (d / path.name).write_bytes(data)
    return d / path.name


def _mnist(p):
    from simplenet_caffe.data.idx import read_idx
    return read_idx(p)


def _check_idx(a):
    assert a.ndim >= 1


def _cifar_py(p):
    from simplenet_caffe.data.cifar import _read_python
    return _read_python(p.read_bytes(), str(p), "cifar10")


def _cifar_bin(p):
    from simplenet_caffe.data.cifar import _read_binary
    return _read_binary(p.read_bytes(), str(p), "cifar10")


def _cifar_tar(p):
    from simplenet_caffe.data.cifar import read_cifar
    return read_cifar(p, "cifar10", "test")


def _check_cifar(r):
    x, labels = r[0], r[1]
    assert x.shape[1:] == (3, 32, 32)
    for lab in (labels.values() if isinstance(labels, dict) else [labels]):
        assert len(lab) == len(x) and (lab.min() >= 0 and lab.max() < 10)


def _svhn(p):
    from simplenet_caffe.data.svhn import read_svhn_mat
    return read_svhn_mat(p)


def _check_svhn(r):
    x, y = r
    assert x.shape[1:] == (3, 32, 32) and len(y) == len(x) and y.min() >= 0 and y.max() <= 9


def _image(p):
    from simplenet_caffe.data.preprocess import read_image
    return read_image(p)


def _check_image(a):
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3


def _lmdb(p):
    from simplenet_caffe.data.lmdbio import read_arrays
    return read_arrays(p)


def _check_lmdb(r):
    x, y = r
    assert x.ndim == 4 and len(y) == len(x)


READERS = {"idx": (_mnist, _check_idx), "cifar-python": (_cifar_py, _check_cifar), "cifar-bin": (_cifar_bin, _check_cifar),
           "cifar-tar": (_cifar_tar, _check_cifar), "svhn": (_svhn, _check_svhn), "image": (_image, _check_image),
           "lmdb": (_lmdb, _check_lmdb)}


def fuzz(kind: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO_ROOT)])}
    r = subprocess.run([PY, "-c", CHILD, kind, str(path)], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert r.returncode == 0, f"{kind}: exit {r.returncode} (negative = killed by a signal)\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def _real_mnist(mnist_dir: Path, tmp: Path, n: int = 50) -> tuple[Path, Path]:
    """The first ``n`` real test images/labels as raw idx files, and the real label file (.gz)."""
    from _data_helpers import write_idx
    from simplenet_caffe.data.idx import read_idx

    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[:n]
    (tmp / "idx").mkdir()
    write_idx(tmp / "idx" / "t10k-images-idx3-ubyte", images)
    return tmp / "idx" / "t10k-images-idx3-ubyte", mnist_dir / "t10k-labels-idx1-ubyte.gz"


def test_fuzz_every_reader(tmp_path, mnist_dir):
    """Truncated and bit-flipped real files: each read is one UserError line or a valid result."""
    import cv2

    from _data_helpers import make_cifar
    from simplenet_caffe.data import lmdbio
    from _data_helpers import write_svhn_mat

    raw_images, labels_gz = _real_mnist(mnist_dir, tmp_path)
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / labels_gz.name).write_bytes(labels_gz.read_bytes())
    make_cifar(tmp_path / "cpy", "cifar10", "python", n_per_file=4)
    make_cifar(tmp_path / "cbin", "cifar10", "binary", n_per_file=4)
    import tarfile
    with tarfile.open(tmp_path / "ctar" / "c.tar.gz" if (tmp_path / "ctar").mkdir() is None else None, "w:gz") as tf:
        for f in sorted((tmp_path / "cpy").iterdir()):
            tf.add(f, arcname=f"cifar-10-batches-py/{f.name}")
    r = np.random.default_rng(0)
    (tmp_path / "svhn").mkdir()
    write_svhn_mat(tmp_path / "svhn" / "test_32x32.mat", r.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8),
                   r.integers(0, 10, 6))
    img = r.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    (tmp_path / "img").mkdir()
    for ext in (".png", ".jpg", ".bmp"):
        cv2.imwrite(str(tmp_path / "img" / f"a{ext}"), img)
    lmdbio.write_lmdb(tmp_path / "db" / "train_lmdb",
                      [(np.full((1, 8, 8), i, np.uint8), i % 10) for i in range(200)])
    cases = [("idx", raw_images), ("idx", tmp_path / "gz" / labels_gz.name),
             ("cifar-python", tmp_path / "cpy" / "test_batch"), ("cifar-bin", tmp_path / "cbin" / "test_batch.bin"),
             ("cifar-tar", tmp_path / "ctar" / "c.tar.gz"), ("svhn", tmp_path / "svhn" / "test_32x32.mat"),
             ("image", tmp_path / "img" / "a.png"), ("image", tmp_path / "img" / "a.jpg"),
             ("image", tmp_path / "img" / "a.bmp"), ("lmdb", tmp_path / "db" / "train_lmdb")]
    for kind, path in cases:
        counts = fuzz(kind, path)
        assert counts["error"] >= 8, (kind, path.name, counts)     # every truncation at least is refused


def _one_error_line(r, code=2):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    return lines[0]


def test_non_utf8_names_and_empty_images(tmp_path):
    """A class folder holding a file name with byte 0xE9 converts (cv2.imread used to SIGSEGV on
    it); a zero-byte image is one line, exit 2, and no output."""
    from _data_helpers import make_images
    from simplenet_caffe.data import lmdbio

    make_images(tmp_path / "in", per_class=2)
    good = (tmp_path / "in" / "cat" / "img 0.png").read_bytes()
    with open(os.path.join(os.fsencode(tmp_path / "in" / "cat"), b"caf\xe9.png"), "wb") as f:
        f.write(good)
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "in", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    keys = [k for k, _ in lmdbio.read_datums(tmp_path / "out" / "train_lmdb")]
    assert len(keys) == 5 and any("caf" in k for k in keys)
    os.rename(tmp_path / "in" / "dog", os.path.join(os.fsencode(tmp_path / "in"), b"d\xe9g"))   # a class too
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "in", "-o", tmp_path / "out1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out1" / "labels.txt").read_bytes() == b"cat\nd\xe9g\n"
    assert json.loads((tmp_path / "out1" / "preprocess.json").read_text())["class_names"] == ["cat", "d\udce9g"]
    (tmp_path / "in" / "cat" / "empty.png").write_bytes(b"")
    r = run_script("tools/to_lmdb.py", "folder", tmp_path / "in", "-o", tmp_path / "out2")
    assert "empty.png: empty file" in _one_error_line(r)
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("args,msg", [(["--limit", "0"], "--limit must be a positive"),
                                      (["--limit", "-5"], "--limit must be a positive"),
                                      (["--seed", "-1"], "--seed must be 0 or more"),
                                      (["--split", "../test"], "split names are letters"),
                                      (["--resize", "99999x2"], "--resize sizes must be 1 to")])
def test_numeric_options_are_checked(tmp_path, mnist_dir, args, msg):
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", tmp_path / "o", "--shuffle", *args)
    assert msg in _one_error_line(r)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("script,args", [("data_prep/mnist.py", ["--limit-train", "0"]),
                                         ("data_prep/mnist.py", ["--limit-test", "-5"]),
                                         ("data_prep/cifar.py", ["--limit-train", "0"]),
                                         ("data_prep/svhn.py", ["--limit", "-1"]),
                                         ("data_prep/imagenet.py", [".", "--size", "0"])])
def test_recipe_limits_are_checked(tmp_path, script, args):
    """--limit-train 0 used to write the full set and -5 to drop the last 5 records."""
    r = run_script(script, "--root", tmp_path, "--no-download", *args) if "imagenet" not in script else \
        run_script(script, "--root", tmp_path, *args)
    assert "must be" in _one_error_line(r)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def _prep_mnist(root: Path, *extra, **kw):
    # SIGINT at its default in the child, as in a terminal: a suite started as a background job
    # (`make test &`) passes SIGINT down ignored, and Python then keeps ignoring it
    return subprocess.Popen([PY, str(REPO_ROOT / "data_prep/mnist.py"), "--root", str(root), "--no-download", *extra],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def _wait_for(pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return False


def _staging(parent: Path, name: str) -> list[Path]:
    return [p for p in parent.glob(f".{name}.tmp-*")] if parent.is_dir() else []


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "lock.mdb"}


def test_kill_during_test_split_then_rerun(tmp_path, mnist_dir):
    """SIGKILL data_prep/mnist.py while it writes the test split: nothing appears under the
    output name; the rerun reports and removes the leftover and succeeds (no "already exists").
    Then a --force rerun killed mid-write leaves the previous output byte for byte."""
    env = {**os.environ, "MNIST_DIR": str(mnist_dir)}
    data = tmp_path / "data"
    p = _prep_mnist(tmp_path, "--limit-train", "30000", env=env)
    assert _wait_for(lambda: any(list(s.glob(".test_lmdb.tmp-*")) for s in _staging(data, "mnist_norm"))), \
        p.communicate()
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (data / "mnist_norm").exists() and _staging(data, "mnist_norm")
    p = _prep_mnist(tmp_path, "--limit-train", "2000", "--limit-test", "500", env=env)
    out, err = p.communicate()
    assert p.returncode == 0, err
    assert "removed .mnist_norm.tmp-" in out and not _staging(data, "mnist_norm")
    before = _snapshot(data / "mnist_norm")
    assert set(before) >= {"train_lmdb/data.mdb", "test_lmdb/data.mdb", "preprocess.json"}

    p = _prep_mnist(tmp_path, "--force", "--limit-train", "30000", env=env)
    assert _wait_for(lambda: any(list(s.glob(".train_lmdb.tmp-*")) for s in _staging(data, "mnist_norm")))
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert _snapshot(data / "mnist_norm") == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_and_concurrent_writer(tmp_path, mnist_dir, sig):
    """A second conversion to the same output while the first runs is refused with one line and
    touches nothing; Ctrl-C (or SIGTERM) of the first exits 130 with one line, leaving no output
    and no temp."""
    env = {**os.environ, "MNIST_DIR": str(mnist_dir)}
    data = tmp_path / "data"
    p = _prep_mnist(tmp_path, env=env)
    # stopped while it writes the 60,000 training images (not later, in the commit, which a signal
    # does not cut), held still while the second writer is tried; the signal is pending when it continues
    assert _wait_for(lambda: any(list(s.glob(".train_lmdb.tmp-*")) for s in _staging(data, "mnist_norm")))
    p.send_signal(signal.SIGSTOP)
    q = _prep_mnist(tmp_path, "--force", env=env)
    out, err = q.communicate()
    assert q.returncode == 2 and "is being written by pid" in err and "Traceback" not in err, err
    p.send_signal(sig)
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate()
    assert p.returncode == 130 and err.strip().splitlines()[-1].endswith("interrupted"), err
    assert "Traceback" not in err
    assert sorted(os.listdir(data)) == [".mnist_norm.lock"]


@pytest.fixture
def small_fs(tmp_path):
    """A 3 MiB tmpfs (root only: CI runs as root); yields its mount point."""
    yield from tmpfs(tmp_path / "mnt", "3m")


def test_full_disk_read_only_and_occupied_outputs(tmp_path, mnist_dir, small_fs):
    """Disk full in the second split of a --force rerun: one line, exit 2, previous output intact,
    no temp left. A read-only folder and an output path that is a file: one line, exit 2."""
    out = small_fs / "m"
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", out, "--limit", "100")
    assert r.returncode == 0, r.stderr
    before = _snapshot(out)
    # train (60000 x 800 B = 47 MB) cannot fit in 3 MiB
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", out, "--force", "--split", "test", "--split", "train")
    line = _one_error_line(r)
    assert "cannot write" in line and "previous output is unchanged" in line, line
    assert _snapshot(out) == before
    assert sorted(os.listdir(small_fs)) == [".m.lock", "m"]
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", small_fs / "new", "--limit", "10")
    assert "read-only" in _one_error_line(r).lower()
    r = run_script("data_prep/mnist.py", "--root", small_fs, "--no-download", "--src", mnist_dir, "--limit-train", "10")
    assert "read-only" in _one_error_line(r).lower()
    (tmp_path / "afile").write_text("x")
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", tmp_path / "afile", "--limit", "10")
    assert "is not a folder" in _one_error_line(r)
    assert (tmp_path / "afile").read_text() == "x"


def test_damaged_recipe_and_foreign_idx_are_one_line(tmp_path):
    from _data_helpers import write_idx
    from simplenet_caffe.data.idx import read_mnist
    from simplenet_caffe.data.preprocess import class_names_for
    from simplenet_caffe.errors import UserError

    (tmp_path / "preprocess.json").write_text('{"layout": "x", "dataset": "y", "channel_order": "RGB", '
                                              '"dtype": "uint8", "splits": 5}')
    with pytest.raises(UserError, match="wrong type of splits"):
        class_names_for(tmp_path)
    (tmp_path / "preprocess.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not a valid preprocess.json"):
        class_names_for(tmp_path)
    import struct
    (tmp_path / "m").mkdir()
    write_idx(tmp_path / "m" / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    # a signed-byte label file (type code 0x09): -1 would pass a "max <= 9" check
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0901, 2) + bytes([255, 1]))
    with pytest.raises(UserError, match="wrong magic number 2305"):
        read_mnist(tmp_path / "m", "test")
    # a header whose sizes multiply past 2**64 (numpy's product would wrap around)
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, 2) + bytes([1, 1]))
    (tmp_path / "m" / "t10k-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x0803, 2**32 - 1, 2**32 - 1, 2**32 - 1))
    with pytest.raises(UserError, match="truncated: header promises"):
        read_mnist(tmp_path / "m", "test")


def test_jpeg_that_decodes_with_a_damage_warning_is_refused(tmp_path):
    """libjpeg decodes a JPEG with damaged entropy data, printing only a warning: the conversion
    names the file in one line (exit 2) and writes nothing; a clean set with a progress bar
    still converts, the bar passing through."""
    import cv2

    r = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "in" / c).mkdir(parents=True)
        for i in range(40):
            cv2.imwrite(str(tmp_path / "in" / c / f"{i:02d}.jpg"), r.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    env = {**os.environ, "SIMPLENET_PROGRESS": "1"}
    ok = run_script("tools/to_lmdb.py", "folder", tmp_path / "in", "-o", tmp_path / "good", env=env)
    assert ok.returncode == 0 and "Traceback" not in ok.stderr and "Corrupt" not in ok.stderr, ok.stderr
    assert "rec" in ok.stderr                      # the progress bar reached the terminal
    data = (tmp_path / "in" / "b" / "17.jpg").read_bytes()
    (tmp_path / "in" / "b" / "17.jpg").write_bytes(data[:-2] + bytes(100) + data[-2:])   # junk before EOI
    r2 = run_script("tools/to_lmdb.py", "folder", tmp_path / "in", "-o", tmp_path / "bad")
    line = _one_error_line(r2)
    assert "b/17.jpg: damaged image (Corrupt JPEG data" in line, line
    assert not (tmp_path / "bad").exists()


def test_to_lmdb_killed_then_rerun(tmp_path, mnist_dir):
    """kill -9 of tools/to_lmdb.py mid-write: no output under the name; the rerun removes the
    leftover (and says so) and writes the complete output."""
    out = tmp_path / "o"
    p = subprocess.Popen([PY, str(REPO_ROOT / "tools/to_lmdb.py"), "mnist", str(mnist_dir), "-o", str(out), "--split", "train",
                          "--resize", "64x64"], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert _wait_for(lambda: any(list(s.glob(".train_lmdb.tmp-*")) for s in _staging(tmp_path, "o")))
    p.kill()
    p.communicate()
    assert not out.exists() and _staging(tmp_path, "o")
    r = run_script("tools/to_lmdb.py", "mnist", mnist_dir, "-o", out, "--split", "train", "--limit", "50")
    assert r.returncode == 0 and "removed .o.tmp-" in r.stdout, r.stderr
    assert sorted(os.listdir(tmp_path)) == [".o.lock", "o"]
    assert sorted(os.listdir(out)) == ["preprocess.json", "train_lmdb"]
