# SimpleNet in Caffe. `make demo` or `make test` (each runs `make setup` first when it is needed).
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
# Options passed to setup/setup.sh: CUDA=1, BLAS=mkl|openmp|open, DNN=onednn|onednn-blocked|none, CAFFE_ROOT=..., CAFFE_CACHE=...
export CUDA BLAS DNN CAFFE_ROOT CAFFE_CACHE CAFFE_APT_MIRROR CAFFE_SOURCE_TARBALL PYTHON SKIP_APT
# Commands run by the targets below name make variables (RESUME=1) in their advice (simplenet_caffe/cli.py).
UNDER_MAKE := SIMPLENET_UNDER_MAKE=1

.PHONY: help setup setup-if-needed test demo reproduce sweep bench bench-lmdb bench-log bench-export prototxt clean-venv gpu-bundle gpu-check

help:
	@echo "make setup      install Debian packages, .venv, build Caffe (cached outside the repo); the targets below run it when needed"
	@echo "make test       run the test suite (real caffe, real MNIST)"
	@echo "make demo [NAME=run] [OVERWRITE=1] [RESUME=1] [GPU=0]   MNIST end to end: LMDB -> caffe train -> log -> plots -> table"
	@echo "make reproduce EXP=<experiment> [NAME=run] [RESUME=1|CONTINUE=1] [OVERWRITE=1] [GPU=0] [ARGS=...]   a paper experiment, full schedule"
	@echo "make sweep EXPS=\"names globs all\" [TAG=t] [SWEEP_ARGS=\"--gpu 0,1 | --slurm --time 720 ...\"] [ARGS=...]   a set of experiments (docs/cluster.md)"
	@echo "make prototxt   regenerate prototxt/ and solvers/ from the architecture spec"
	@echo "make bench | bench-lmdb | bench-log | bench-export   benchmarks (speed against named baselines)"
	@echo "make gpu-bundle build/gpu-bundle.tar.gz: CUDA Caffe + nets + MNIST subset for a GPU machine (docs/gpu.md)"
	@echo "make gpu-check [DRY_RUN=1]   prove the bundle on a GPU (DRY_RUN=1: every step on this CPU build)"

setup:
	bash setup/setup.sh

# About a second when nothing changed since the last setup (setup/setup.sh keeps a stamp in the venv).
setup-if-needed:
	@bash setup/setup.sh --if-needed

test: setup-if-needed
	$(PY) -m pytest -q tests

# The main job: SimpleNet S300-A on real MNIST (or DATASET=fashion-mnist), 4-9 minutes on 2 cores.
DATASET ?= mnist
demo: setup-if-needed
	$(UNDER_MAKE) $(PY) tools/demo.py --dataset $(DATASET) $(if $(NAME),--name $(NAME)) $(if $(OVERWRITE),--overwrite) \
	  $(if $(RESUME),--resume) $(if $(GPU),--gpu $(GPU))

# Any experiment's full schedule (see `$(PY) tools/reproduce.py --list`); RESUME=1 continues,
# NAME= names the run (own logs and snapshots), OVERWRITE=1 starts it again, ARGS= passes more
# options (e.g. ARGS="--max-iter 100 --test-iter 4" for a smoke test).
reproduce: setup-if-needed
	@test -n "$(EXP)" || { echo "usage: make reproduce EXP=<experiment> [NAME=run] [RESUME=1|CONTINUE=1] [OVERWRITE=1] [GPU=0] [ARGS=...]"; exit 2; }
	$(UNDER_MAKE) $(PY) tools/reproduce.py $(EXP) $(if $(NAME),--name $(NAME)) $(if $(RESUME),--resume) $(if $(CONTINUE),--continue) \
	  $(if $(OVERWRITE),--overwrite) $(if $(GPU),--gpu $(GPU)) $(ARGS)

# A set of experiments (names, globs, or all): a local queue over the GPUs or the CPU, or a Slurm
# job array (SWEEP_ARGS="--slurm ..."); runs that are done are skipped, stopped ones resume.
# ARGS= goes to each reproduce.py (docs/cluster.md).
sweep: setup-if-needed
	@test -n "$(EXPS)" || { echo 'usage: make sweep EXPS="names globs all" [TAG=t] [SWEEP_ARGS=...] [ARGS=...]'; exit 2; }
	$(UNDER_MAKE) $(PY) tools/sweep.py $(EXPS) $(if $(TAG),--tag $(TAG)) $(SWEEP_ARGS) $(if $(ARGS),-- $(ARGS))

prototxt: setup-if-needed
	$(PY) tools/gen_prototxt.py

# caffe time of three nets -> images/s, GFLOP/s, share of numpy's SGEMM, peak RSS, PyTorch CPU if installed
# (docs/speed.md). BENCH_ARGS="--baseline-caffe <other build>/bin/caffe --demo .venv" adds a second build
# and the demo's wall time (minutes).
bench: setup-if-needed
	$(PY) bench/bench_caffe.py $(BENCH_ARGS)

# Log parser time and peak RSS on a 200 MB log made from the real CIFAR-10 log, beside Caffe's parse_log.py algorithm.
bench-log: setup-if-needed
	$(PY) bench/bench_parse_log.py $(BENCH_LOG_ARGS)

# LMDB conversion records/s: tools/to_lmdb.py vs Caffe's convert_mnist_data and convert_imageset, same input.
bench-lmdb: setup-if-needed
	$(PY) bench/bench_lmdb.py

# caffemodel -> safetensors / ONNX / back for the 6.4M ImageNet net, beside pycaffe loading the same files.
bench-export: setup-if-needed
	$(PY) bench/bench_export.py

# GPU bundle (docs/gpu.md): a minimal CUDA build (cuDNN 9, NCCL; its own venv GPU_VENV with the CUDA
# wheels, its own cache entry) packed with nets and a MNIST subset. Needs nvcc; not part of `make test`.
GPU_VENV ?= .venv-gpu
gpu-bundle:
	env -u CAFFE_ROOT CUDA=1 BLAS=open MINIMAL=1 VENV=$(GPU_VENV) bash setup/setup.sh  # CAFFE_ROOT names the CPU Caffe
	$(PY) -m pip install -q -e ".[gpu]"
	$(PY) tools/gpu_bundle.py --caffe-prefix "$$(cat $(GPU_VENV)/.caffe-prefix)" $(BUNDLE_ARGS)

# On the GPU machine, from the repo with the bundle beside it (or run gpu_check.py in the unpacked
# bundle). DRY_RUN=1: the same steps on this venv's CPU build, small batches (a test runs it).
BUNDLE ?= build/gpu-bundle
gpu-check:
ifeq ($(DRY_RUN),1)
	$(PY) tools/gpu_bundle.py --dry-run --out build/gpu-dry
	$(PY) build/gpu-dry/gpu_check.py --dry-run --tools-dir $(VENV)/bin --out build/gpu-dry/gpu_check_report.md
else
	@test -f $(BUNDLE)/gpu_check.py || { test -f $(BUNDLE).tar.gz && tar -xzf $(BUNDLE).tar.gz -C $(dir $(BUNDLE)); } \
	  || { echo "gpu-check: no bundle at $(BUNDLE) or $(BUNDLE).tar.gz (make gpu-bundle makes one)"; exit 2; }
	python3 $(BUNDLE)/gpu_check.py $(CHECK_ARGS)
endif

clean-venv:
	rm -rf $(VENV)
