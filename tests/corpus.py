"""Test helper modules imported by file path: the generators in tests/scan_corpus and others."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CORPUS_DIR = Path(__file__).resolve().parent / "scan_corpus"


def load_file(module_name: str, path: Path) -> ModuleType:
    """Import the file at `path` as `module_name`, once per session."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def corpus_module(name: str) -> ModuleType:
    """Import `tests/scan_corpus/<name>.py` (`pickleasm`, `malicious`, `benign`, ...)."""
    if str(CORPUS_DIR) not in sys.path:  # the generators import each other by name
        sys.path.insert(0, str(CORPUS_DIR))
    return load_file(f"scan_corpus_{name}", CORPUS_DIR / f"{name}.py")
