"""Make a subpackage callable as its main function.

`weightguard.scan(path)` and `weightguard.convert(input)` are the public API, but
importing the subpackages `weightguard.scan` / `weightguard.convert` makes the import
system bind those package attributes to the modules, shadowing the functions that
`weightguard/__init__.py` re-exports lazily. Giving the module a `__call__` that forwards
to its function keeps both spellings working, whichever import happened first.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_module_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Let `module_name(...)` call `function(...)`."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    _CallableModule.__doc__ = function.__doc__
    sys.modules[module_name].__class__ = _CallableModule
