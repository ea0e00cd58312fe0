"""Helpers for the pickle core's tests: the pickle assembler in tests/scan_corpus."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CORPUS_DIR = Path(__file__).resolve().parents[2] / "scan_corpus"


def corpus_module(name: str) -> ModuleType:
    """Import a module from tests/scan_corpus by file path (`pickleasm`, ...)."""
    if str(CORPUS_DIR) not in sys.path:
        sys.path.insert(0, str(CORPUS_DIR))
    spec = importlib.util.spec_from_file_location(f"scan_corpus_{name}", CORPUS_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
