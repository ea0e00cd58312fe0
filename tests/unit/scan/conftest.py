"""Fixtures for scanner tests: the generated malicious and benign corpora."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

CORPUS_DIR = Path(__file__).resolve().parents[2] / "scan_corpus"


def corpus_module(name: str) -> ModuleType:
    """Import a generator module from tests/scan_corpus by file path."""
    if str(CORPUS_DIR) not in sys.path:
        sys.path.insert(0, str(CORPUS_DIR))
    spec = importlib.util.spec_from_file_location(f"scan_corpus_{name}", CORPUS_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def malicious_corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    """Every malicious sample, written once per session."""
    return corpus_module("malicious").build(tmp_path_factory.mktemp("malicious"))


@pytest.fixture(scope="session")
def benign_corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    """Every benign sample (needs torch), written once per session."""
    pytest.importorskip("torch")
    return corpus_module("benign").build(tmp_path_factory.mktemp("benign"))
