"""Every SimpleNet variant the authors ran, as one table of data (timm style) and one expansion.

Sources are docs/spec.md: §1 (A5M family), §2 (slim nets, C100-MISC, the two Caffe ImageNet
nets) and §9.3 (the PyTorch ImageNet family, rebuilt as Caffe nets with BatchNorm+Scale after
every conv and a global max pool).

A variant is a :class:`VariantCfg` row.  :func:`expand` turns it into a list of
:class:`ConvLayer` -- the 13 convolutions (plus any extra conv) in Caffe's layer names, each
with its in-order post-ops -- and :class:`Head`.  The net builder (``netbuilder.py``) turns that
into ``caffe_pb2.LayerParameter`` messages; nothing here imports Caffe.

Conventions (Caffe semantics, docs/spec.md §0):

* layer names are the authors' (conv1, conv1_0, ..., cccp6, ip1; bnX/scaleX/reluX,
  relu_cccpN; pools pool2_1, pool4, pool4_2, poolcp5, poolcp6) so released caffemodels load by
  name;  BN/Scale/ReLU/Dropout are in place on the conv's top;
* conv4 is pooled *before* its BatchNorm in every Caffe-family variant (§1 rule 1);
* Dropout layers are named drop1, drop2, ... in order of appearance (the CIFAR-10 benchmark
  convention; Models/DropoutAll reuses ``drop2_1`` twice, which changes nothing);
* convs conv1..conv4_0 carry one param spec (lr_mult 1, so the bias is weight-decayed too);
  cccp convs carry weight 1/1 + bias 2/0; the classifier weight 1/0 + bias 2/0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: The 13 convolutions of every SimpleNet, in order, by their Caffe names.
CONV_NAMES = ("conv1", "conv1_0", "conv2", "conv2_1", "conv2_2", "conv3",
              "conv4", "conv4_1", "conv4_2", "conv4_0", "cccp4", "cccp5", "cccp6")
#: Convs initialised with gaussian(std 0.01) in every variant; all others use xavier.
GAUSSIAN_CONVS = frozenset({"conv2", "conv2_1", "conv2_2"})

#: Caffe layout of the five 2x2/2 max pools: conv name -> (pool name, "pre_bn" | "post").
CAFFE_POOLS = {"conv2_1": ("pool2_1", "post"), "conv4": ("pool4", "pre_bn"),
               "conv4_2": ("pool4_2", "post"), "cccp5": ("poolcp5", "post"), "cccp6": ("poolcp6", "post")}
#: PyTorch-family layout (cfg entries [6] and [11] are pools, then a global max pool).
PYTORCH_POOLS = {"conv3": ("pool3", "post"), "conv4_0": ("pool4_0", "post"), "cccp6": ("poolcp6", "post")}

#: DropoutAll placement (docs/spec.md §1.1): 12 dropouts; "relu" = right after the ReLU (before a
#: following pool), "pool" = after the pool.  conv2_1 and cccp5 drop after their pool,
#: conv4_2 before its pool, cccp6 has none.
DROPOUT_ALL = {n: "relu" for n in CONV_NAMES[:-1]} | {"conv2_1": "pool", "cccp5": "pool"}

A5M_WIDTHS = (64, 128, 128, 128, 128, 128, 256, 256, 256, 512, 2048, 256, 256)
S310B_WIDTHS = (64, 32, 32, 32, 32, 32, 64, 64, 64, 128, 256, 64, 64)
S300A_WIDTHS = (32, 32, 32, 32, 50, 64, 64, 64, 64, 64, 64, 64, 100)
S460_WIDTHS = (32, 32, 32, 64, 64, 64, 64, 64, 64, 96, 96, 96, 100)
PT9M_WIDTHS = (128, 192, 192, 192, 192, 192, 320, 320, 320, 640, 2560, 320, 320)
#: cccp kernels of the slim S300-A / S460 nets (3x3, 3x3, 1x1 -- the reverse of A5M's).
SLIM_CCCP_K = {"cccp4": 3, "cccp5": 3, "cccp6": 1}
#: Stride modes of the PyTorch builder (docs/spec.md §9.1), as conv name -> stride.
PT_STRIDE_MODES = {
    "m1": {"conv1": 2, "conv1_0": 2, "conv2": 2},
    "m2": {"conv1": 2, "conv1_0": 2, "conv2": 1, "conv2_1": 2},
}


@dataclass(frozen=True)
class VariantCfg:
    """One row of the variant table.  Widths are the 13 conv widths in CONV_NAMES order."""

    name: str                       # table key, e.g. "a5m_drop"
    spec_id: str                    # docs/spec.md's ID, e.g. "A5M-DROP"
    widths: tuple[int, ...]
    source: str                     # where the authors' net comes from
    kernels: dict = field(default_factory=dict)   # conv name -> kernel (default 3 for convs, 1 for cccp4/5)
    strides: dict = field(default_factory=dict)   # conv name -> stride (default 1)
    pads: dict = field(default_factory=dict)      # conv name -> pad (default (k-1)//2, i.e. "same")
    dropout: dict = field(default_factory=dict)   # conv name -> (ratio, "relu" | "pool")
    pools: str = "caffe"            # "caffe" (5 pools, conv4 pooled before BN) | "pytorch"
    bn_cccp: bool = False           # BatchNorm+Scale on cccp4-6 too
    global_pool: bool = False       # last pool (poolcp6) is a global max pool
    extra: tuple = ()               # extra convs after cccp6: (name, width, kernel, pad, dropout_ratio)
    classifier: str = "ip1"

    def __post_init__(self):
        assert len(self.widths) == 13, self.name


def _drop_all(p: float = 0.2) -> dict:
    return {n: (p, where) for n, where in DROPOUT_ALL.items()}


def _pt(name: str, widths, mode: str, scale: float, source: str) -> VariantCfg:
    return VariantCfg(name, name.upper().replace("_", "-"), tuple(round(w * scale) for w in widths), source,
                      kernels={"cccp4": 1, "cccp5": 1}, strides=PT_STRIDE_MODES[mode], pools="pytorch",
                      bn_cccp=True, global_pool=True)


_C100_MISC_DROP = {"cccp4": (0.5, "relu")}

VARIANTS: dict[str, VariantCfg] = {v.name: v for v in [
    # §1.1 DropoutAll: CIFAR-10 94.75/95.16/95.32, SVHN 98.21, CIFAR-100 73.42 (100-way head).
    VariantCfg("a5m_drop", "A5M-DROP", A5M_WIDTHS, "Models/DropoutAll; CIFAR10 94.75/95.x; SVHN Normal; CIFAR100 73.42",
               kernels={"cccp4": 1, "cccp5": 1}, dropout=_drop_all()),
    # §1.2 NoDropout: MNIST 'normal solver' runs (99.69 -> 99.74 -> 99.75 fine-tuning chain).
    VariantCfg("a5m_nodrop", "A5M-NODROP", A5M_WIDTHS, "Models/NoDropout; MNIST normal solver 99.69/99.74/99.75",
               kernels={"cccp4": 1, "cccp5": 1}),
    # §1.3 SlimNet_FX2_5M: cccp4 is 2x2 -> 512, cccp5 2x2 -> 256, all 12 dropouts.
    VariantCfg("a5m_fx2", "A5M-FX2", A5M_WIDTHS[:10] + (512, 256, 256), "MNIST/Normal Arch_NoDrpOut_99.75/99.75",
               kernels={"cccp4": 2, "cccp5": 2}, pads={"cccp4": 0, "cccp5": 0}, dropout=_drop_all()),
    # §2.1 S310-B: Models/Slim_version_310KParams, SVHN slim, MNIST slim prototxt.
    VariantCfg("s310b", "S310-B", S310B_WIDTHS, "Models/Slim_version_310KParams; SVHN slim 97.57",
               kernels={"cccp4": 1, "cccp5": 1}),
    # §2.2 S300-A: the net in the CIFAR-10 91.98 and MNIST 99.72 logs.
    VariantCfg("s300a", "S300-A", S300A_WIDTHS, "logs slim_310k_91.98 / caffe_slim310k_99.72", kernels=SLIM_CCCP_K),
    # §2.3 S460: Models/Slim_version_460KParams, CIFAR-10 92.33.
    VariantCfg("s460", "S460", S460_WIDTHS, "Models/Slim_version_460KParams; CIFAR10 92.33", kernels=SLIM_CCCP_K),
    # §2.5 C100-MISC (~20M, CIFAR-100 74.86, dropout 0.5 as in caffe_resumed2/3).
    VariantCfg("c100_misc", "C100-MISC", A5M_WIDTHS[:4] + (256, 256) + A5M_WIDTHS[6:11] + (512, 512),
               "Logs/CIFAR100/Misc _74.86 (resumed2/3 with dropout)",
               kernels={"cccp4": 1, "cccp5": 3}, pads={"cccp5": 0}, bn_cccp=True, dropout=_C100_MISC_DROP,
               extra=(("fc_conv", 2048, 1, 1, 0.5),), classifier="ipf0"),
    # §2.5 IMNET-SLIM: S310-B widths, conv1 7x7/s3/p1, global max pool.
    VariantCfg("imnet_slim", "IMNET-SLIM", S310B_WIDTHS, "Logs/IMAGENET/SLIM_310K_Param; [HIST] imagenet.prototxt",
               kernels={"conv1": 7, "cccp4": 1, "cccp5": 1}, strides={"conv1": 3}, pads={"conv1": 1}, global_pool=True),
    # §2.5 IMNET-6.4M: conv1 7x7/s3/p0, conv2 7x7/s2/p0, global max pool (the README FLOPs row).
    VariantCfg("imnet_6p4m", "IMNET-6.4M", A5M_WIDTHS, "[HIST] IMAGENET/SimpNet_nodrp.prototxt",
               kernels={"conv1": 7, "conv2": 7, "cccp4": 1, "cccp5": 1}, strides={"conv1": 3, "conv2": 2},
               pads={"conv1": 0, "conv2": 0}, global_pool=True),
    # §9.3 PyTorch ImageNet family as Caffe nets (BN+Scale after every conv, global max pool).
    _pt("pt_5m_m1", A5M_WIDTHS, "m1", 1.0, "SimpleNet_Pytorch simplenetv1_5m_m1"),
    _pt("pt_5m_m2", A5M_WIDTHS, "m2", 1.0, "SimpleNet_Pytorch simplenetv1_5m_m2"),
    _pt("pt_9m_m1", PT9M_WIDTHS, "m1", 1.0, "SimpleNet_Pytorch simplenetv1_9m_m1"),
    _pt("pt_9m_m2", PT9M_WIDTHS, "m2", 1.0, "SimpleNet_Pytorch simplenetv1_9m_m2"),
    _pt("pt_small_m1_05", A5M_WIDTHS, "m1", 0.5, "SimpleNet_Pytorch simplenetv1_small_m1_05"),
    _pt("pt_small_m2_05", A5M_WIDTHS, "m2", 0.5, "SimpleNet_Pytorch simplenetv1_small_m2_05"),
    _pt("pt_small_m1_075", A5M_WIDTHS, "m1", 0.75, "SimpleNet_Pytorch simplenetv1_small_m1_075"),
    _pt("pt_small_m2_075", A5M_WIDTHS, "m2", 0.75, "SimpleNet_Pytorch simplenetv1_small_m2_075"),
]}


@dataclass(frozen=True)
class Pool:
    """2x2/2 max pooling after a convolution, or global max pooling (``global_pool``)."""
    name: str
    global_pool: bool = False


@dataclass(frozen=True)
class BatchNorm:
    """BatchNorm ``name`` followed by its learned Scale ``scale`` (with bias), in place."""
    name: str
    scale: str


@dataclass(frozen=True)
class ReLU:
    name: str


@dataclass(frozen=True)
class Drop:
    """Dropout with drop probability ``ratio``."""
    name: str
    ratio: float


@dataclass(frozen=True)
class ConvLayer:
    """One convolution and its in-order post-ops (:class:`Pool`, :class:`BatchNorm`,
    :class:`ReLU`, :class:`Drop`; all but pooling in place on the conv's top blob).  Filler "xavier" is Caffe's uniform +-sqrt(3/fan_in); "gaussian"
    is std 0.01.  ``split_bias``: weight lr/decay 1/1 and bias 2/0, else one spec lr_mult 1.
    """

    name: str
    num_output: int
    kernel: int
    stride: int
    pad: int
    filler: str
    split_bias: bool
    post: tuple[Pool | BatchNorm | ReLU | Drop, ...]


@dataclass(frozen=True)
class Head:
    name: str          # "ip1"
    filler: str = "xavier"


def _suffix(conv: str) -> str:
    return conv[len("conv"):] if conv.startswith("conv") else "_" + conv


def expand(v: VariantCfg | str) -> tuple[list[ConvLayer], Head]:
    """The variant's layers, in order: convs with their post-ops, then the classifier."""
    if isinstance(v, str):
        v = VARIANTS[v]
    pools = CAFFE_POOLS if v.pools == "caffe" else PYTORCH_POOLS
    layers: list[ConvLayer] = []
    ndrop = 0

    def drop(ratio):
        nonlocal ndrop
        ndrop += 1
        return Drop(f"drop{ndrop}", ratio)

    for i, (name, width) in enumerate(zip(CONV_NAMES, v.widths)):
        cccp = name.startswith("cccp")
        k = v.kernels.get(name, 3)
        pad = v.pads.get(name, (k - 1) // 2)
        sfx = _suffix(name)
        pool = pools.get(name)
        pool_op = None
        if pool:
            pool_op = Pool(pool[0], v.global_pool and name == "cccp6")
        post = []
        if pool and pool[1] == "pre_bn":
            post.append(pool_op)
        if not cccp or v.bn_cccp:
            post.append(BatchNorm(f"bn{sfx}", f"scale{sfx}"))
        post.append(ReLU(f"relu{sfx}"))
        ratio, where = v.dropout.get(name, (None, None))
        if ratio is not None and where == "relu":
            post.append(drop(ratio))
        if pool and pool[1] == "post":
            post.append(pool_op)
        if ratio is not None and where == "pool":
            post.append(drop(ratio))
        layers.append(ConvLayer(name, width, k, v.strides.get(name, 1), pad,
                                "gaussian" if name in GAUSSIAN_CONVS else "xavier", cccp, tuple(post)))
    for name, width, k, pad, ratio in v.extra:
        post = (drop(ratio),) if ratio else ()
        layers.append(ConvLayer(name, width, k, 1, pad, "xavier", True, post))
    return layers, Head(v.classifier)
