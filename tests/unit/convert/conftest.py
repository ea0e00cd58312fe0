"""Fixtures for converter tests: the generated corpus and the reference comparison."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    qualified = f"convert_tests_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, HERE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


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
    path = HERE.parents[1] / "scan_corpus" / "benign.py"
    spec = importlib.util.spec_from_file_location("convert_tests_scan_benign", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.build(tmp_path_factory.mktemp("scan-benign"))
