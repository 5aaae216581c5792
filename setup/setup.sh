#!/usr/bin/env bash
# Build real BVLC Caffe (CPU by default) and the project's venv.
#
# Steps: apt packages -> .venv (Python 3.11) -> Caffe source (Debian bullseye source package,
# sha256-checked) -> project fixes (setup/patches) -> CMake build -> install into a cache
# outside the repo keyed by source hash + patches + flags -> link into .venv.
#
# Environment (all optional):
#   CUDA=1                 build the GPU variant (sm_90 by default, CUDA_ARCH_BIN to change)
#   BLAS=mkl|openmp|open   BLAS Caffe links (default mkl, the fastest measured: docs/speed.md; openmp with CUDA=1);
#                          mkl: Intel MKL from PyPI's wheels (pinned by sha256, unpacked into the cache), GNU OpenMP
#                          threading layer, + the speed patch (setup/patches/series, Caffe's conv image loop and
#                          element-wise layers on OpenMP threads; docs/speed.md);
#                          openmp: Debian OpenBLAS's OpenMP build + the speed patch;
#                          open: Debian OpenBLAS (pthreads), stock Caffe code
#   DNN=onednn-blocked|onednn|none  oneDNN engine for Caffe's CPU convolutions (the onednn patches of
#                          setup/patches/series; default onednn-blocked with BLAS=mkl|openmp, none with BLAS=open or
#                          CUDA=1): PyPI's pinned oneDNN GNU OpenMP build, unpacked into the cache; engine: CAFFE in
#                          a prototxt keeps stock code; onednn-blocked adds the blocked patches (activations stay in
#                          oneDNN's layout between layers; docs/speed.md "Blocked layout between layers"), onednn
#                          leaves them out (NCHW between layers)
#   CUDA_TOOLKIT_ROOT_DIR  (CUDA=1) toolkit with nvcc, cuBLAS, cuRAND, cuDNN 9, NCCL; default: nvcc's
#                          toolkit joined with PyPI's nvidia-cublas / -curand / -cudnn-cu13 / -nccl-cu13
#                          wheels (pinned) in the cache
#   MINIMAL=1              only what the caffe tool needs: no pycaffe, OpenCV or LevelDB (the GPU
#                          bundle's build: `make gpu-bundle`, docs/gpu.md)
#   CAFFE_ROOT=DIR         use an existing Caffe install (DIR/bin/caffe, DIR/python) and build nothing
#   CAFFE_CACHE=DIR        where built Caffes live (default ${XDG_CACHE_HOME:-~/.cache}/simplenet-caffe)
#   CAFFE_APT_MIRROR=URL   Debian mirror for the source package (default: read from this machine's apt config)
#   CAFFE_SOURCE_TARBALL=F use this caffe_1.0.0+git20180821.99bd997.orig.tar.gz instead of fetching it
#   PYTHON=python3.11      interpreter for the venv
#   SKIP_APT=1             do not install Debian packages (you installed them yourself)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${VENV:-$ROOT/.venv}

