"""The authors' released weights by name (``tools/zoo.py list | get NAME``; docs/zoo.md).

One row per released file that exists upstream: the two Caffe models of the SimpleNet repo
(the MNIST S300-A and the SVHN S310-B snapshots) and the eight ImageNet checkpoints of
SimpleNet_Pytorch. Each row names the generated net (experiment) its weights are for.

* Caffe models are kept as downloaded, checked against the published sha256.
* PyTorch checkpoints are checked against the sha256 prefix in their names (torch.hub's
  ``name-<8 hex>.pth`` convention), then converted by the project's import_weights
  (conversion.py beside it) into a caffemodel for the generated deploy net, with
  its verification: Caffe, the PyTorch twin and onnxruntime must agree on random inputs, else
  nothing is written.

Files live in :func:`model_dir` (``$SIMPLENET_MODEL_DIR``, default
``~/.cache/simplenet-caffe/models``). ``$SIMPLENET_MODEL_MIRROR`` is a base URL under which the
upstream URL's path (scheme and host removed) is found, for sites without internet access.
"""
from __future__ import annotations

import os
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..fetch import Checksum, fetch, mirrored
from ..paths import REPO_ROOT
from . import conversion

_SIMPNET = "https://github.com/Coderx7/SimpleNet/raw/master/SimpNet_V1/Benchmarks%20Results%20with%20Models/"
_PT_RELEASE = "https://github.com/Coderx7/SimpleNet_Pytorch/releases/download/v1.0.0/"
#: Random inputs (standard normal) the three implementations must agree on before a converted
#: checkpoint is kept.
VERIFY_INPUTS = 2


@dataclass(frozen=True)
class Entry:
    name: str
    url: str
    check: Checksum
    experiment: str           # the generated net the weights load into (prototxt/<experiment>_deploy.prototxt)
    top1: str                 # what top-1 the weights give, and on what data
    size: int | None = None   # bytes, where published

    @property
    def filename(self) -> str:
        return urllib.parse.unquote(self.url.rsplit("/", 1)[1])

    @property
    def converted(self) -> bool:
        """True for a PyTorch checkpoint (kept as a caffemodel converted from it)."""
        return self.filename.endswith(".pth")

    @property
    def deploy(self) -> str:
        return f"prototxt/{self.experiment}_deploy.prototxt"


def _pt(variant: str, sha_prefix: str, top1: str) -> Entry:
    return Entry(f"imagenet_{variant}", f"{_PT_RELEASE}simplenetv1_{variant}-{sha_prefix}.pth",
                 Checksum("sha256", sha_prefix, prefix=True), f"imagenet_{variant}",
                 f"{top1} % on the ImageNet-1k validation set (224x224; the SimpleNet_Pytorch README's figure, "
                 "measured with timm's preprocessing)")


ZOO: dict[str, Entry] = {e.name: e for e in [
    Entry("mnist_s300a", _SIMPNET + "MNIST/Slim_Version_310KParam_99.72/slimnet_fx_310k_iter_39000.caffemodel",
          Checksum("sha256", "40a50d1414425bd1f9c88ca2f1a21c2b83293f0ecd58dc1ef0c52736427c3bd1"), "mnist_s300a",
          "99.70 % on the MNIST test set (10,000 images; this snapshot's test in the authors' 99.72 log, "
          "whose best, 99.72 %, is iteration 36,600)", size=1_214_196),
    Entry("svhn_s310b", _SIMPNET + "SVHN/Slim_Version_310K_Param_NoDrpout/svhn_iter_102000.caffemodel",
          Checksum("sha256", "4efca37704e3255eb436ea85459132a768d023a3378a81ba3adeba374cc5a0d5"), "svhn_s310b",
          "97.57 % on the SVHN test set (26,032 images; the best test of the authors' 97.57 log, iteration 102,000)",
          size=1_255_144),
    _pt("small_m1_05", "be804903", "61.122"),
    _pt("small_m2_05", "ca4b3e2b", "61.67"),
    _pt("small_m1_075", "098acbff", "67.784"),
    _pt("small_m2_075", "609ff4da", "68.506"),
    _pt("5m_m1", "36c4ca4d", "71.548"),
    _pt("5m_m2", "9bd6bb36", "72.03"),
    _pt("9m_m1", "524f9972", "73.792"),
    _pt("9m_m2", "59e8733b", "74.23"),
]}


def model_dir() -> Path:
    """Where fetched models are kept: ``$SIMPLENET_MODEL_DIR``, else ``$XDG_CACHE_HOME`` (or
    ``~/.cache``) ``/simplenet-caffe/models``."""
    if os.environ.get("SIMPLENET_MODEL_DIR"):
        return Path(os.environ["SIMPLENET_MODEL_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "simplenet-caffe" / "models"


def entry(name: str) -> Entry:
    if name not in ZOO:
        raise UserError(f"no model {name!r} in the zoo (known: {', '.join(ZOO)})")
    return ZOO[name]


def url_of(e: Entry, mirror: str | None = None) -> str:
    """Where ``e`` is fetched from: upstream, or under ``mirror`` / ``$SIMPLENET_MODEL_MIRROR``."""
    return mirrored(e.url, mirror if mirror is not None else os.environ.get("SIMPLENET_MODEL_MIRROR"))


def get(name: str, mirror: str | None = None, dest: str | os.PathLike | None = None) -> Path:
    """The verified caffemodel of zoo entry ``name`` (fetched, checked and, for a PyTorch
    checkpoint, converted and verified on first use; kept in ``dest`` or :func:`model_dir`)."""
    e = entry(name)
    folder = Path(dest) if dest else model_dir()
    src = fetch(url_of(e, mirror), folder / e.filename, e.check)
    if not e.converted:
        return src
    out = folder / f"{e.name}.caffemodel"
    if out.is_file():          # written only after the conversion verified it
        return out
    print(f"converting {e.filename} for {e.deploy} (verified on {VERIFY_INPUTS} random inputs)", file=sys.stderr)
    res = conversion.import_weights(REPO_ROOT / e.deploy, src, out, experiment=e.experiment,
                                    n_random=VERIFY_INPUTS, batch=VERIFY_INPUTS)
    for a in res["checks"]:
        for line in a.lines():
            print("  " + line, file=sys.stderr)
    return out
