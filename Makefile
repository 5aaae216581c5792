# SimpleNet in Caffe. `make setup`, then `make test`, then `make demo`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
# Options passed to setup/setup.sh: CUDA=1, BLAS=open|mkl, CAFFE_ROOT=..., CAFFE_CACHE=...
export CUDA BLAS CAFFE_ROOT CAFFE_CACHE CAFFE_APT_MIRROR CAFFE_SOURCE_TARBALL PYTHON SKIP_APT

.PHONY: help setup test check demo reproduce bench bench-lmdb bench-log prototxt clean-venv

help:
	@echo "make setup      install Debian packages, .venv, build Caffe (cached outside the repo)"
	@echo "make test       run the test suite (real caffe, real MNIST)"
	@echo "make demo       MNIST end to end: LMDB -> caffe train -> log -> plots -> table"
	@echo "make prototxt   regenerate prototxt/ and solvers/ from the architecture spec"

setup:
	bash setup/setup.sh

test:
	$(PY) -m pytest -q tests

prototxt:
	$(PY) tools/gen_prototxt.py

clean-venv:
	rm -rf $(VENV)