# ---------------------------------------------------------------- done already?
# A finished setup writes $VENV/.setup-stamp: a hash of what it read (this script, pyproject.toml,
# the patches) and the options it resolved. `setup.sh --if-needed` (make test, make demo, ...)
# exits at once when that still holds and the linked Caffe is there; otherwise it runs the whole
# setup, with the recorded options as defaults for those not given now.
STAMP=$VENV/.setup-stamp
STAMP_OPTS=(CUDA BLAS DNN MINIMAL CAFFE_ROOT)
setup_inputs_hash() {
  { cat setup/setup.sh pyproject.toml; find setup/patches -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16
}
if [ "${1:-}" = --if-needed ] && [ -f "$STAMP" ]; then
  declare -A REC=()
  while IFS='=' read -r k v; do REC[$k]=$v; done < "$STAMP"
  fresh=1
  [ "${REC[inputs]:-}" = "$(setup_inputs_hash)" ] || fresh=0
  for o in "${STAMP_OPTS[@]}"; do
    [ -z "${!o:-}" ] || [ "${!o}" = "${REC[$o]:-}" ] || fresh=0
    [ -n "${!o:-}" ] || [ -z "${REC[$o]:-}" ] || export "$o=${REC[$o]}"
  done
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/caffe" ] && [ -d "${REC[prefix]:-/nonexistent}/bin" ] || fresh=0
  if [ "$fresh" = 1 ]; then exit 0; fi
  echo "setup: $VENV is missing or out of date: running setup/setup.sh"
fi
rm -f "$STAMP"
INPUTS_HASH=$(setup_inputs_hash)   # as read now: a file changed during setup makes the next check rerun it
write_stamp() {  # $1 = the linked Caffe prefix
  { echo "inputs=$INPUTS_HASH"; for o in "${STAMP_OPTS[@]}"; do echo "$o=${!o:-}"; done; echo "prefix=$1"; } > "$STAMP.tmp"
  mv "$STAMP.tmp" "$STAMP"
}
CUDA=${CUDA:-0}
# CPU builds default to MKL (fastest measured); GPU builds to OpenMP OpenBLAS, the compile-checked
# GPU combination (the CPU BLAS hardly matters when the GPU trains).
BLAS=${BLAS:-$([ "$CUDA" = 1 ] && echo openmp || echo mkl)}
# oneDNN layers, blocked layout between them, for CPU builds on the speed patch (mkl, openmp):
# faster and smaller than onednn on all three benchmark nets (docs/speed.md); none for the stock and GPU builds.
DNN=${DNN:-$([ "$CUDA" = 1 ] || [ "$BLAS" = open ] && echo none || echo onednn-blocked)}
CUDA_ARCH_BIN=${CUDA_ARCH_BIN:-90}
CAFFE_CACHE=${CAFFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/simplenet-caffe}
SRC_VERSION=1.0.0+git20180821.99bd997
SRC_DEBVER=$SRC_VERSION-8
SRC_TARBALL=caffe_${SRC_VERSION}.orig.tar.gz
SRC_SHA256=e0eb3f06794f7402c77b7dec8e8480273ee1a1bb192e9122b621a69d4147ad0c

STEP="start"
T0=$(date +%s)
say()  { printf '[setup %3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die()  { printf 'setup: error in step "%s": %s\n' "$STEP" "$1" >&2; [ -n "${2:-}" ] && printf 'setup: what to do: %s\n' "$2" >&2; exit 1; }
trap 'rc=$?; [ $rc -ne 0 ] && printf "setup: step \"%s\" failed (exit %s); see the messages above.\n" "$STEP" "$rc" >&2' EXIT

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

# ---------------------------------------------------------------- apt packages
APT_PACKAGES=(build-essential cmake pkg-config libboost-system-dev libboost-thread-dev
  libboost-filesystem-dev libboost-python-dev libprotobuf-dev protobuf-compiler
  libgoogle-glog-dev libgflags-dev libhdf5-dev liblmdb-dev libleveldb-dev libsnappy-dev
  libopenblas-dev libopencv-dev python3-dev python3-venv dataset-fashion-mnist graphviz
  ca-certificates debian-archive-keyring
  slurmctld slurmd slurm-client munge)   # the last four: tests/test_sweep.py's single-node Slurm
[ "$BLAS" = openmp ] && APT_PACKAGES+=(libopenblas0-openmp)
STEP="apt packages"
if [ "${SKIP_APT:-0}" != 1 ]; then
  command -v dpkg-query >/dev/null 2>&1 || die "this is not a Debian/Ubuntu system (no dpkg-query)" \
    "install the packages listed in setup/setup.sh yourself and rerun with SKIP_APT=1"
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ] || die "need root or sudo to install: ${missing[*]}" \
      "run as root, install sudo, or install them yourself and rerun with SKIP_APT=1"
    say "installing ${#missing[@]} Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq || die "apt-get update failed" "check the network and /etc/apt/sources.list*"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >/dev/null || die "apt-get install failed" "run: apt-get install ${missing[*]}"
  else
    say "Debian packages present"
  fi
fi

# ---------------------------------------------------------------- venv
STEP="python venv"
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then PYTHON=$c; break; fi
  done
fi
[ -n "$PYTHON" ] || die "no Python 3.11 found" "install python3.11 (Debian 12: apt-get install python3 python3-venv python3-dev) or set PYTHON="
if [ ! -x "$VENV/bin/python" ]; then
  say "creating .venv with $PYTHON"
  "$PYTHON" -m venv "$VENV" || die "python -m venv failed" "apt-get install python3-venv"
fi
VPY=$VENV/bin/python
REQ_HASH=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.simplenet-req" 2>/dev/null)" != "$REQ_HASH" ]; then
  say "installing Python dependencies (pinned in pyproject.toml)"
  "$VPY" -m pip install -q --upgrade pip >/dev/null || die "pip upgrade failed" "check access to PyPI"
  "$VPY" -m pip install -q -e ".[test]" || die "pip install -e .[test] failed" "check access to PyPI and the pins in pyproject.toml"
  echo "$REQ_HASH" > "$VENV/.simplenet-req"
