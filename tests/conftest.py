"""Shared fixtures: OMS interop vectors made per session; the CI rule on skips.

Everything a test needs is in the repository (tests/data) or made here: a plain clone
runs every test CI runs. Only tests needing a CUDA device may skip, and under CI=true any
other skip fails the run instead of passing it silently.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
HARDWARE_SKIPS = ("needs a CUDA device", "this machine has CUDA")


@pytest.fixture(scope="session")
def oms_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model-signing 1.1.1 bundles, keys, certificates and a model (tests/oms_vectors.py)."""
    from tests.oms_vectors import build

    return build(tmp_path_factory.mktemp("oms"))


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Under CI=true a skip is a failure unless it is about CUDA hardware: a missing
    dependency or data file must not turn into a green run that tested less."""
    outcome = yield
    report = outcome.get_result()
    if not (_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    hardware = item.get_closest_marker("gpu") is not None or any(
        text in reason for text in HARDWARE_SKIPS
    )
    if not hardware:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (only CUDA tests may skip): {reason}"
