"""The malicious corpus: every sample really runs its payload, and none scans clean."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import weightguard.scan as wscan
from tests.corpus import CORPUS_DIR
from weightguard.scan import Outcome

CATEGORIES = {
    "callable-reach",
    "name-tricks",
    "gadget-composition",
    "parser-differential",
    "container",
    "nested-deserialiser",
}


def _run_loaders(samples: list, *, torch: bool) -> list[str]:
    groups: dict[str, list[str]] = defaultdict(list)
    for s in samples:
        if s.torch == torch:
            groups[s.loader].append(str(s.path))
    for loader, paths in groups.items():
        subprocess.run(
            [sys.executable, str(CORPUS_DIR / "load_samples.py"), loader, *paths],
            cwd=Path(paths[0]).parent,
            timeout=240,
            check=False,
            capture_output=True,
        )
    return [s.name for s in samples if s.torch == torch and not s.marker.exists()]


def test_corpus_is_large_and_covers_every_bypass_class(malicious_corpus: list) -> None:
    assert len(malicious_corpus) >= 50
    assert {s.category for s in malicious_corpus} == CATEGORIES
    assert len({s.name for s in malicious_corpus}) == len(malicious_corpus)


def test_samples_execute_their_payload_without_torch(malicious_corpus: list) -> None:
    assert _run_loaders(malicious_corpus, torch=False) == []


@pytest.mark.torch
def test_samples_execute_their_payload_with_torch(malicious_corpus: list) -> None:
    pytest.importorskip("torch")
    assert _run_loaders(malicious_corpus, torch=True) == []


def test_no_sample_scans_clean(malicious_corpus: list) -> None:
    result = wscan.scan([s.path for s in malicious_corpus])
    assert not result.errors
    by_path = {Path(f.path).name: f for f in result.files}
    clean = [s.name for s in malicious_corpus if by_path[s.path.name].outcome is Outcome.CLEAN]
    assert clean == []


def test_most_samples_are_unsafe_not_just_incomplete(malicious_corpus: list) -> None:
    result = wscan.scan([s.path for s in malicious_corpus])
    incomplete = [Path(f.path).name for f in result.files if f.outcome is Outcome.INCOMPLETE]
    # Only samples whose payload sits where a loader fails first may be merely incomplete.
    assert incomplete == []