else
  say "Python dependencies up to date"
fi

# ---------------------------------------------------------------- caffe
link_caffe() {  # $1 = install prefix
  local prefix=$1 site
  site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$prefix/python" > "$site/simplenet_pycaffe.pth"
  for b in "$prefix"/bin/*; do
    [ -x "$b" ] || continue
    local name; name=$(basename "$b"); name=${name%.bin}
    # A wrapper, not a symlink: Python layers need pycaffe on PYTHONPATH. libcaffe is found through
    # the binary's RUNPATH (no LD_LIBRARY_PATH, which would override another build's RUNPATH).
    cat > "$VENV/bin/$name" <<WRAP
#!/bin/sh
# OpenMP threads spin ~10,000 rounds (tens of microseconds) before they sleep (docs/speed.md)
[ -n "\${OMP_WAIT_POLICY:-}\${GOMP_SPINCOUNT:-}" ] || export GOMP_SPINCOUNT=10000
export PYTHONPATH="$prefix/python\${PYTHONPATH:+:\$PYTHONPATH}"
exec "$b" "\$@"
WRAP
    chmod +x "$VENV/bin/$name"
  done
  echo "$prefix" > "$VENV/.caffe-prefix"
}

if [ -n "${CAFFE_ROOT:-}" ]; then
  STEP="use existing Caffe"
  [ -x "$CAFFE_ROOT/bin/caffe" ] || [ -x "$CAFFE_ROOT/bin/caffe.bin" ] || die "CAFFE_ROOT=$CAFFE_ROOT has no bin/caffe" "point CAFFE_ROOT at a Caffe install prefix"
  # pycaffe either in CAFFE_ROOT/python (a CMake install) or importable already (a conda env)
  PYTHONPATH="$CAFFE_ROOT/python${PYTHONPATH:+:$PYTHONPATH}" GLOG_minloglevel=2 "$VPY" -c "import caffe" 2>/dev/null \
    || die "pycaffe not importable from CAFFE_ROOT=$CAFFE_ROOT" "build Caffe with -DBUILD_python=ON, or install pycaffe into this Python"
  link_caffe "$CAFFE_ROOT"
  write_stamp "$CAFFE_ROOT"
  say "using Caffe at $CAFFE_ROOT"
  exit 0
fi

# sha256 of every wheel setup fetches (PyPI's x86_64 Linux wheels of the pins below), checked by
# pip's hash-checking mode after the download: a file that differs is refused, never unpacked.
declare -A WHEEL_SHA256=(
  [mkl==2026.2.0]=eaab1875ce9f47ab3c66d5632cef06baf768c05781f2f28847bdbc4343500ed7
  [mkl-include==2026.2.0]=889cc72057a1671fee1e9a8beb2fc4e0d222ba78c08b6d69584dae03fbec4822
  [onednn-cpu-gomp==2023.2.0]=2f22a54d6a890ed14bfa185d42a4be65d8b5b1df85dc1f0f3a9abe31620416fb
  [onednn-devel-cpu-gomp==2023.2.0]=9763c69e8c907e119056bd52ad918ca84ac9ba939d130a99dfa95ccca3e5e284
  [nvidia-cublas==13.0.2.14]=0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c
  [nvidia-curand==10.4.0.35]=1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc
  [nvidia-cudnn-cu13==9.27.0.42]=9677e76f21862eb5da7ee5ed69d544738b2d8b5c3ce7e5ec125c5592e6cdbdc8
  [nvidia-nccl-cu13==2.32.3]=1459723080ac889d73a26edfa3e04383a7928ab31ac8f0ec43b3ea9548b04ff3
)

# Download pinned wheels (no dependencies) into $1, each checked against WHEEL_SHA256.
pip_download_pinned() {
  local dl=$1 req spec; shift
  req=$(mktemp)
  for spec in "$@"; do
    [ -n "${WHEEL_SHA256[$spec]:-}" ] || { rm -f "$req"; die "no sha256 pinned for $spec" "add it to WHEEL_SHA256 in setup/setup.sh"; }
    printf '%s --hash=sha256:%s\n' "$spec" "${WHEEL_SHA256[$spec]}" >> "$req"
  done
  "$VPY" -m pip download -q --no-deps --only-binary=:all: --require-hashes -d "$dl" -r "$req" >&2
  local rc=$?
  rm -f "$req"
  return $rc
}

# A CUDA toolkit folder for CMake: nvcc's toolkit (cudart, headers) plus cuBLAS, cuRAND, cuDNN and
# NCCL, taken from the toolkit when it has them all, else from PyPI's wheels (pinned) in the venv.
CUDA_WHEELS=(nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cudnn-cu13==9.27.0.42 nvidia-nccl-cu13==2.32.3)
assemble_cuda_toolkit() {
  STEP="CUDA toolkit"
  local nvcc home site dir f cand
  # The toolkit is the folder with bin/nvcc and include/cuda_runtime.h; an nvcc on PATH may be a
  # wrapper script elsewhere (e.g. /usr/local/bin/nvcc exec-ing /usr/local/cuda-13.0/bin/nvcc).
  nvcc=$(command -v nvcc || true)
  home=""
  for cand in "${CUDA_HOME:-}" "${CUDA_PATH:-}" "${nvcc:+$(dirname "$(readlink -f "$nvcc")")/..}" \
      /usr/local/cuda $(ls -d /usr/local/cuda-* 2>/dev/null | sort -V -r); do
    if [ -n "$cand" ] && [ -x "$cand/bin/nvcc" ] && [ -f "$cand/include/cuda_runtime.h" ]; then
      home=$(cd "$cand" && pwd); break
    fi
  done
  [ -n "$home" ] || die "CUDA=1 but no CUDA toolkit found (bin/nvcc + include/cuda_runtime.h)" \
    "install the CUDA toolkit, or set CUDA_HOME or CUDA_TOOLKIT_ROOT_DIR"
  if ls "$home"/lib64/lib{cublas,curand,cudnn,nccl}.so >/dev/null 2>&1 && [ -f "$home/include/cudnn.h" ] \
      && [ -f "$home/include/nccl.h" ]; then
    echo "$home"; return
  fi
  say "installing ${CUDA_WHEELS[*]} into the venv (about 1 GB; sha256-checked)" >&2
  local dl
  dl=$(mktemp -d)
  { pip_download_pinned "$dl" "${CUDA_WHEELS[@]}" && "$VPY" -m pip install -q "$dl"/*.whl >&2; } \
    || { rm -rf "$dl"; die "pip download/install of ${CUDA_WHEELS[*]} failed (or a sha256 did not match)" \
      "set CUDA_TOOLKIT_ROOT_DIR to a toolkit with cuBLAS, cuRAND, cuDNN 9 and NCCL"; }
  rm -rf "$dl"
  site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # The folder links to this venv's wheels, so it is keyed by the venv too.
  dir=$CAFFE_CACHE/cuda-toolkit-$( { echo "$home"; echo "$site"; ls "$site"/nvidia; } | sha256sum | cut -c1-12)
  if [ ! -d "$dir" ]; then
    rm -rf "$dir.part"; mkdir -p "$dir.part/lib64" "$dir.part/include"
    ln -s "$home/bin" "$dir.part/bin"; [ -d "$home/nvvm" ] && ln -s "$home/nvvm" "$dir.part/nvvm"
    for f in "$home"/lib64/* "$home"/include/*; do ln -sf "$f" "$dir.part/${f#"$home"/}"; done
    for f in $(find "$site/nvidia" \( -name 'libcublas*.so*' -o -name 'libcurand*.so*' -o -name 'libcudnn*.so*' \
        -o -name 'libnccl.so*' \)); do
      ln -sf "$f" "$dir.part/lib64/"; ln -sf "$f" "$dir.part/lib64/$(basename "$f" | sed -E 's/\.so\..*/.so/')"
    done
    for f in $(find "$site/nvidia" -path '*include*' -type f \( -name 'cublas*.h' -o -name 'curand*.h' \
        -o -name 'cudnn*.h' -o -name 'nccl*.h' \)); do
      ln -sf "$f" "$dir.part/include/"
    done
    mv "$dir.part" "$dir"
  fi
  echo "$dir"
}

