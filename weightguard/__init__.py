"""weightguard: guard the model-weight supply chain.

The public API is re-exported lazily so that importing `weightguard` stays cheap:
`sign`, `verify`, `digest` (signing), `scan`, `convert`, and the error tree.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "sign": "weightguard.api",
    "verify": "weightguard.api",
    "digest": "weightguard.api",
    "VerifyResult": "weightguard.api",
    "scan": "weightguard.scan",
    "convert": "weightguard.convert",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'weightguard' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
