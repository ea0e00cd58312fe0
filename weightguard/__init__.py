"""weightguard: guard the model-weight supply chain.

The public API is re-exported lazily so that importing `weightguard` stays cheap:
`sign`, `verify`, `digest` (signing), `scan_path` (the static scanner,
`weightguard.scan.scan`), `convert_checkpoint` (pickle checkpoint to safetensors,
`weightguard.convert.convert`), and `VerifyResult`. `weightguard.scan` and
`weightguard.convert` are the subpackages themselves.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Public name -> (module, attribute in that module).
_LAZY = {
    "sign": ("weightguard.api", "sign"),
    "verify": ("weightguard.api", "verify"),
    "digest": ("weightguard.api", "digest"),
    "VerifyResult": ("weightguard.api", "VerifyResult"),
    "scan_path": ("weightguard.scan", "scan"),
    "convert_checkpoint": ("weightguard.convert", "convert"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'weightguard' has no attribute {name!r}")
    import importlib

    module_name, attribute = target
    return getattr(importlib.import_module(module_name), attribute)
