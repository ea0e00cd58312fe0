"""Non-tensor values a conversion can keep: plain data turned into JSON for the header.

A value is *simple* when it is None, a bool, an int, a finite float, a str, a list or
tuple of simple values, a str-keyed dict (or OrderedDict) of simple values, a
``torch.Size``, or a numeric numpy scalar. Everything else (objects, bytes, tensors,
non-finite floats) is not simple and is dropped by the converter, with a reason.
"""

from __future__ import annotations

import json
import math
import struct

from weightguard.pickle import Dict, Global, List, Obj, Tuple, Value

MAX_VALUE_JSON = 64 * 1024  # one kept value
MAX_DEPTH = 32

_ORDERED_DICT = "collections.OrderedDict"
_NUMPY_SCALAR = ("numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar")
_SCALAR_FORMATS = {
    "f8": "d",
    "f4": "f",
    "f2": "e",
    "i8": "q",
    "i4": "i",
    "i2": "h",
    "i1": "b",
    "u8": "Q",
    "u4": "I",
    "u2": "H",
    "u1": "B",
    "b1": "?",
}


class NotSimple(Exception):
    """The value cannot be kept as metadata; the message says why."""


def qualname(value: Value) -> str | None:
    """``module.name`` of the global that made an object (or of a global itself)."""
    if isinstance(value, Global):
        return value.qualname
    if isinstance(value, Obj) and isinstance(value.callee, Global):
        return value.callee.qualname
    return None


def is_ordered_dict(value: Value) -> bool:
    """An ``OrderedDict()`` filled by SETITEMS (extra BUILD state is allowed)."""
    return (
        isinstance(value, Obj)
        and value.kind == "reduce"
        and qualname(value) == _ORDERED_DICT
        and isinstance(value.args, Tuple)
        and not value.args.items
        and not value.appended
    )


def mapping_pairs(value: Value) -> list[tuple[Value, Value]] | None:
    """Key/value pairs of a dict or OrderedDict node, else None."""
    if isinstance(value, Dict):
        return value.items
    if is_ordered_dict(value):
        assert isinstance(value, Obj)
        return value.items
    return None


def dtype_descr(dtype: Value) -> tuple[str, str] | None:
    """(type string without byte order, byte order char) of a symbolic ``numpy.dtype``."""
    if not isinstance(dtype, Obj) or qualname(dtype) != "numpy.dtype":
        return None
    args = dtype.args.items if isinstance(dtype.args, Tuple) else ()
    if not args or not isinstance(args[0], str):
        return None
    descr = args[0]
    order = "|"
    if descr[:1] in "<>|=":
        order, descr = descr[0], descr[1:]
    state = dtype.state[-1] if dtype.state else None
    if isinstance(state, Tuple):
        items = state.items
        if len(items) > 1 and isinstance(items[1], str):
            order = items[1]
        if len(items) > 4 and items[4] is not None:
            return None  # structured dtype (fields): not a plain element type
    return descr, order


def _numpy_scalar(value: Obj) -> object:
    args = value.args.items if isinstance(value.args, Tuple) else ()
    found = dtype_descr(args[0]) if len(args) == 2 else None
    raw = args[1] if len(args) == 2 else None
    if found is None or not isinstance(raw, bytes) or found[0] not in _SCALAR_FORMATS:
        raise NotSimple("a numpy scalar of a type that is not a plain number")
    descr, order = found
    code = _SCALAR_FORMATS[descr]
    if struct.calcsize(code) != len(raw):
        raise NotSimple("a numpy scalar whose bytes do not match its type")
    (number,) = struct.unpack((">" if order == ">" else "<") + code, raw)
    return _plain(number, 0)


class Visits:
    """Values `_plain` may still visit.

    Each visited value adds at least one byte of JSON, so more than `MAX_VALUE_JSON`
    visits for one value is over the size limit anyway; counting them stops a shared
    subgraph (30 levels of ``[x, x]`` made by memo GETs, a few hundred bytes) from being
    expanded into 2**30 values before the size check (a 22-level one took 69 s). A
    converter also shares one across a checkpoint (`simple_json`'s `shared`), because
    it asks again for every entry below a value that was not simple.
    """

    __slots__ = ("left",)

    def __init__(self, left: int = MAX_VALUE_JSON) -> None:
        self.left = left


def _plain(value: Value, depth: int, visits: Visits | None = None) -> object:
    if visits is None:
        visits = Visits()
    visits.left -= 1
    if visits.left < 0:
        raise NotSimple(f"its JSON form is over {MAX_VALUE_JSON} bytes")
    if depth > MAX_DEPTH:
        raise NotSimple("nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotSimple("a non-finite float has no JSON form")
        return value
    if isinstance(value, List | Tuple):
        return [_plain(v, depth + 1, visits) for v in value.items]
    pairs = mapping_pairs(value)
    if pairs is not None:
        out: dict[str, object] = {}
        for key, item in pairs:
            if not isinstance(key, str):
                raise NotSimple("a dict with non-string keys")
            out[key] = _plain(item, depth + 1, visits)
        return out
    name = qualname(value)
    if name == "torch.Size" and isinstance(value, Obj) and isinstance(value.args, Tuple):
        if len(value.args.items) != 1:
            raise NotSimple("a torch.Size without exactly one argument")
        return _plain(value.args.items[0], depth + 1, visits)
    if name in _NUMPY_SCALAR and isinstance(value, Obj):
        return _numpy_scalar(value)
    if isinstance(value, bytes):
        raise NotSimple("bytes")
    if name is not None:
        raise NotSimple(f"an object made by {name}")
    raise NotSimple(f"a {type(value).__name__.lower()} value")


def simple_json(value: Value, shared: Visits | None = None) -> str:
    """The JSON text kept for a simple value.

    Args:
        shared: visits left for the whole checkpoint (charged with what this one used).

    Raises:
        NotSimple: the value is not simple, or its JSON is larger than `MAX_VALUE_JSON`.
    """
    visits = Visits(MAX_VALUE_JSON if shared is None else min(MAX_VALUE_JSON, shared.left))
    start = visits.left
    try:
        plain = _plain(value, 0, visits)
    finally:
        if shared is not None:
            shared.left -= start - visits.left
    text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_VALUE_JSON:
        raise NotSimple(f"its JSON form is {len(text)} bytes (limit {MAX_VALUE_JSON})")
    return text
