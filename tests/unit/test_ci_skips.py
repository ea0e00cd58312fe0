"""tests/conftest.py's CI rule: under CI=true a skip that is not about CUDA fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = '''
import pytest
def test_missing_data():
    pytest.skip("some data is missing")
@pytest.mark.skipif(True, reason="needs a CUDA device")
def test_cuda():
    pass
'''


def _run(tmp_path: Path, ci: str) -> str:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def test_non_cuda_skip_fails_under_ci(tmp_path: Path) -> None:
    assert _run(tmp_path, "true").startswith("1 failed, 1 skipped")


def test_skips_stay_skips_outside_ci(tmp_path: Path) -> None:
    assert _run(tmp_path, "").startswith("2 skipped")