# Unpack the lib/ and include/ of PyPI wheels (downloaded, not installed: no venv owns them) into
# a cache folder. $1 = what (for messages), $2 = folder, $3 = approximate download size, rest = pins.
# The caller checks the folder and then marks it complete; an interrupted run leaves only *.part.
fetch_wheels() {
  local what=$1 dir=$2 size=$3 dl; shift 3
  say "fetching $* from PyPI (about $size) into $dir" >&2
  dl=$(mktemp -d "$CAFFE_CACHE/$what-download.XXXX")
  pip_download_pinned "$dl" "$@" \
    || { rm -rf "$dl"; die "pip download $* failed (or a sha256 did not match)" "check access to PyPI, or choose another BLAS= / DNN="; }
  rm -rf "$dir.part"
  "$VPY" - "$dl" "$dir.part" <<'PY' || { rm -rf "$dl" "$dir.part"; die "unpacking the $what wheels failed" "choose another BLAS= / DNN="; }
import pathlib, shutil, sys, zipfile
src, dst = map(pathlib.Path, sys.argv[1:])
for whl in sorted(src.glob("*.whl")):
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            parts = info.filename.split("/")  # NAME.data/data/{lib,include}/...
            if len(parts) > 3 and parts[0].endswith(".data") and parts[1] == "data" and parts[2] in ("lib", "include") \
                    and not info.is_dir():
                # zip-slip: every entry stays inside the target (no "..", no absolute or drive path)
                if any(p in ("", ".", "..") or "\\" in p or ":" in p for p in parts[2:]):
                    sys.exit(f"{whl.name}: entry {info.filename!r} would be written outside {dst}; refusing the wheel")
                target = dst.joinpath(*parts[2:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as fin, open(target, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
PY
  rm -rf "$dl"
}

# An MKL root for Caffe's FindMKL, kept in the cache and owned by no venv: the lib/ and include/
# of PyPI's pinned mkl / mkl-include wheels (their intel-openmp and tbb dependencies are not
# needed with the GNU threading layer), plus the unversioned .so names the wheels lack.
# libmkl_core loads its CPU kernels (libmkl_avx512.so.3, ...) from its own folder.
MKL_WHEELS=(mkl==2026.2.0 mkl-include==2026.2.0)
assemble_mkl() {
  STEP="MKL"
  local dir f
  mkdir -p "$CAFFE_CACHE" || die "cannot create $CAFFE_CACHE" "set CAFFE_CACHE to a writable folder"
  dir=$CAFFE_CACHE/mkl-$(printf '%s\n' "${MKL_WHEELS[@]}" | sha256sum | cut -c1-12)
  if [ ! -f "$dir/.complete" ]; then
    fetch_wheels mkl "$dir" "220 MB" "${MKL_WHEELS[@]}"
    [ -f "$dir.part/include/mkl.h" ] && ls "$dir.part"/lib/libmkl_core.so.* >/dev/null 2>&1 \
      || { rm -rf "$dir.part"; die "the MKL wheels did not hold include/mkl.h and lib/libmkl_core.so.*" "use BLAS=openmp"; }
    for f in "$dir.part"/lib/libmkl_*.so.*; do
      ln -sf "$(basename "$f")" "$dir.part/lib/$(basename "$f" | sed -E 's/\.so\..*/.so/')"
    done
    touch "$dir.part/.complete"
    rm -rf "$dir"; mv "$dir.part" "$dir"
  fi
  echo "$dir"
}

# A oneDNN root (include/oneapi/dnnl, lib/libdnnl.so) in the cache, from PyPI's pinned GNU OpenMP
# build: it shares libgomp with MKL's GNU threading layer and Caffe's OpenMP loops (docs/speed.md
# says why not Debian's libdnnl 2.6 or PyPI's SYCL/TBB onednn 2026). The wheel stores libdnnl.so,
# .so.3 and .so.3.2 as three copies; the soname's is kept and libdnnl.so links to it.
ONEDNN_WHEELS=(onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0)
assemble_onednn() {
  STEP="oneDNN"
  local dir
  mkdir -p "$CAFFE_CACHE" || die "cannot create $CAFFE_CACHE" "set CAFFE_CACHE to a writable folder"
  dir=$CAFFE_CACHE/onednn-$(printf '%s\n' "${ONEDNN_WHEELS[@]}" | sha256sum | cut -c1-12)
  if [ ! -f "$dir/.complete" ]; then
    fetch_wheels onednn "$dir" "40 MB" "${ONEDNN_WHEELS[@]}"
    [ -f "$dir.part/include/oneapi/dnnl/dnnl.hpp" ] && [ -f "$dir.part/lib/libdnnl.so.3" ] \
      || { rm -rf "$dir.part"; die "the oneDNN wheels did not hold include/oneapi/dnnl/dnnl.hpp and lib/libdnnl.so.3" "use DNN=none"; }
    rm -f "$dir.part"/lib/libdnnl.so "$dir.part"/lib/libdnnl.so.3.*
    ln -s libdnnl.so.3 "$dir.part/lib/libdnnl.so"
    touch "$dir.part/.complete"
    rm -rf "$dir"; mv "$dir.part" "$dir"
  fi
  echo "$dir"
}

STEP="cache key"
PY_BASE=$("$VPY" -c 'import sys; print(sys.base_prefix)')
PY_INC=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
PY_LIB=$("$VPY" -c 'import sysconfig,os; print(os.path.join(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")))')
NUMPY_MAJOR=$("$VPY" -c 'import numpy; print(numpy.__version__.split(".")[0])')
CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -Dpython_version=3 -DBUILD_python=ON -DBUILD_python_layer=ON
  -DUSE_OPENCV=ON -DUSE_LEVELDB=ON -DUSE_LMDB=ON -DBUILD_docs=OFF -DBUILD_matlab=OFF
)
PATCH_TAGS=()   # which of setup/patches/series apply (speed, onednn, blocked, cuda); the plain ones always do
case "$BLAS" in
  open) CMAKE_FLAGS+=(-DBLAS=Open) ;;
  openmp)
    # Link the OpenMP build of OpenBLAS by full path (RPATH follows), leaving the system's
    # libopenblas alternative alone; inside Caffe's parallel loops it runs single-threaded.
    OMP_BLAS=/usr/lib/$(gcc -print-multiarch)/openblas-openmp/libopenblas.so.0
    [ -f "$OMP_BLAS" ] || die "BLAS=openmp needs $OMP_BLAS" "apt-get install libopenblas0-openmp"
    CMAKE_FLAGS+=(-DBLAS=Open -DUSE_OPENMP=ON "-DOpenBLAS_LIB=$OMP_BLAS")
    PATCH_TAGS+=(speed) ;;
  mkl)
    # GNU threading layer (not mkl_rt's default Intel OpenMP): MKL shares libgomp with Caffe's
    # OpenMP loops and runs single-threaded inside them. FindMKL's single-library slot is
    # given the three layered libraries (it skips find_library for a preset cache variable);
    # intel_lp64 is the C interface for GCC too (the wheels have no gf_lp64).
    MKL_DIR=$(assemble_mkl)
    CMAKE_FLAGS+=(-DBLAS=MKL -DUSE_OPENMP=ON "-DMKL_ROOT=$MKL_DIR" "-DMKL_INCLUDE_DIR=$MKL_DIR/include"
      -DMKL_USE_SINGLE_DYNAMIC_LIBRARY=ON
      "-DMKL_RT_LIBRARY=$MKL_DIR/lib/libmkl_intel_lp64.so;$MKL_DIR/lib/libmkl_gnu_thread.so;$MKL_DIR/lib/libmkl_core.so")
    PATCH_TAGS+=(speed) ;;
  *) die "unknown BLAS=$BLAS" "use BLAS=mkl, BLAS=openmp or BLAS=open" ;;
