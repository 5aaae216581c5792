"""tools/zoo.py: the released weights by name, fetched from a file:// mirror the tests write.

The real entries cannot be fetched here (no network), so their table is checked against the
published URLs and hashes, and a mirror serving a different file must be refused; fetching
and converting are tested on entries registered by the test for files it makes (a caffemodel
of the generated MNIST net written by pycaffe, a SimpleNet_Pytorch-layout .pth saved by torch).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from conftest import run_script
from simplenet_caffe.export import zoo
from simplenet_caffe.commands import zoo as zoo_cmd
from simplenet_caffe.errors import UserError
from simplenet_caffe.fetch import Checksum
from simplenet_caffe.paths import REPO_ROOT

PUBLISHED = {
    "mnist_s300a": ("https://github.com/Coderx7/SimpleNet/raw/master/SimpNet_V1/Benchmarks%20Results%20with%20Models/"
                    "MNIST/Slim_Version_310KParam_99.72/slimnet_fx_310k_iter_39000.caffemodel", 1214196,
                    "40a50d1414425bd1f9c88ca2f1a21c2b83293f0ecd58dc1ef0c52736427c3bd1"),
    "svhn_s310b": ("https://github.com/Coderx7/SimpleNet/raw/master/SimpNet_V1/Benchmarks%20Results%20with%20Models/"
                   "SVHN/Slim_Version_310K_Param_NoDrpout/svhn_iter_102000.caffemodel", 1255144,
                   "4efca37704e3255eb436ea85459132a768d023a3378a81ba3adeba374cc5a0d5"),
}
PT = "small_m1_05-be804903 small_m2_05-ca4b3e2b small_m1_075-098acbff small_m2_075-609ff4da 5m_m1-36c4ca4d " \
     "5m_m2-9bd6bb36 9m_m1-524f9972 9m_m2-59e8733b".split()


def test_the_entries_are_the_published_files():
    for name, (url, size, sha) in PUBLISHED.items():
        e = zoo.ZOO[name]
        assert (e.url, e.size, e.check) == (url, size, Checksum("sha256", sha))
    for stem in PT:
        variant, prefix = stem.split("-")
        e = zoo.ZOO[f"imagenet_{variant}"]
        assert e.url == f"https://github.com/Coderx7/SimpleNet_Pytorch/releases/download/v1.0.0/simplenetv1_{stem}.pth"
        assert e.check == Checksum("sha256", prefix, prefix=True) and e.converted
    assert len(zoo.ZOO) == 10
    for e in zoo.ZOO.values():
        assert (REPO_ROOT / e.deploy).is_file(), e.deploy
        assert "%" in e.top1 and " on " in e.top1


def _serve(mirror: Path, url: str, data: bytes) -> None:
    """Put ``data`` where the mirror has the upstream URL's path."""
    p = mirror / urllib.parse.unquote(urllib.parse.urlparse(url).path).lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def test_mirror_url_keeps_the_upstream_path():
    e = zoo.ZOO["mnist_s300a"]
    assert zoo.url_of(e, "file:///srv/m/") == "file:///srv/m/Coderx7/SimpleNet/raw/master/SimpNet_V1/" \
        "Benchmarks%20Results%20with%20Models/MNIST/Slim_Version_310KParam_99.72/slimnet_fx_310k_iter_39000.caffemodel"
    assert zoo.url_of(e, "") == e.url


