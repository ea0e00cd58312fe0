"""Shared fixtures: the ../shared interop vectors, generated keys, small models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("WEIGHTGUARD_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the checkout; tests needing it skip when it is absent."""
    if not (SHARED / "interop").is_dir():
        pytest.skip(f"interop vectors not found at {SHARED} (../shared is absent in this checkout)")
    return SHARED


@pytest.fixture(scope="session")
def oms_dir(shared_dir: Path) -> Path:
    """../shared/interop/oms: model-signing 1.1.1 bundles, keys, certificates, model."""
    return shared_dir / "interop" / "oms"
