"""Every "docs/spec.md §N[.M]" cited in the repository resolves to a heading of docs/spec.md,
and no citation points at a document outside the repository.

Code comments, docstrings, tests, docs and the headers of the generated prototxt/solvers cite
the project's reference document as "docs/spec.md §N.M" (a bare "§N.M" after it on the same line
cites it too).  The extractor also reads the older forms ("spec §", "FACTS §", "facts sheet
(§...)", "spec section N.M") so that :func:`test_no_citation_uses_an_old_form` can name them.
A section sign belongs to the last document named before it on the same line; one naming
another docs/*.md is not checked here.  Ranges ("§9.1-9.3") are checked section by section,
a trailing item letter ("§11.8b") resolves to its section ("11.8").
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "spec.md"
SUFFIXES = {".py", ".md", ".prototxt", ".sh"}
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", "build", "dist", "data", "logs", "plots",
             "snapshots", "node_modules"}

_NUM = r"(?:\d+(?:\.\d+)?|[A-Z]\.\d+)[a-z]?"   # 6, 6.4, 11.8b, A.1
_DOC = re.compile(r"TOOLS_ANCHORS|CAFFE_BUILD|docs/(?!spec\.md)[\w-]+\.md|spec|FACTS|facts sheet")
_CITE = re.compile(rf"§\s?({_NUM})(?:\s?[-–]\s?({_NUM}))?")
_SECTION_WORDS = re.compile(rf"\bspec sections? ({_NUM}(?:(?:,\s*|\s+and\s+){_NUM})*)")
_HEADING = re.compile(r"^#{2,4} (?:Appendix )?(\d+|[A-Z])(?:\.(\d+))?[.\s]")


def _spec_headings() -> set[str]:
    found = set()
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        m = _HEADING.match(line)
        if m:
            found.add(m.group(1) if m.group(2) is None else f"{m.group(1)}.{m.group(2)}")
    return found


def _expand(first: str, last: str | None) -> list[str]:
    first, last = first.rstrip("abcdefgh"), (last or "").rstrip("abcdefgh")
    if not last:
        return [first]
    if "." not in last:                    # "§6.1-3": same major
        last = f"{first.split('.')[0]}.{last}"
    (a_major, _, a_minor), (b_major, _, b_minor) = first.partition("."), last.partition(".")
    if a_major == b_major and a_minor.isdigit() and b_minor.isdigit():
        return [f"{a_major}.{n}" for n in range(int(a_minor), int(b_minor) + 1)]
    return [first, last]


def _spec_citations(line: str) -> list[str]:
    """The spec sections one line cites, in order."""
    docs = [(m.start(), m.group(0)) for m in _DOC.finditer(line)]
    cited = []
    for m in _CITE.finditer(line):
        owner = next((d for pos, d in reversed(docs) if pos < m.start()), "spec")
        if owner in ("TOOLS_ANCHORS", "CAFFE_BUILD") or owner.startswith("docs/"):
            continue
        cited += _expand(m.group(1), m.group(2))
    for m in _SECTION_WORDS.finditer(line):
        cited += [n.rstrip("abcdefgh") for n in re.split(r",\s*|\s+and\s+", m.group(1))]
    return cited


def _repo_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix in SUFFIXES and path != Path(__file__).resolve():
                yield path


def _all_citations() -> dict[str, list[str]]:
    """Section number -> ["file:line", ...] for every spec citation in the repository."""
    where: dict[str, list[str]] = {}
    for path in _repo_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for section in _spec_citations(line):
                where.setdefault(section, []).append(f"{path.relative_to(ROOT)}:{n}")
    return where


def test_extractor_reads_the_citation_forms_in_use():
    assert _spec_citations("(spec §6.1-6.3) and spec §3.8, §5.2") == ["6.1", "6.2", "6.3", "3.8", "5.2"]
    assert _spec_citations("(spec §11.8b): then") == ["11.8"]
    assert _spec_citations("the facts sheet (§10.2) says") == ["10.2"]
    assert _spec_citations("# §1.1 DropoutAll") == ["1.1"]
    assert _spec_citations("docs/spec.md §9.4") == ["9.4"]
    assert _spec_citations("(docs/spec.md §A.1–A.3)") == ["A.1", "A.2", "A.3"]
    assert _spec_citations("(spec TOOLS_ANCHORS §1.10)") == []
    assert _spec_citations("(TOOLS_ANCHORS §1.5–1.8, §2)") == []
    assert _spec_citations("see docs/logs.md §3") == []
    assert _spec_citations("(spec sections 4 and 6)") == ["4", "6"]
    assert _spec_citations("spec section 6.4; spec §0 convention (a)") == ["0", "6.4"]


def test_spec_has_every_top_level_section_and_its_subsections():
    headings = _spec_headings()
    assert {str(n) for n in range(13)} <= headings
    assert {"1.1", "1.2", "1.3", "2.1", "2.5", "5.1", "5.2", "9.1", "9.6", "10.2", "A.1"} <= headings
    assert {f"3.{n}" for n in range(1, 12)} | {f"6.{n}" for n in range(1, 8)} | {
        f"11.{n}" for n in range(1, 17)} <= headings


def test_every_spec_citation_in_the_repo_has_a_heading_in_docs_spec_md():
    where = _all_citations()
    # the generated prototxt headers and the code cite dozens of sections; an empty scan is a bug
    assert len(where) >= 25 and sum(map(len, where.values())) >= 100
    assert {"0", "4", "5.2", "6.2", "9.4", "10.2", "11.4", "12"} <= where.keys()
    missing = {s: places for s, places in where.items() if s not in _spec_headings()}
    assert not missing, "cited but no heading in docs/spec.md: " + "; ".join(
        f"§{s} ({', '.join(p[:3])}{' ...' if len(p) > 3 else ''})" for s, p in sorted(missing.items()))


#: Citation forms of the documents the spec replaced (they lived outside the repository).
_OLD_FORM = re.compile(r"(?<!docs/)\bspec §|\bspec sections? \d|FACTS §|facts sheet|TOOLS_ANCHORS|CAFFE_BUILD|"
                       r"SIMPLENET_FACTS|shared/spec")


def test_no_citation_uses_an_old_form():
    stale = [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}"
             for path in _repo_files()
             for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if _OLD_FORM.search(line)]
    assert not stale, "cite docs/spec.md §N instead:\n" + "\n".join(stale)
