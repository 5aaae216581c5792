"""The package's shape: README's layout table names exactly the modules on disk, each layer
imports only the layers it may (simplenet_caffe/__init__.py), no private cross-imports, and
every tool and data_prep script is a console command of the same code."""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from simplenet_caffe.paths import REPO_ROOT

PKG = REPO_ROOT / "simplenet_caffe"
# layer -> the layers it may import ("" = the top-level modules)
ALLOWED = {"": {""}, "data": {"", "data"}, "nets": {"", "data", "nets"},
           "runs": {"", "data", "nets", "runs"}, "export": {"", "data", "nets", "runs", "export"},
           "gpu": {"", "data", "nets", "runs", "gpu"},
           "commands": {"", "data", "nets", "runs", "export", "gpu", "commands"}}


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 else ""


def _modules_on_disk() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in PKG.rglob("*.py"):
        if p.name != "__init__.py":
            out.setdefault(_layer_of(p), set()).add(p.name)
    return out


def _readme_table() -> dict[str, set[str]]:
    """README layout rows `simplenet_caffe/<layer>/` -> the `x.py` names in the row."""
    rows: dict[str, set[str]] = {}
    for line in (REPO_ROOT / "README.md").read_text().splitlines():
        m = re.match(r"\| `simplenet_caffe/(\w*)/?` \|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = set(re.findall(r"`(\w+\.py)`", m.group(2)))
    return rows


def test_readme_layout_table_matches_the_package():
    disk, table = _modules_on_disk(), _readme_table()
    assert set(table) == set(disk), "README layout rows vs subpackages on disk"
    for layer, names in disk.items():
        where = f"simplenet_caffe/{layer + '/' if layer else ''}"
        assert not names - table[layer], f"README's {where} row misses {sorted(names - table[layer])}"
        assert not table[layer] - names, f"README's {where} row names missing modules {sorted(table[layer] - names)}"


def _imports(path: Path):
    """(target layer, imported module or name) of every simplenet_caffe import in ``path``."""
    layer = _layer_of(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = [] if node.level == 2 or not layer else [layer]
                parts = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "simplenet_caffe":
                parts = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                full = parts + [alias.name]
                target = full[0] if full[0] in ALLOWED and len(full) > 1 else ""
                yield target, full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                full = alias.name.split(".")
                if full[0] == "simplenet_caffe" and len(full) > 1:
                    yield (full[1] if full[1] in ALLOWED and len(full) > 2 else ""), full[1:]


def test_layers_import_only_downward_and_nothing_private():
    bad = []
    for p in sorted(PKG.rglob("*.py")):
        layer = _layer_of(p)
        for target, full in _imports(p):
            if target not in ALLOWED[layer]:
                bad.append(f"{p.relative_to(REPO_ROOT)}: {layer or 'top level'} imports {'.'.join(full)}")
            if target != layer and any(part.startswith("_") and part != "__future__" for part in full):
                bad.append(f"{p.relative_to(REPO_ROOT)}: private import {'.'.join(full)}")
    assert not bad, "\n".join(bad)


def test_every_script_is_a_console_command():
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    want = {f"simplenet-{p.stem.replace('_', '-')}": f"simplenet_caffe.commands.{p.stem}:entry"
            for p in (REPO_ROOT / "tools").glob("*.py")}
    want.update({f"simplenet-prep-{p.stem}": f"simplenet_caffe.commands.prep_{p.stem}:entry"
                 for p in (REPO_ROOT / "data_prep").glob("*.py")})
    assert scripts == want
    for script in [*(REPO_ROOT / "tools").glob("*.py"), *(REPO_ROOT / "data_prep").glob("*.py")]:
        text = script.read_text()
        assert "sys.path" not in text, f"{script.name} still edits sys.path"
        mod = scripts[f"simplenet-{'prep-' if script.parent.name == 'data_prep' else ''}{script.stem.replace('_', '-')}"]
        assert f"from {mod.split(':')[0]} import entry" in text, script


def test_console_commands_are_installed_and_run():
    """`make setup` installs the package editable: every command is in the venv's bin/."""
    import subprocess
    import sys

    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    bindir = Path(sys.executable).parent
    missing = [name for name in scripts if not (bindir / name).is_file()]
    assert not missing, f"not installed in {bindir} (run make setup): {missing}"
    cp = subprocess.run([bindir / "simplenet-parse-log", "--help"], capture_output=True, text=True, cwd="/")
    assert cp.returncode == 0 and cp.stdout.startswith("usage: simplenet-parse-log"), cp.stderr


# Imported inside functions only: heavy or optional dependencies (extras, or needing a Caffe build).
LAZY_OK = {"caffe", "torch", "onnx", "onnxruntime", "safetensors", "matplotlib", "tensorboardX", "cv2", "scipy",
           "h5py", "pydot", "skimage"}
# gpu/check.py runs alone inside the GPU bundle (standard library only): its optional imports stay lazy.
STANDALONE = {PKG / "gpu" / "check.py"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package modules an import statement loads (``from .x import y`` -> x.y when y is a module)."""
    mods = {_module_name(p) for p in PKG.rglob("*.py")}
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    if node.level:
        base = _module_name(path).split(".")
        if path.name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - node.level + 1] + (node.module.split(".") if node.module else [])
    elif node.module and node.module.split(".")[0] == "simplenet_caffe":
        base = node.module.split(".")
    else:
        return []
    out = []
    for a in node.names:
        sub = ".".join(base + [a.name])
        out.append(sub if sub in mods else ".".join(base))
    return [m for m in out if m in mods]


def _top_level_imports(tree: ast.Module):
    """Import statements that run when the module is imported (not inside a def)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def test_no_import_circles():
    graph: dict[str, set[str]] = {}
    for p in PKG.rglob("*.py"):
        deps = graph.setdefault(_module_name(p), set())
        for node in _top_level_imports(ast.parse(p.read_text())):
            deps.update(m for m in _resolve(p, node) if m != _module_name(p))
        parent = _module_name(p).rpartition(".")[0]
        if parent:  # importing a.b runs a/__init__.py first
            deps.add(parent)
    circles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open" and d != m and not (m.startswith(d + ".")):
                circles.append(" -> ".join(stack[stack.index(d):] + [d]) if d in stack else f"{m} -> {d}")
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_in_function_imports_are_only_heavy_optional_dependencies():
    bad = []
    for p in sorted(set(PKG.rglob("*.py")) - STANDALONE):
        for fn in ast.walk(ast.parse(p.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = ["." * node.level + (node.module or "")]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] not in LAZY_OK:
                        bad.append(f"{p.relative_to(REPO_ROOT)}:{node.lineno}: {name} imported inside {fn.name}()")
    assert not bad, "import these at the top of the module:\n" + "\n".join(sorted(set(bad)))


def test_the_circle_check_finds_a_circle(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other are reported."""
    pkg = tmp_path / "simplenet_caffe"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("from . import b\n")
    (pkg / "data" / "b.py").write_text("def f():\n    pass\nfrom .a import x\n")
    monkeypatch.setattr(__import__(__name__), "PKG", pkg)
    monkeypatch.setattr(__import__(__name__), "REPO_ROOT", tmp_path)
    import pytest
    with pytest.raises(AssertionError, match="simplenet_caffe.data.a -> simplenet_caffe.data.b -> simplenet_caffe.data.a"):
        test_no_import_circles()
