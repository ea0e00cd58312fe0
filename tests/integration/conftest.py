"""Fixtures the CLI tests share: a release key pair, a small PKI, a model signed with the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models import KeyPair, Pki, make_keypair, make_pki, ordering_trap_model, run_cli


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A P-256 key pair named `release`, one per test module."""
    return make_keypair(tmp_path_factory.mktemp("keys"), "release")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Root, intermediate and a code-signing leaf, one per test module."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def signed(tmp_path: Path, keys: KeyPair) -> Path:
    """A model signed with the default signature path (MODEL/model.sig)."""
    m = ordering_trap_model(tmp_path / "model")
    r = run_cli("sign", m, "--key", keys.private)
    assert r.rc == 0, r.stderr
    return m
