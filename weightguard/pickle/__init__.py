"""The strict pickle core: read model files and interpret pickles, nothing executed.

What this package does, shared by the scanner (`weightguard.scan`, which judges) and the
converter (`weightguard.convert`, which extracts tensors), and below both:
- the symbolic machine: `parse_pickle(Reader(...))` runs one pickle stream with
  CPython's opcode semantics, pushing symbolic values (`Global`, `Obj`, `Tuple`, ...)
  instead of importing or calling anything, and returns a `PickleProgram` (the root
  value, every `Event`, and the error that stopped it, if any), bounded by `Limits` and
  a per-file `OpBudget`. Modules: `opcodes`, `reader`, `machine` (state), `ops_literals`
  and `ops_objects` (handlers), `vm` (dispatch and loop), `values`, `graphwalk`;
- container readers: the tolerant zip reader torch's miniz mirrors (`zipread`), the
  legacy torch layouts (`torchfmt`), joblib's in-stream arrays (`joblibfmt`), counted,
  ranged and budgeted-decompression streams (`streams`);
- format detection by content (`formats`: `detect_format`, `FORMATS`), with complete
  safetensors validation (`stcheck`) and the repo data formats (`datafmt*`).

Nothing here decides whether a file is safe: that is `weightguard.scan`. Nothing here
imports torch, numpy or joblib, and nothing unpickles.

Public interface: the names in `__all__`, imported lazily (importing this package loads
nothing else, so the scanner's start-up pays only for the modules a file needs). The
converter uses only these names (tests/unit/test_architecture.py); the scanner may also
import the submodules directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weightguard.pickle.formats import FORMATS, detect_format
    from weightguard.pickle.joblibfmt import dtype_layout, joblib_hook
    from weightguard.pickle.limits import Limits
    from weightguard.pickle.machine import BuildHook, Event, Machine, OpBudget, PickleProgram
    from weightguard.pickle.reader import Reader, StreamError
    from weightguard.pickle.torchfmt import (
        TORCH_MAGIC,
        TORCH_PROTOCOL,
        LegacyStorages,
        read_int64,
    )
    from weightguard.pickle.values import (
        Buffer,
        ByteArray,
        BytesRef,
        Dict,
        Ext,
        FrozenSet,
        Global,
        LegacyString,
        List,
        Obj,
        PersistentRef,
        Set,
        Tuple,
        Value,
    )
    from weightguard.pickle.vm import parse_pickle
    from weightguard.pickle.zipread import Directory, Member, ZipError, data_offset, read_directory

# Public name -> the submodule that defines it.
_LAZY = {
    **dict.fromkeys(("FORMATS", "detect_format"), "formats"),
    **dict.fromkeys(("dtype_layout", "joblib_hook"), "joblibfmt"),
    "Limits": "limits",
    **dict.fromkeys(("BuildHook", "Event", "Machine", "OpBudget", "PickleProgram"), "machine"),
    **dict.fromkeys(("Reader", "StreamError"), "reader"),
    **dict.fromkeys(("TORCH_MAGIC", "TORCH_PROTOCOL", "LegacyStorages", "read_int64"), "torchfmt"),
    **dict.fromkeys(
        (
            "Buffer",
            "ByteArray",
            "BytesRef",
            "Dict",
            "Ext",
            "FrozenSet",
            "Global",
            "LegacyString",
            "List",
            "Obj",
            "PersistentRef",
            "Set",
            "Tuple",
            "Value",
        ),
        "values",
    ),
    "parse_pickle": "vm",
    **dict.fromkeys(
        ("Directory", "Member", "ZipError", "data_offset", "read_directory"), "zipread"
    ),
}

__all__ = [
    "FORMATS",
    "TORCH_MAGIC",
    "TORCH_PROTOCOL",
    "Buffer",
    "BuildHook",
    "ByteArray",
    "BytesRef",
    "Dict",
    "Directory",
    "Event",
    "Ext",
    "FrozenSet",
    "Global",
    "LegacyStorages",
    "LegacyString",
    "Limits",
    "List",
    "Machine",
    "Member",
    "Obj",
    "OpBudget",
    "PersistentRef",
    "PickleProgram",
    "Reader",
    "Set",
    "StreamError",
    "Tuple",
    "Value",
    "ZipError",
    "data_offset",
    "detect_format",
    "dtype_layout",
    "joblib_hook",
    "parse_pickle",
    "read_directory",
    "read_int64",
]


def __getattr__(name: str) -> Any:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module 'weightguard.pickle' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