def test_get_a_caffemodel_from_a_file_mirror(caffe, tmp_path, monkeypatch, capsys):
    made = tmp_path / "made.caffemodel"
    caffe.Net(str(REPO_ROOT / "prototxt" / "mnist_s300a_deploy.prototxt"), caffe.TEST).save(str(made))
    data = made.read_bytes()
    e = dataclasses.replace(zoo.ZOO["mnist_s300a"], name="test_mnist",
                            check=Checksum("sha256", hashlib.sha256(data).hexdigest()), size=len(data))
    monkeypatch.setitem(zoo.ZOO, e.name, e)
    mirror, models = tmp_path / "mirror", tmp_path / "models"
    _serve(mirror, e.url, data)
    monkeypatch.setenv("SIMPLENET_MODEL_MIRROR", mirror.as_uri())
    monkeypatch.setenv("SIMPLENET_MODEL_DIR", str(models))
    assert zoo_cmd.main(["get", e.name]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert Path(last) == models / "slimnet_fx_310k_iter_39000.caffemodel" and Path(last).read_bytes() == data
    net = caffe.Net(str(REPO_ROOT / e.deploy), last, caffe.TEST)
    assert np.array_equal(net.params["ip1"][0].data, caffe.Net(str(REPO_ROOT / e.deploy), str(made), caffe.TEST)
                          .params["ip1"][0].data)
    # kept: a second get needs no mirror
    (mirror / "Coderx7").rename(tmp_path / "gone")
    assert zoo.get(e.name) == Path(last)


def test_a_mirror_with_another_file_is_refused_and_nothing_kept(tmp_path):
    """The real entry, from a mirror that serves some other caffemodel: one line, exit 2, no file."""
    mirror, models = tmp_path / "mirror", tmp_path / "models"
    _serve(mirror, zoo.ZOO["mnist_s300a"].url, b"\x0a\x05other" * 1000)
    env = dict(os.environ, SIMPLENET_MODEL_MIRROR=mirror.as_uri(), SIMPLENET_MODEL_DIR=str(models))
    r = run_script("tools/zoo.py", "get", "mnist_s300a", env=env)
    assert r.returncode == 2 and r.stdout == "", r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "checksum mismatch" in lines[0] and PUBLISHED["mnist_s300a"][2] in lines[0], r.stderr
    assert not models.exists() or list(models.iterdir()) == []
    r = run_script("tools/zoo.py", "get", "no_such_model", env=env)
    assert r.returncode == 2 and "no model 'no_such_model'" in r.stderr and "Traceback" not in r.stderr


def test_list_names_every_entry_and_its_top1():
    r = run_script("tools/zoo.py", "list")
    assert r.returncode == 0, r.stderr
    for name, e in zoo.ZOO.items():
        assert name in r.stdout and e.top1 in r.stdout
    assert "99.70 % on the MNIST test set" in r.stdout


def _timm_pth(torch, path: Path) -> "torch.nn.Module":
    from test_export import TimmStyleSimpleNet

    net = TimmStyleSimpleNet.with_random_bn(torch, 0.5, mode=2)
    torch.save(net.state_dict(), path)
    return net


def test_get_converts_a_pytorch_checkpoint(caffe, tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    made = tmp_path / "made.pth"
    net = _timm_pth(torch, made)
    data = made.read_bytes()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    real = zoo.ZOO["imagenet_small_m2_05"]
    e = dataclasses.replace(real, name="test_small_m2_05", url=real.url.replace("ca4b3e2b", prefix),
                            check=Checksum("sha256", prefix, prefix=True))
    monkeypatch.setitem(zoo.ZOO, e.name, e)
    mirror, models = tmp_path / "mirror", tmp_path / "models"
    monkeypatch.setenv("SIMPLENET_MODEL_MIRROR", mirror.as_uri())
    # a file whose sha256 does not start with the name's prefix: refused, nothing kept
    _serve(mirror, e.url, data + b"\0")
    with pytest.raises(UserError, match=f"checksum mismatch.*expected sha256 {prefix}"):
        zoo.get(e.name, dest=models)
    assert not models.exists() or list(models.iterdir()) == []
    _serve(mirror, e.url, data)
    assert zoo_cmd.main(["get", e.name, "--dir", str(models)]) == 0
    out, err = capsys.readouterr()
    cm = Path(out.strip().splitlines()[-1])
    assert cm == models / "test_small_m2_05.caffemodel"
    assert "same top-1 as Caffe: pytorch 2/2, onnxruntime 2/2" in err, err
    cn = caffe.Net(str(REPO_ROOT / e.deploy), str(cm), caffe.TEST)
    np.testing.assert_allclose(cn.params["ip1"][1].data, net.classifier.bias.detach().numpy(), rtol=0, atol=0)
    assert sorted(p.name for p in models.iterdir()) == sorted([cm.name, Path(e.filename).name])
