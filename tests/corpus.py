"""The generators in tests/scan_corpus, imported by file path (they import each other by name)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CORPUS_DIR = Path(__file__).resolve().parent / "scan_corpus"


def corpus_module(name: str) -> ModuleType:
    """Import `tests/scan_corpus/<name>.py` (`pickleasm`, `malicious`, `benign`, ...) once."""
    if str(CORPUS_DIR) not in sys.path:
        sys.path.insert(0, str(CORPUS_DIR))
    module_name = f"scan_corpus_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, CORPUS_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
