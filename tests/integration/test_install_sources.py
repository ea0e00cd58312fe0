"""No shipped instruction installs `weightguard` by name from the public package index.

The name `weightguard` on the public index belongs to an unrelated project: `pip install
weightguard` (or a requirement spec `weightguard==…` resolved from an index) would install a
stranger's code. README, docs and examples install from this repository pinned by commit,
from a wheel by hash, or use the image.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUFFIXES = {".md", ".yml", ".yaml", ".sh", ".toml", ".txt", ".cfg", ".py", ""}

# An installer, then on the same logical line a bare `weightguard` requirement: not a path
# (./weightguard, .weightguard/), not a direct reference (`weightguard @ git+…`).
INSTALL = re.compile(
    r"\b(?:pip3?|pipx|uv(?:\s+pip|\s+tool)?|poetry|pdm)\s+(?:install|add)\b(?P<rest>.*)"
)
BARE = re.compile(
    r"""(?<![\w./@+-])["']?weightguard(?:\[[\w,\s]*\])?(?:\s*[=<>~!]=?[^\s"']*)?["']?(?!\s*@)(?=\s|$|["'`])"""
)
# A requirement spec anywhere (e.g. a CI variable later passed to pip): name + version operator.
SPEC = re.compile(r"(?<![\w./@+-])weightguard(?:\[[\w,\s]*\])?\s*(?:==|>=|~=|<=|!=)\s*\d")


def shipped_files() -> list[Path]:
    roots = [
        REPO / "README.md",
        REPO / "docs",
        REPO / "examples",
        REPO / "Makefile",
        REPO / "scripts",
    ]
    out: list[Path] = []
    for root in roots:
        if root.is_file():
            out.append(root)
        elif root.is_dir():
            out += [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in SUFFIXES]
    return out


def offending(text: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", text)  # shell continuations
    bad = []
    for line in joined.splitlines():
        if re.search(r"\bnever\b", line, re.IGNORECASE):
            continue  # the warning itself ("Never `pip install weightguard` ...")
        match = INSTALL.search(line)
        if match and BARE.search(match["rest"]):
            bad.append(line.strip())
        elif SPEC.search(line):
            bad.append(line.strip())
    return bad


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("pip install weightguard", True),
        ("python -m pip install 'weightguard[sigstore]==0.1.0'", True),
        ("`pip install weightguard` gives", True),
        ("uv pip install weightguard>=0.1", True),
        ("pipx install weightguard", True),
        ("  WEIGHTGUARD_SPEC: weightguard[sigstore]==0.1.0", True),
        ("pip install -e '.[test,all]'", False),
        ("python -m pip install --no-deps --no-build-isolation ./.weightguard", False),
        (
            'pip install "weightguard @ git+https://github.com/weightguard/weightguard@0123abc"',
            False,
        ),
        ("pip install --require-hashes -r .weightguard/requirements/image.txt", False),
    ],
)
def test_the_pattern_catches_index_installs_only(line: str, flagged: bool) -> None:
    assert bool(offending(line)) is flagged, line


def test_no_shipped_line_installs_weightguard_from_the_index() -> None:
    found = {
        str(p.relative_to(REPO)): offending(p.read_text(encoding="utf-8", errors="replace"))
        for p in shipped_files()
    }
    assert {k: v for k, v in found.items() if v} == {}


def test_readme_says_why() -> None:
    readme = (REPO / "README.md").read_text()
    assert "dependency confusion" in readme and "unrelated project" in readme