esac
case "$DNN" in
  none) ;;
  onednn|onednn-blocked)
    [ "$BLAS" != open ] || die "DNN=onednn builds on the speed patch: use it with BLAS=mkl or BLAS=openmp" "BLAS=mkl DNN=onednn, or DNN=none for the stock build"
    ONEDNN_DIR=$(assemble_onednn)
    CMAKE_FLAGS+=("-DONEDNN_ROOT=$ONEDNN_DIR")
    PATCH_TAGS+=(onednn)
    [ "$DNN" = onednn ] || PATCH_TAGS+=(blocked) ;;
  *) die "unknown DNN=$DNN" "use DNN=onednn-blocked, DNN=onednn or DNN=none" ;;
esac
if [ "${MINIMAL:-0}" = 1 ]; then  # later -D settings override the defaults above
  CMAKE_FLAGS+=(-DBUILD_python=OFF -DBUILD_python_layer=OFF -DUSE_OPENCV=OFF -DUSE_LEVELDB=OFF)
fi
if [ "$CUDA" = 1 ]; then
  CMAKE_FLAGS+=(-DCPU_ONLY=OFF -DUSE_CUDNN=ON -DUSE_NCCL=ON -DCUDA_ARCH_NAME=Manual "-DCUDA_ARCH_BIN=$CUDA_ARCH_BIN" "-DCUDA_ARCH_PTX=$CUDA_ARCH_BIN")
  [ -n "${CUDA_TOOLKIT_ROOT_DIR:-}" ] || CUDA_TOOLKIT_ROOT_DIR=$(assemble_cuda_toolkit)
  # Caffe's FindNCCL searches only /usr and NCCL_DIR; cuDNN is found in the toolkit folder.
  CMAKE_FLAGS+=("-DCUDA_TOOLKIT_ROOT_DIR=$CUDA_TOOLKIT_ROOT_DIR" "-DNCCL_INCLUDE_DIR=$CUDA_TOOLKIT_ROOT_DIR/include"
    "-DNCCL_LIBRARIES=$CUDA_TOOLKIT_ROOT_DIR/lib64/libnccl.so")
  PATCH_TAGS+=(cuda)
