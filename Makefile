# SimpleNet in Caffe. `make setup`, then `make test`, then `make demo`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
# Options passed to setup/setup.sh: CUDA=1, BLAS=mkl|openmp|open, DNN=onednn|none, CAFFE_ROOT=..., CAFFE_CACHE=...
export CUDA BLAS DNN CAFFE_ROOT CAFFE_CACHE CAFFE_APT_MIRROR CAFFE_SOURCE_TARBALL PYTHON SKIP_APT

.PHONY: help setup test demo reproduce bench bench-lmdb bench-log prototxt clean-venv

help:
	@echo "make setup      install Debian packages, .venv, build Caffe (cached outside the repo)"
	@echo "make test       run the test suite (real caffe, real MNIST)"
	@echo "make demo       MNIST end to end: LMDB -> caffe train -> log -> plots -> table"
	@echo "make reproduce EXP=<experiment> [RESUME=1] [GPU=0]   a paper experiment, full schedule"
	@echo "make prototxt   regenerate prototxt/ and solvers/ from the architecture spec"
	@echo "make bench | bench-lmdb | bench-log   benchmarks (speed against named baselines)"

setup:
	bash setup/setup.sh

test:
	$(PY) -m pytest -q tests

# The main job: SimpleNet S300-A on real MNIST (or DATASET=fashion-mnist), 4-9 minutes on 2 cores.
DATASET ?= mnist
demo:
	$(PY) tools/demo.py --dataset $(DATASET)

# Any experiment's full schedule (see `$(PY) tools/reproduce.py --list`); RESUME=1 continues.
reproduce:
	@test -n "$(EXP)" || { echo "usage: make reproduce EXP=<experiment> [RESUME=1] [GPU=0]"; exit 2; }
	$(PY) tools/reproduce.py $(EXP) $(if $(RESUME),--resume) $(if $(GPU),--gpu $(GPU))

prototxt:
	$(PY) tools/gen_prototxt.py

# caffe time of three nets -> images/s, GFLOP/s, share of numpy's SGEMM, peak RSS, PyTorch CPU if installed
# (docs/speed.md). BENCH_ARGS="--baseline-caffe <other build>/bin/caffe --demo .venv" adds a second build
# and the demo's wall time (minutes).
bench:
	$(PY) bench/bench_caffe.py $(BENCH_ARGS)

# Log parser MB/s on the 1.3 MB CIFAR-10 log beside a regex-per-line parse (Caffe's parse_log.py algorithm).
bench-log:
	$(PY) bench/bench_parse_log.py

# LMDB conversion records/s: tools/to_lmdb.py vs Caffe's convert_mnist_data and convert_imageset, same input.
bench-lmdb:
	$(PY) bench/bench_lmdb.py

clean-venv:
	rm -rf $(VENV)
