"""simplenet_caffe.atomic (the one atomic writer) and simplenet_caffe.protoio (the one protobuf
I/O): outputs are whole or absent, bad files give one-line UserErrors."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from simplenet_caffe import protoio
from simplenet_caffe.atomic import atomic_dir, write_atomic
from simplenet_caffe.errors import UserError


def _names(folder):
    return sorted(os.listdir(folder))


def test_write_atomic_text_bytes_callback_and_mode(tmp_path):
    assert write_atomic(tmp_path / "sub" / "a.txt", "héllo\n").read_bytes() == "héllo\n".encode()
    assert write_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    write_atomic(tmp_path / "c.npy", lambda f: np.save(f, np.arange(3)))
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), [0, 1, 2])
    old = os.umask(0o027)
    try:
        p = write_atomic(tmp_path / "d.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640            # as open() would create it, not mkstemp's 0600
    assert _names(tmp_path) == ["b.bin", "c.npy", "d.txt", "sub"]


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_write_atomic_failure_keeps_the_old_file_and_no_temp(tmp_path, exc):
    target = write_atomic(tmp_path / "t.txt", "old")

    def fail(f):
        f.write(b"half")
        raise exc("stop")

    with pytest.raises(exc):
        write_atomic(target, fail)
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["t.txt"]


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "db"
    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".db.") and not target.exists()
        (tmp / "data").write_text("1")
    assert (target / "data").read_text() == "1"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "data").write_text("2")
            raise KeyboardInterrupt
    assert (target / "data").read_text() == "1" and _names(tmp_path) == ["db"]
    with atomic_dir(target) as tmp:
        (tmp / "other").write_text("3")
    assert _names(target) == ["other"] and _names(tmp_path) == ["db"]


def test_protoio_round_trips_and_one_line_errors(tmp_path, caffe_pb2):
    net = caffe_pb2.NetParameter(name="n")
    blob = net.layer.add(name="ip", type="InnerProduct").blobs.add()
    blob.shape.dim.append(2)
    blob.data.extend([1.5, 2.5])
    protoio.write_text(tmp_path / "n.prototxt", net, header="# generated\n")
    assert (tmp_path / "n.prototxt").read_text().startswith("# generated\nname: \"n\"\n")
    assert protoio.read_net(tmp_path / "n.prototxt").layer[0].name == "ip"
    protoio.write_binary(tmp_path / "n.caffemodel", net)
    assert list(protoio.read_caffemodel(tmp_path / "n.caffemodel").layer[0].blobs[0].data) == [1.5, 2.5]
    blob = caffe_pb2.BlobProto(num=1, channels=1, height=1, width=2)
    blob.data.extend([3.0, 4.0])
    protoio.write_binary(tmp_path / "m.binaryproto", blob)
    assert list(protoio.read_blob(tmp_path / "m.binaryproto").data) == [3.0, 4.0]

    (tmp_path / "bad.prototxt").write_text("layer { name: 'x' no_such_field: 1 }")
    (tmp_path / "v1.prototxt").write_text("layers { name: 'x' }")
    (tmp_path / "solver.prototxt").write_text("base_lr: 0.1\nmax_iter: 7\n")
    (tmp_path / "junk.caffemodel").write_bytes(b"\xff\xff\xff\xff")
    assert protoio.read_solver(tmp_path / "solver.prototxt").max_iter == 7
    for call, msg in [(lambda: protoio.read_net(tmp_path / "none.prototxt"), "none.prototxt: no such file"),
                      (lambda: protoio.read_net(tmp_path / "bad.prototxt"), "not a valid Caffe NetParameter"),
                      (lambda: protoio.read_net(tmp_path / "v1.prototxt"), "deprecated V1 `layers`"),
                      (lambda: protoio.read_solver(tmp_path / "bad.prototxt"), "not a valid Caffe SolverParameter"),
                      (lambda: protoio.read_caffemodel(tmp_path / "junk.caffemodel"), "not a valid Caffe .caffemodel"),
                      (lambda: protoio.read_caffemodel(tmp_path / "solver.prototxt"), "not a valid Caffe .caffemodel"),
                      (lambda: protoio.read_blob(tmp_path / "junk.caffemodel"), "not a valid Caffe BlobProto")]:
        with pytest.raises(UserError, match=msg) as e:
            call()
        assert "\n" not in str(e.value)


def test_atomic_outputs_keeps_what_it_does_not_replace(tmp_path):
    """A multi-part output: parts not rewritten are carried over (hard links), an error keeps
    the previous folder, existing parts need force, and a symlinked folder stays a symlink."""
    from simplenet_caffe.atomic import atomic_outputs
    from simplenet_caffe.errors import UserError

    out = tmp_path / "real"
    with atomic_outputs(out, ["a"], log=None) as st:
        (st / "a").write_text("1")
        (st / "b").write_text("2")
    with atomic_outputs(out, ["c"], log=None) as st:
        assert (st / "a").read_text() == "1" and os.stat(st / "a").st_ino == os.stat(out / "a").st_ino
        (st / "c").write_text("3")
    assert _names(out) == ["a", "b", "c"]
    with pytest.raises(UserError, match="already exists"):
        with atomic_outputs(out, ["a"], log=None):
            pass
    with pytest.raises(RuntimeError):
        with atomic_outputs(out, ["a"], force=True, log=None) as st:
            (st / "a").write_text("new")
            raise RuntimeError("boom")
    assert (out / "a").read_text() == "1" and _names(tmp_path) == [".real.lock", "real"]
    (tmp_path / "link").symlink_to(out)
    with atomic_outputs(tmp_path / "link", ["d"], log=None) as st:
        (st / "d").write_text("4")
    assert (tmp_path / "link").is_symlink() and (out / "d").read_text() == "4"


def test_stale_temps_of_dead_processes_are_removed(tmp_path):
    """A temp whose process is gone (pid and host in its name) is removed by the next write of
    that target; a live process's temp is left alone."""
    from simplenet_caffe import atomic

    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(p.stdout)
    stale = tmp_path / f".t.txt.tmp-{atomic._HOST}-{dead}-abcd1234.tmp"
    live = tmp_path / f".t.txt.tmp-{atomic._HOST}-1-abcd1234.tmp"       # pid 1 is always alive
    stale.write_text("half")
    live.write_text("other")
    write_atomic(tmp_path / "t.txt", "new")
    assert _names(tmp_path) == [live.name, "t.txt"]