else
  CMAKE_FLAGS+=(-DCPU_ONLY=ON)
fi
# The patches, in the order of setup/patches/series ("NAME [TAG]" lines, # comments).
PATCHES=()
while read -r name tag _; do
  case "$name" in ''|'#'*) continue ;; esac
  [ -f "setup/patches/$name" ] || die "setup/patches/series names a missing patch: $name"
  if [ -z "$tag" ] || [[ " ${PATCH_TAGS[*]} " == *" $tag "* ]]; then PATCHES+=("setup/patches/$name"); fi
done < setup/patches/series
# Bump INSTALL_LAYOUT when what setup puts into an install prefix changes.
INSTALL_LAYOUT=2
KEY=$( { echo "$SRC_SHA256 layout$INSTALL_LAYOUT"; cat "${PATCHES[@]}"; printf '%s\n' "${CMAKE_FLAGS[@]}"; echo "$PY_BASE numpy$NUMPY_MAJOR"; } | sha256sum | cut -c1-16)
VARIANT=$([ "$CUDA" = 1 ] && echo gpu || echo cpu)-$BLAS$([ "$DNN" = none ] || echo "-$DNN")$([ "${MINIMAL:-0}" = 1 ] && echo -minimal || true)
PREFIX=$CAFFE_CACHE/caffe-$VARIANT-$KEY

