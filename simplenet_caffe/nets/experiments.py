"""The experiment table: which variant, on which prepared dataset, with which data-layer settings
and solver, and what accuracy the authors reported.

Each :class:`Experiment` generates ``prototxt/<name>_train_val.prototxt``,
``prototxt/<name>_deploy.prototxt`` and ``solvers/<name>_solver.prototxt`` (see
``generate.py``).  Where the authors' files and logs disagree (docs/spec.md §3, §5.2, §11) the row
follows what the logs show was run; the choice is written in ``notes``, which become the
header comment of every generated file.  Values marked [INFER] are not in any file or log.

Data-layer units (docs/spec.md §4, §6): the uint8 layouts are 0-255 in the channel order their recipe
records (CIFAR/SVHN RGB as convert_cifar_data keeps it, image folders BGR; Caffe subtracts the mean file
or ``mean_value`` per channel, then multiplies by ``scale``); the ``*_norm`` / ``*_zeropad``
layouts already hold standardised floats, so no mean and no scale are applied.  The authors
used LEVELDB for CIFAR/SVHN; this toolkit writes LMDB (same records, same order).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..data.layout import LAYOUTS, DataLayout, Transform
from ..errors import unknown
from .solverspec import Schedule


@dataclass(frozen=True)
class DataSpec:
    """Data-layer settings of a train_val net (both phases read ``LAYOUTS[layout]``).

    The crop / mean / scale transform is the layout record's (``LAYOUTS[layout].transform``,
    the one place it is stated) unless ``transform`` names another one on purpose."""

    layout: str
    train_batch: int
    test_batch: int
    train_mirror: bool = False
    test_mirror: bool = False         # Caffe flips at random in TEST too when set (the 95.32 quirk)
    transform: Transform | None = None  # None: the layout's own transform
    label: str = "label"              # name of the label top

    @property
    def tf(self) -> Transform:
        return self.transform or LAYOUTS[self.layout].transform

    @property
    def crop(self) -> int | None:     # random crop in TRAIN, center crop in TEST
        return self.tf.crop_size

    @property
    def mean_file(self) -> bool:      # subtract the layout's per-pixel mean image
        return self.tf.mean_file

    @property
    def mean_value(self) -> tuple[float, ...]:  # per channel, the records' order, 0-255 scale
        return self.tf.mean_value

    @property
    def scale(self) -> float | None:  # applied after the mean subtraction
        return self.tf.scale


@dataclass(frozen=True)
class Experiment:
    name: str
    variant: str                      # key of arch.VARIANTS
    data: DataSpec
    schedule: Schedule
    reported: str                     # the authors' reported accuracy (%), "—" when none
    reported_note: str                # where the number comes from
    notes: tuple[str, ...] = ()       # header comment lines: choices, deviations, [INFER]s
    net_name: str = ""                # NetParameter.name (the authors' where known)
    net_from: str | None = None       # solver-only experiment: train this other experiment's net
    weights: str | None = None        # solver `weights:` (fine-tuning start point)
    accuracy_training: bool = True    # the TRAIN-phase `accuracy_training` layer
    top5: bool = False                # add an `accuracy_top5` TEST layer (ImageNet)
    solver_aliases: tuple[str, ...] = ()  # extra solver file names with the same content

    @property
    def layout(self) -> DataLayout:
        return LAYOUTS[self.data.layout]

    @property
    def reported_acc(self) -> float | None:
        """The reported (top-1) accuracy in percent as a number, None when there is none."""
        head = self.reported.split()[0]
        try:
            return float(head)
        except ValueError:
            return None

    @property
    def num_classes(self) -> int:
        return self.layout.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """C, H, W of the `data` blob the net sees (after the crop)."""
        lay = self.layout
        c = self.data.crop
        return (lay.channels, c or lay.height, c or lay.width)

    @property
    def net_experiment(self) -> str:
        return self.net_from or self.name

    @property
    def train_val_path(self) -> str:
        return f"prototxt/{self.net_experiment}_train_val.prototxt"

    @property
    def deploy_path(self) -> str:
        return f"prototxt/{self.net_experiment}_deploy.prototxt"

    @property
    def solver_path(self) -> str:
        return f"solvers/{self.name}_solver.prototxt"

    @property
    def snapshot_prefix(self) -> str:
        return snapshot_prefix(self.name)

    @property
    def solvers(self) -> dict[str, str]:
        """run name -> solver path: the experiment's solver and its aliases, each with its own
        snapshot prefix (:func:`snapshot_prefix`), so no two solvers share snapshots."""
        return {self.name: self.solver_path,
                **{a.removesuffix("_solver"): f"solvers/{a}.prototxt" for a in self.solver_aliases}}


def snapshot_prefix(run: str) -> str:
    """Where the solver of run ``run`` snapshots: ``snapshots/<run>/<run>`` (relative to the repo root)."""
    return f"snapshots/{run}/{run}"


# --- solver rows (docs/spec.md §5) ---------------------------------------------------------------------
_C10_STEPS = (50000, 95000, 253000, 295000, 320000, 370000)
ADADELTA_C10 = Schedule("AdaDelta", 0.1, "multistep", 0.005, 400000, test_iter=100, test_interval=500,
                        snapshot=500, momentum=0.9, delta=0.001, stepvalue=_C10_STEPS, random_seed=1705)
ADADELTA_C100 = replace(ADADELTA_C10, weight_decay=0.002, test_iter=200, test_interval=1000, snapshot=1000,
                                     stepvalue=(50000, 95000, 220000, 295000, 320000, 270000))
ADADELTA_MNIST = Schedule("AdaDelta", 0.1, "multistep", 0.005, 400000, test_iter=100, test_interval=600,
                          snapshot=600, momentum=0.9, delta=0.001,
                          stepvalue=(5000, 9500, 22000, 29600, 32000, 37000))
ADADELTA_SVHN = Schedule("AdaDelta", 0.1, "multistep", 0.005, 1400000, test_iter=1627, test_interval=3000,
                         snapshot=3000, momentum=0.9, delta=0.001,
                         stepvalue=(50000, 95000, 153000, 195000, 220000, 270000), random_seed=1705)
_SLIM_STEPS = (32000, 48000, 54000, 74000)
NESTEROV_MNIST_SLIM = Schedule("Nesterov", 0.01, "multistep", 0.005, 234000, test_iter=100, test_interval=600,
                               snapshot=10000, momentum=0.9, stepvalue=_SLIM_STEPS, test_initialization=True)
NESTEROV_C10_SLIM = Schedule("Nesterov", 0.01, "multistep", 0.0052, 234000, test_iter=200, test_interval=1000,
                             snapshot=10000, momentum=0.9, stepvalue=_SLIM_STEPS)
NESTEROV_C10_S460 = replace(NESTEROV_C10_SLIM, base_lr=0.02, weight_decay=0.0005, max_iter=154000,
                                              test_iter=100, test_interval=500)
ADADELTA_IMNET_SLIM = Schedule("AdaDelta", 0.2, "multistep", 1e-4, 1000000, test_iter=1000, test_interval=1000,
                               snapshot=20000, momentum=0.9, delta=0.001,
                               stepvalue=(50000, 125000, 193000, 225000, 280000, 350000), random_seed=1705)
SGD_IMNET_6P4M = Schedule("SGD", 0.01, "step", 5e-4, 450000, test_iter=1000, test_interval=1000, snapshot=50000,
                          momentum=0.9, stepsize=100000, display=20)
#: Caffe approximation of the timm RMSProp recipe (docs/spec.md §9.4): lr x0.981 every epoch
#: (5005 iterations of batch 256), 900 epochs.
_EPOCH_256 = 5005
RMSPROP_PT = Schedule("RMSProp", 0.0195, "step", 3e-5, 900 * _EPOCH_256, test_iter=1000, test_interval=_EPOCH_256,
                      snapshot=_EPOCH_256, rms_decay=0.9, delta=0.001, gamma=0.981, stepsize=_EPOCH_256)
#: The demo row: S300-A MNIST Nesterov solver shortened for a 2-core CPU (tuned by measurement:
#: 600 iterations gave 99.33 % and 900 gave 99.43 %; the paper's lr 0.01 held constant reaches
#: 99.08 % only after 1800 iterations, docs/spec.md §5.1, §7 and §A.6).
DEMO_MNIST = Schedule("Nesterov", 0.05, "poly", 0.005, 600, test_iter=100, test_interval=200,
                      snapshot=600, momentum=0.9, power=1.0, display=50, random_seed=1,
                      test_initialization=False, solver_mode="CPU")

# --- data rows (docs/spec.md §4) -----------------------------------------------------------------------
D_C10_MEAN = DataSpec("cifar10", 100, 100, train_mirror=True)
D_C10_PAD = DataSpec("cifar10_zeropad", 100, 25, train_mirror=True)
D_C100_PAD = DataSpec("cifar100_zeropad", 50, 50, train_mirror=True, test_mirror=True)
D_MNIST = DataSpec("mnist_norm", 100, 100)
D_SVHN = DataSpec("svhn", 100, 16)
D_IMNET = DataSpec("imagenet", 128, 50, train_mirror=True)
#: PyTorch-family preprocessing in Caffe units: ImageNet mean (0.485, 0.456, 0.406) x 255 in BGR
#: order; one scale 1/(255 x 0.226) for the three stds (Caffe has a single scalar scale).
D_IMNET_PT = DataSpec("imagenet", 256, 50, train_mirror=True,
                      transform=Transform(crop_size=224, mean_value=(103.53, 116.28, 123.675), scale=0.017352))

_LMDB = "Data: LMDB from simplenet_caffe/data/layout.py (the authors used LEVELDB here; records are the same)."
_ZEROPAD = ("Data: per-channel standardised CIFAR, zero-padded 4 px to 40x40, random crop 32 + mirror in TRAIN, "
            "center crop in TEST (docs/spec.md §6.2).")
_NO_DUP_DROP = "Dropouts are named drop1..drop12; the authors' file reuses the name drop2_1 twice (no effect)."


def _pt(variant: str, top1: str, top5: str, wd: float) -> Experiment:
    name = "imagenet_" + variant[len("pt_"):]
    return Experiment(
        name, variant, D_IMNET_PT, replace(RMSPROP_PT, weight_decay=wd),
        f"{top1} top-1 / {top5} top-5", "PyTorch/timm result (SimpleNet_Pytorch README), not a Caffe run",
        notes=("A Caffe rebuild of the PyTorch ImageNet model: BatchNorm+Scale after every conv, global max pool, "
               "PyTorch strides (docs/spec.md §9.1-9.3).",
               "Caffe approximation of the timm recipe (docs/spec.md §9.4): RMSProp rho 0.9 eps 1e-3, lr 0.0195 x0.981 per "
               "epoch, batch 256; no momentum (Caffe's RMSProp has none), warmup, EMA, label smoothing or "
               "RandomResizedCrop, so expect less than the reported accuracy.",
               "Input: BGR 0-255 minus the ImageNet mean, times 1/(255*0.226); PyTorch weights are RGB and use "
               "per-channel std: flip conv1's input channels when converting.",
               "Pool names pool3/pool4_0/poolcp6 and bn_cccpN/scale_cccpN are this toolkit's (no released "
               "Caffe model exists for this family)."),
        net_name=f"SimpleNet_{variant}", top5=True)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    # ---- CIFAR-10, A5M with dropout (docs/spec.md §1.1, §4, §5) ----
    Experiment("cifar10_a5m_meanfile", "a5m_drop", D_C10_MEAN, ADADELTA_C10, "94.75",
               "best test acc, caffe_94.75.log @ 296,500",
               notes=("CIFAR-10 'no zero-pad' run: uint8 RGB LMDB minus the per-pixel mean image, random mirror in "
                      "TRAIN (the README's 'no augmentation/normalisation' footnote is inaccurate, docs/spec.md §11.2).",
                      _NO_DUP_DROP),
               net_name="CIFAR10_full"),
    Experiment("cifar10_a5m_zeropad", "a5m_drop", D_C10_PAD, replace(ADADELTA_C10, test_iter=400), "95.16",
               "best test acc, caffe_95.16.log @ 178,000 (deterministic test)",
               notes=(_ZEROPAD, _LMDB,
                      "Solver as logged: test 400 x batch 25 (the file says 100 x 100) and snapshot 500 (file: "
                      "5000), docs/spec.md §5.2.", _NO_DUP_DROP),
               net_name="CIFAR10_full", solver_aliases=("cifar10_solver",)),
    Experiment("cifar10_a5m_zeropad_mirrortest", "a5m_drop", replace(D_C10_PAD, test_mirror=True),
               replace(ADADELTA_C10, test_iter=400), "95.32", "best test acc, caffe_95.32.log @ 135,500 (random mirror at test time)",
               notes=(_ZEROPAD, "TEST data layer has mirror: true as in the authors' 95.32 file: Caffe then flips "
                      "test images at random, so test accuracy is stochastic (docs/spec.md §3.6).", _LMDB,
                      "Solver as logged: test 400 x batch 25 and snapshot 500, docs/spec.md §5.2.", _NO_DUP_DROP),
               net_name="CIFAR10_full"),
    # ---- CIFAR-100 (A5M 100-way head; docs/spec.md §4, §5.2) ----
    Experiment("cifar100_a5m", "a5m_drop", D_C100_PAD, ADADELTA_C100, "73.42",
               "best test acc, caffe_zeropad_mirror_runtime.log @ 269,000 (random mirror at test time)",
               notes=("CIFAR-100 zero-pad, batch 50, TEST mirror: true as logged (docs/spec.md §4).", _LMDB,
                      "stepvalue list is non-monotonic exactly as logged (…320000, 270000): Caffe fires the last "
                      "two steps back to back after 320k, which no log reached.",
                      "max_iter 400000 [INFER: not printed in the spec's solver summary].", _NO_DUP_DROP),
               net_name="CIFAR100_full"),
    Experiment("cifar100_a5m_detest", "a5m_drop", replace(D_C100_PAD, test_mirror=False), ADADELTA_C100, "73.15",
               "`caffe test` of the 269k snapshot with test mirroring off (…_test_no_mirror_at_runtime_73.15.txt)",
               notes=("Deterministic-test twin of cifar100_a5m: use this net with `caffe test -weights "
                      "snapshots/cifar100_a5m/cifar100_a5m_iter_269000.caffemodel -iterations 200`.",
                      _LMDB, _NO_DUP_DROP),
               net_name="CIFAR100_full"),
    Experiment("cifar100_misc", "c100_misc", DataSpec("cifar100_zeropad", 50, 50, train_mirror=True,
                                                      test_mirror=True, label="label_fine"),
               replace(ADADELTA_C100, stepvalue=(18000, 54000, 195000)), "74.86",
               "best test acc, caffe_resumed3_74.86.log @ 203,000 (random mirror at test; 74.51 deterministic @200k)",
               notes=("C100-MISC (~20M params, docs/spec.md §2.5), the net of caffe_resumed2/3 (dropout 0.5 after cccp4 and "
                      "fc_conv; the first two sessions ran without dropout).",
                      "Steps are the realised lr timeline of the four sessions (0.1 -> 0.01 @18k -> 1e-3 @54k -> 1e-4 "
                      "@195k); the authors edited stepvalue between resumes (docs/spec.md §5.2).",
                      "BN/Scale names on cccp4-6 (bn_cccpN/scale_cccpN) are this toolkit's.", _LMDB),
               net_name="CIFAR100_misc"),
    # ---- MNIST, A5M ----
    Experiment("mnist_a5m_nodrop", "a5m_nodrop", D_MNIST, ADADELTA_MNIST, "99.69",
               "best test acc, caffe_99.69.log @ 6,000 (from scratch)",
               notes=("MNIST standardised with one global mean/std (the authors' *_lmdb_norm2, docs/spec.md §6.4).",
                      "First step of the 99.75 fine-tuning chain (docs/spec.md §11.8b): then mnist_a5m_nodrop_ft_poly, "
                      "then mnist_a5m_nodrop_ft_fixed.", "No accuracy_training layer, as in the MNIST NoDropout copy."),
               accuracy_training=False, net_name="SimpleNet_NoDropout"),
    Experiment("mnist_a5m_nodrop_ft_poly", "a5m_nodrop", D_MNIST,
               Schedule("SGD", 0.01983656, "poly", 1e-4, 800000, test_iter=100, test_interval=600, snapshot=600,
                        momentum=0.55, power=1.0),
               "99.74", "best test acc, caffe_99.74.log @ 24,000",
               notes=("Fine-tune step 2 (docs/spec.md §5.2): the authors' solver had no type, so Caffe ran SGD; written "
                      "explicitly here.  Starts from the 99.69 run's iteration-6000 snapshot.",
                      "test_interval/snapshot 600 [INFER from the log's test iterations]."),
               net_from="mnist_a5m_nodrop",
               weights="snapshots/mnist_a5m_nodrop/mnist_a5m_nodrop_iter_6000.caffemodel"),
    Experiment("mnist_a5m_nodrop_ft_fixed", "a5m_nodrop", D_MNIST,
               Schedule("SGD", 0.0192415, "fixed", 0.0, 800000, test_iter=100, test_interval=600, snapshot=600,
                        momentum=0.9),
               "99.75", "best test acc, caffe_99.75.log @ 6,000",
               notes=("Fine-tune step 3 (docs/spec.md §3.8, §5.2): the '99.75 resumed' file has no type (so SGD), "
                      "momentum2 0.999 (ignored by SGD, dropped here) and no weight_decay (0).",
                      "Start weights are ambiguous (docs/spec.md §5.2): the log's iteration-0 test equals the best of the "
                      "99.74 run, so this starts from its iteration-24000 snapshot [INFER]."),
               net_from="mnist_a5m_nodrop",
               weights="snapshots/mnist_a5m_nodrop_ft_poly/mnist_a5m_nodrop_ft_poly_iter_24000.caffemodel"),
    Experiment("mnist_a5m_fx2", "a5m_fx2", D_MNIST, ADADELTA_MNIST, "99.75",
               "best test acc, from_scratch_99.75.log @ 16,800",
               notes=("SlimNet_FX2_5M (docs/spec.md §1.3): all 12 dropouts despite the folder name 'NoDrpOut'; cccp4/cccp5 "
                      "are 2x2 convs.  BN/Scale in place here (the file used separate tops; same function).",
                      _NO_DUP_DROP),
               net_name="SlimNet_FX2_5M"),
    # ---- SVHN ----
    Experiment("svhn_a5m", "a5m_drop", D_SVHN, ADADELTA_SVHN, "98.21",
               "best test acc, caffe_98.21.log @ 279,000",
               notes=("SVHN train+extra (604,388) / full test (26,032), raw RGB pixels x 1/255, no mean, no crop, "
                      "no mirror; test 1627 x 16 (docs/spec.md §4, §6.5).", _LMDB, _NO_DUP_DROP),
               net_name="SVHN_full"),
    Experiment("svhn_s310b", "s310b", D_SVHN, ADADELTA_SVHN, "97.57",
               "best test acc, caffe_97.57.log @ 102,000 (README Table 6 says 97.63, docs/spec.md §11.5)",
               notes=("S310-B: the SVHN slim caffemodel decodes to this net (docs/spec.md §2.1).", _LMDB),
               net_name="SVHN_slim_310K"),
    # ---- slim nets ----
    Experiment("cifar10_s310b", "s310b", DataSpec("cifar10_zeropad", 100, 50, train_mirror=True),
               NESTEROV_C10_SLIM, "—",
               "no run of S310-B on CIFAR-10 exists; the README's 310K 91.98 used S300-A (docs/spec.md §11.4)",
               notes=("S310-B = Models/Slim_version_310KParams (no data layers or solver in the repo): data and "
                      "solver are those of the CIFAR-10 slim run (cifar10_s300a) [INFER].", _ZEROPAD, _LMDB),
               net_name="CIFAR10_slim_310K"),
    Experiment("cifar10_s300a", "s300a", DataSpec("cifar10_zeropad", 100, 50, train_mirror=True),
               NESTEROV_C10_SLIM, "91.98", "best test acc, slim_310k_91.98.log @ 72,000",
               notes=("S300-A, the net embedded in the 91.98 log (no prototxt at HEAD, docs/spec.md §2.2).",
                      "Solver as logged (docs/spec.md §5.2): Nesterov 0.01, wd 0.0052, test 200 x 50 every 1000, no seed.",
                      _ZEROPAD, _LMDB),
               net_name="CIFAR10_full"),
    Experiment("cifar10_s460", "s460", DataSpec("cifar10_zeropad", 100, 100, train_mirror=True),
               NESTEROV_C10_S460, "92.33", "best test acc, caffe_92.33.log @ 69,000",
               notes=("S460 (docs/spec.md §2.3); BN/Scale/ReLU in place here (the file used separate tops; same function).",
                      "Solver as logged: Nesterov 0.02, wd 0.0005, max_iter 154000, test 100 x 100 every 500; "
                      "snapshot 10000 [INFER].", _ZEROPAD, _LMDB),
               net_name="CIFAR10_slim_460K"),
    Experiment("mnist_s300a", "s300a", D_MNIST, NESTEROV_MNIST_SLIM, "99.72",
               "best test acc, caffe_slim310k_99.72.log @ 36,600",
               notes=("S300-A: the net in the 99.72 log and in the released MNIST slim caffemodel; the prototxt "
                      "stored beside them is S310-B (docs/spec.md §2.2, §11.4).",),
               net_name="SlimNet_FX_310"),
    Experiment("mnist_s310b", "s310b", D_MNIST, NESTEROV_MNIST_SLIM, "—",
               "no run: the MNIST slim prototxt is S310-B, but the 99.72 log ran S300-A (docs/spec.md §11.4)",
               notes=("S310-B as in MNIST/Slim_Version_310KParam_99.72 (prototxt), with that folder's Nesterov "
                      "solver.",),
               net_name="SlimNet_310K"),
    # ---- ImageNet, Caffe nets at 227 ----
    Experiment("imagenet_slim", "imnet_slim", D_IMNET, ADADELTA_IMNET_SLIM, "37.38 top-1 / 63.42 top-5",
               "SIMPNET_300KParam_100Kiter.log: top-1 @ 79,000, best top-5 @ 82,000",
               notes=("IMNET-SLIM (docs/spec.md §2.5): S310-B widths, conv1 7x7/s3/p1, global max pool.",
                      "Logged on 2 GPUs x batch 128: run `caffe train -gpu 0,1` for the same effective batch 256.",
                      "accuracy_top5 layer name is this toolkit's."),
               net_name="ImageNet_SlimNet_300K_NoDrp", top5=True),
    Experiment("imagenet_6p4m", "imnet_6p4m", replace(D_IMNET, train_batch=64),
               SGD_IMNET_6P4M, "—",
               "no log; history mentions 58.6 % @300k / 59.08 % @333k for the Feb-2017 run (docs/spec.md §11.10)",
               notes=("IMNET-6.4M (docs/spec.md §2.5), the net behind the README FLOPs row (1.9G MACC, 6.4M params at 227).",
                      "Solver from the [HIST] file (docs/spec.md §5.2); train batch 64 [INFER: not recorded]."),
               net_name="SIMPNET_ImageNet", top5=True),
    # ---- ImageNet, PyTorch family as Caffe nets at 224 (docs/spec.md §9.3) ----
    _pt("pt_5m_m1", "71.548", "89.94", 3e-5),
    _pt("pt_5m_m2", "72.03", "90.324", 3e-5),
    _pt("pt_9m_m1", "73.792", "91.486", 3e-5),
    _pt("pt_9m_m2", "74.23", "91.748", 3e-5),
    _pt("pt_small_m1_05", "61.122", "82.988", 1e-5),
    _pt("pt_small_m2_05", "61.67", "83.488", 1e-5),
    _pt("pt_small_m1_075", "67.784", "87.718", 1e-5),
    _pt("pt_small_m2_075", "68.506", "88.15", 1e-5),
    # ---- the 10-minute CPU demo ----
    Experiment("mnist_s300a_demo", "s300a", D_MNIST, DEMO_MNIST, "—",
               "demo schedule; the full S300-A MNIST run reached 99.72",
               notes=("SHORTENED schedule derived from the paper's S300-A MNIST solver (Nesterov, momentum 0.9, "
                      "wd 0.005, batch 100, docs/spec.md §5): same net, data and solver type, but 600 iterations "
                      "(1 epoch) with base_lr 0.05 decayed linearly to 0 (poly, power 1) instead of lr 0.01 "
                      "and steps at 32k/48k/54k/74k of 234k iterations; CPU mode, no test at iteration 0; "
                      "fits about 10 minutes of a 2-core CPU.  Not the paper's schedule (that is "
                      "solvers/mnist_s300a_solver.prototxt).",),
               net_name="SlimNet_FX_310"),
    Experiment("fashion_mnist_s300a_demo", "s300a", replace(D_MNIST, layout="fashion_mnist_norm"), DEMO_MNIST, "—",
               "no paper number: the paper has no Fashion-MNIST experiment",
               notes=("The MNIST demo (mnist_s300a_demo) on Fashion-MNIST, prepared the same way "
                      "(data_prep/mnist.py --dataset fashion-mnist).",),
               net_name="SlimNet_FX_310"),
]}


def get(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name is a UserError naming the closest ones."""
    if name not in EXPERIMENTS:
        raise unknown("experiment", name, EXPERIMENTS, "tools/reproduce.py --list lists them")
    return EXPERIMENTS[name]
