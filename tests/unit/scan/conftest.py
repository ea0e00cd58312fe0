"""Fixtures for scanner tests: the generated malicious and benign corpora."""

from __future__ import annotations

import pytest

from tests.corpus import corpus_module


@pytest.fixture(scope="session")
def malicious_corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    """Every malicious sample, written once per session."""
    return corpus_module("malicious").build(tmp_path_factory.mktemp("malicious"))


@pytest.fixture(scope="session")
def benign_corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    """Every benign sample (needs torch), written once per session."""
    pytest.importorskip("torch")
    return corpus_module("benign").build(tmp_path_factory.mktemp("benign"))
