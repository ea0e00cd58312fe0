"""Fixtures for converter tests: the generated corpus and the reference comparison."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.corpus import corpus_module as scan_corpus_module
from tests.corpus import load_file

HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    return load_file(f"convert_tests_{name}", HERE / f"{name}.py")


@pytest.fixture(scope="session")
def corpus_module() -> ModuleType:
    """tests/unit/convert/corpus.py (generators for checkpoints)."""
    pytest.importorskip("torch")
    return _load("corpus")


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    """tests/unit/convert/reference.py (expected tensors, round-trip assertion)."""
    pytest.importorskip("torch")
    return _load("reference")


@pytest.fixture(scope="session")
def corpus(corpus_module: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """name -> Case, written once per session."""
    cases = corpus_module.build(tmp_path_factory.mktemp("convert-corpus"))
    return {c.name: c for c in cases}


@pytest.fixture(scope="session")
def scan_benign(tmp_path_factory: pytest.TempPathFactory) -> list:
    """The scanner's benign corpus (tests/scan_corpus/benign.py)."""
    pytest.importorskip("torch")
    return scan_corpus_module("benign").build(tmp_path_factory.mktemp("scan-benign"))
