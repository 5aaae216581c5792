"""Every command: --help works, and a bad option gives one usage error (exit 2), no traceback."""
from __future__ import annotations

import pytest

from conftest import run_script
from simplenet_caffe.paths import REPO_ROOT

# commands are the files with a __main__ block (bench/torch_net.py, say, is a module)
SCRIPTS = sorted(str(p.relative_to(REPO_ROOT)) for d in ("tools", "data_prep", "bench")
                 for p in (REPO_ROOT / d).glob("*.py") if '__name__ == "__main__"' in p.read_text())


def test_scripts_found():
    assert {"tools/to_lmdb.py", "tools/parse_log.py", "tools/gen_prototxt.py", "tools/evaluate.py",
            "data_prep/mnist.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    out = run_script(script, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage:")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_option(script):
    out = run_script(script, "--no-such-option")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "error:" in out.stderr


@pytest.mark.parametrize("args,message", [
    (["--caffe", "/no/such/caffe"], "/no/such/caffe: not an executable caffe binary"),
    (["--caffe", "README.md"], "README.md: not an executable caffe binary"),
    (["--caffe", ".venv/bin/caffe", "--seeds", "1,x"], "--seeds must be integers separated by commas"),
])
def test_demo_seeds_refuses_bad_input(args, message):
    """bench/demo_seeds.py: a missing or non-executable build, or a seed that is not an integer,
    is one error line and exit 2, before any training starts."""
    out = run_script("bench/demo_seeds.py", *args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


TOOL_SCRIPTS = [s for s in SCRIPTS if not s.startswith("bench/")]


@pytest.mark.parametrize("script", TOOL_SCRIPTS)
def test_without_the_venv_says_how_to_activate_it(script):
    """Run by a Python that is not the venv's (the interpreter the venv was made from, no
    PYTHONPATH): one line naming the activation command, a non-zero exit, no traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    out = subprocess.run([str(base), script, "--help"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "source .venv/bin/activate" in lines[0] and "'simplenet_caffe'" in lines[0], out.stderr


@pytest.mark.parametrize("args,message", [
    (["tools/count_params.py", "--experiment", "cifar10_a5m_zeropadd"], "did you mean cifar10_a5m_zeropad"),
    (["tools/draw_net.py", "--experiment", "mnist_s300", "-o", "x.png"], "did you mean mnist_s300a"),
    (["tools/to_lmdb.py", "cifar-10x", "src", "-o", "out"], "did you mean cifar-10"),
])
def test_unknown_names_get_did_you_mean(args, message):
    out = run_script(*args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_option_hint_names_the_make_variable_under_make(monkeypatch):
    from simplenet_caffe import cli
    monkeypatch.delenv(cli.UNDER_MAKE_ENV, raising=False)
    assert cli.option_hint("--resume", "RESUME=1") == "--resume"
    monkeypatch.setenv(cli.UNDER_MAKE_ENV, "1")
    assert cli.option_hint("--resume", "RESUME=1") == "RESUME=1"


@pytest.mark.parametrize("target,command", [("demo", "SIMPLENET_UNDER_MAKE=1 .venv/bin/python tools/demo.py"),
                                            ("test", ".venv/bin/python -m pytest -q tests"),
                                            ("reproduce EXP=mnist_s300a", "SIMPLENET_UNDER_MAKE=1 .venv/bin/python tools/reproduce.py")])
def test_make_targets_run_setup_when_needed_first(target, command):
    """`make demo` and `make test` alone work on a fresh clone: setup (a no-op once done) runs first;
    the commands make starts know it (their advice names RESUME=1, not --resume)."""
    import subprocess
    cp = subprocess.run(["make", "-n", "--no-print-directory", *target.split()], cwd=REPO_ROOT, capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0] == "bash setup/setup.sh --if-needed", lines
    assert any(ln.startswith(command) for ln in lines), lines