if [ -f "$PREFIX/.complete" ]; then
  say "Caffe build cached at $PREFIX (key $KEY): nothing to build"
  link_caffe "$PREFIX"
  write_stamp "$PREFIX"
  exit 0
fi

STEP="fetch Caffe source"
mkdir -p "$CAFFE_CACHE/src" || die "cannot create $CAFFE_CACHE" "set CAFFE_CACHE to a writable folder"
TARBALL=${CAFFE_SOURCE_TARBALL:-$CAFFE_CACHE/src/$SRC_TARBALL}
if [ ! -f "$TARBALL" ]; then
  MIRROR=${CAFFE_APT_MIRROR:-}
  if [ -z "$MIRROR" ]; then
    MIRROR=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  if [ -z "$MIRROR" ]; then
    MIRROR=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}' | head -n1 || true)
  fi
  [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt" "set CAFFE_APT_MIRROR=<a Debian mirror URL> or CAFFE_SOURCE_TARBALL=<path to $SRC_TARBALL>"
  APTDIR=$(mktemp -d)
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/dl"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bullseye main" > "$APTDIR/sources.list"
  o=(-oAPT::Sandbox::User=root -oDir::State::Lists="$APTDIR/lists" -oDir::Etc::SourceList="$APTDIR/sources.list" -oDir::Etc::SourceParts=/dev/null -qq)
  say "fetching Debian source package caffe=$SRC_DEBVER (mirror from apt config)"
  apt-get "${o[@]}" update || die "apt-get update with the private source list failed" "check the mirror ($MIRROR) or set CAFFE_APT_MIRROR / CAFFE_SOURCE_TARBALL"
  (cd "$APTDIR/dl" && apt-get "${o[@]}" source --download-only "caffe=$SRC_DEBVER" >/dev/null) \
    || die "apt-get source caffe=$SRC_DEBVER failed" "set CAFFE_SOURCE_TARBALL=<path to $SRC_TARBALL>"
  mv "$APTDIR/dl/$SRC_TARBALL" "$TARBALL.part" && mv "$TARBALL.part" "$TARBALL"
  rm -rf "$APTDIR"
fi
STEP="verify Caffe source"
got=$(sha256sum "$TARBALL" | cut -d' ' -f1)
if [ "$got" != "$SRC_SHA256" ]; then
  [ -z "${CAFFE_SOURCE_TARBALL:-}" ] && rm -f "$TARBALL"
  die "sha256 mismatch for $TARBALL: got $got, expected $SRC_SHA256" "delete the file and rerun; if it persists the mirror serves a different file"
fi

STEP="unpack and patch"
WORK=$(mktemp -d "$CAFFE_CACHE/build-$KEY.XXXX")
cleanup_work() { rm -rf "$WORK"; }
trap 'rc=$?; cleanup_work; [ $rc -ne 0 ] && printf "setup: step \"%s\" failed (exit %s); see the messages above. No cache entry was written.\n" "$STEP" "$rc" >&2' EXIT
SRC=$WORK/src
mkdir -p "$SRC"
tar -xzf "$TARBALL" -C "$SRC"  # the orig tarball has no top-level folder
for p in "${PATCHES[@]}"; do
  [ -f "$p" ] || continue
  patch -s -p1 -d "$SRC" < "$p" || die "patch $p does not apply" "the source is not the expected Caffe $SRC_VERSION"
done

STEP="cmake configure"
say "configuring Caffe ($VARIANT, key $KEY)"
# Configured for its final place (RPATHs point there), installed into a staging DESTDIR, then moved.
cmake -S "$SRC" -B "$WORK/build" "${CMAKE_FLAGS[@]}" -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DPYTHON_EXECUTABLE="$VPY" -DPYTHON_INCLUDE_DIR="$PY_INC" -DPYTHON_LIBRARY="$PY_LIB" \
  > "$WORK/cmake.log" 2>&1 || { tail -30 "$WORK/cmake.log" >&2; die "cmake failed" "see the output above; missing -dev packages are the usual cause"; }
if [ "$CUDA" = 1 ] && grep -q "CUDA is not detected" "$WORK/cmake.log"; then
  grep -i cuda "$WORK/cmake.log" | tail -10 >&2
  die "CUDA=1 but CMake did not find CUDA (it would build a CPU-only Caffe)" "set CUDA_TOOLKIT_ROOT_DIR to a toolkit with nvcc, cuBLAS and cuRAND"
fi
if [ "$CUDA" = 1 ] && ! grep -qE "cuDNN +: +Yes" "$WORK/cmake.log"; then
  grep -i cudnn "$WORK/cmake.log" | tail -5 >&2
  die "CUDA=1 but CMake did not find cuDNN (it would build without it)" "set CUDA_TOOLKIT_ROOT_DIR to a toolkit with cudnn.h and libcudnn.so"
fi
STEP="build"
say "building Caffe with $(nproc) jobs (about 3 minutes on 2 cores)"
make -C "$WORK/build" -j"$(nproc)" > "$WORK/build.log" 2>&1 || { grep -E 'error|Error' "$WORK/build.log" | head -30 >&2; die "make failed" "see the errors above"; }
make -C "$WORK/build" install DESTDIR="$WORK/stage" > "$WORK/install.log" 2>&1 || { tail -30 "$WORK/install.log" >&2; die "make install failed"; }

STEP="install into cache"
# Keep the caffe.proto this build was compiled from, so the project can check its caffe_pb2 against it.
mkdir -p "$WORK/stage$PREFIX/share/caffe"
cp "$SRC/src/caffe/proto/caffe.proto" "$WORK/stage$PREFIX/share/caffe/caffe.proto"
# Atomic: the entry becomes visible only complete; an interrupted run leaves only build-* temp dirs.
{ echo "source_sha256=$SRC_SHA256"; echo "key=$KEY"; echo "variant=$VARIANT"; printf 'flag=%s\n' "${CMAKE_FLAGS[@]}";
  for p in "${PATCHES[@]}"; do echo "patch=$p $(sha256sum < "$p" | cut -c1-16)"; done; } > "$WORK/stage$PREFIX/BUILD_INFO"
touch "$WORK/stage$PREFIX/.complete"
rm -rf "$PREFIX"
mv "$WORK/stage$PREFIX" "$PREFIX"
link_caffe "$PREFIX"
write_stamp "$PREFIX"
say "Caffe installed at $PREFIX"
