"""The conversion path never imports torch and never unpickles."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

_GUARD = """
import builtins, json, pickle, sys, _pickle
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch must not be imported by the converter")
        return None
sys.meta_path.insert(0, _NoTorch())
def _refuse(*a, **k):
    raise AssertionError("the converter unpickled something")
for mod in (pickle, _pickle):
    mod.load = mod.loads = _refuse
    mod.Unpickler = _refuse
"""


def test_conversion_imports_no_torch_and_unpickles_nothing(corpus: dict, tmp_path: Path) -> None:
    names = [
        "dtypes",
        "views",
        "views_legacy",
        "tied_lm",
        "nested_state_dict",
        "joblib",
        "numpy_p5",
        "be_f32",
    ]
    script = _GUARD + textwrap.dedent(
        f"""
        from weightguard.convert import convert
        done = []
        for src, out in {[(str(corpus[n].path), str(tmp_path / (n + ".safetensors"))) for n in names]!r}:
            done.append(convert(src, out).accepted)
        print(json.dumps({{"done": done, "torch": "torch" in sys.modules,
                           "mods": sorted(m for m in sys.modules if m.startswith("torch"))}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"done": [True] * len(names), "torch": False, "mods": []}
