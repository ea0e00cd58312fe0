"""`make demo` is a shipped example: run it, every step's exit code asserted by the script.

The demo writes `demo-out/` beside `examples/`, so it runs in a copy of `examples/` and
`policies/` (all it reads) with this venv's `weightguard` and `python` first on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.torch
def test_make_demo_behaves_as_documented(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    for folder in ("examples", "policies"):
        shutil.copytree(REPO / folder, tmp_path / folder, symlinks=True)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("WEIGHTGUARD_LOG_FORMAT", None)
    run = subprocess.run(
        ["bash", str(tmp_path / "examples" / "demo.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    tail = (run.stdout + run.stderr)[-4000:]
    assert run.returncode == 0, tail
    assert "demo: all steps behaved as expected" in run.stdout, tail
    assert "unexpected exit code" not in run.stdout + run.stderr, tail
