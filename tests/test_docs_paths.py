"""Every repository path that a command's --help or README/docs names exists (issue 15: help
texts named solvers/mnist_solver.prototxt and prototxt/simplenet_cifar10.prototxt, which did
not), and the scripts run as the docs write them (`tools/parse_log.py ...` in an activated venv)."""
from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from simplenet_caffe.paths import REPO_ROOT

#: A path inside the repository: a committed top-level folder, then a file or folder name.
_PATH = re.compile(r"(?<![\w./-])((?:solvers|prototxt|tools|data_prep|docs|bench|setup|tests|simplenet_caffe)"
                   r"/[\w.{},*/-]*[\w*}/])")
#: Placeholders in example paths (<run>, X, N, ...) and outputs that commands generate.
_PLACEHOLDER = re.compile(r"<|\bX\b|_N\b|NET\b|SOLVER\b|\.\.\.|…")
#: Paths that are not this repository's files: generated benchmark results, Caffe's own source tree.
_NOT_OURS = ("bench/results/", "tools/extra/")
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "prototxt" / "README.md"]
SCRIPTS = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def _expand(path: str) -> list[str]:
    """`a/{b,c}.py` -> [a/b.py, a/c.py]."""
    parts = re.split(r"\{([^}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def _missing(text: str) -> list[str]:
    bad = []
    for m in _PATH.finditer(text):
        path = m.group(1).rstrip(".")
        if _PLACEHOLDER.search(text[m.start():m.end() + 1]) or path.startswith(_NOT_OURS):
            continue
        for p in _expand(path):
            if not (REPO_ROOT / p).exists() and not list(REPO_ROOT.glob(p if "*" in p else p + "*")):  # "0006" = 0006-*
                bad.append(p)
    return bad


def help_text(command: str) -> str:
    mod = importlib.import_module(SCRIPTS[command].split(":")[0])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        mod.main(["--help"])
    return (mod.__doc__ or "") + out.getvalue()


def test_path_finder_reads_the_forms_in_use():
    text = ("see solvers/cifar10_solver.prototxt, `data_prep/*.py`, simplenet_caffe/nets/{arch,experiments}.py; "
            "prototxt/nope.prototxt and logs/<run>/caffe.log, snapshots/x/x_iter_N.caffemodel.")
    assert _missing(text) == ["prototxt/nope.prototxt"]


@pytest.mark.parametrize("command", sorted(SCRIPTS))
def test_help_names_only_paths_that_exist(command):
    text = help_text(command)
    assert "usage:" in text
    assert not _missing(text), f"{command} --help names paths that do not exist: {_missing(text)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_docs_name_only_paths_that_exist(doc):
    missing = _missing(doc.read_text(encoding="utf-8"))
    assert not missing, f"{doc.relative_to(REPO_ROOT)} names paths that do not exist: {missing}"


def _scripts():
    return sorted(itertools.chain((REPO_ROOT / "tools").glob("*.py"), (REPO_ROOT / "data_prep").glob("*.py")))


def test_scripts_are_executable_with_a_venv_shebang():
    for script in _scripts():
        assert os.access(script, os.X_OK), f"{script.relative_to(REPO_ROOT)} is not executable"
        assert script.read_text().startswith("#!/usr/bin/env python3\n"), script


@pytest.mark.parametrize("script", ["tools/parse_log.py", "data_prep/cifar.py"])
def test_scripts_run_directly_in_the_activated_venv(script):
    """`source .venv/bin/activate` puts the venv's python3 first on PATH: the shebang finds it,
    from any folder."""
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{venv_bin}:{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    cp = subprocess.run([REPO_ROOT / script, "--help"], cwd="/", env=env, capture_output=True, text=True)
    assert cp.returncode == 0 and cp.stdout.startswith("usage:"), cp.stderr
