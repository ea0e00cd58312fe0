"""Argument and state conditions for the numpy profiles: arrays, dtypes, joblib, RNG.

Facts from numpy/_core (``_reconstruct``, ``scalar``, ``_frombuffer``, dtype and ndarray
``__setstate__``), joblib/numpy_pickle.py (``NumpyArrayWrapper``) and numpy/random
(``_pickle`` constructors, SeedSequence). Each condition returns None when the use is
safe, else a reason.
"""

from __future__ import annotations

import re

from weightguard.pickle.graphwalk import within
from weightguard.pickle.values import (
    Buffer,
    ByteArray,
    BytesRef,
    Dict,
    Global,
    List,
    Obj,
    Tuple,
    Value,
)
from weightguard.scan.conditions import (
    Context,
    args_of,
    int_tuple,
    is_constant,
    is_int,
    is_plain,
    made_by,
    strdict_state,
)
from weightguard.scan.model import Role

# Compiled on first use through re's own cache.
_DTYPE_STR = r"[<>|=]?[a-zA-Z?]\d*(\[[a-zA-Z0-9]+\])?"

_ARRAY_TYPES = ("numpy.ndarray",)


def is_dtype(v: Value) -> bool:
    """An object made by ``numpy.dtype(...)``."""
    return made_by(v, "numpy.dtype")


def np_dtype(obj: Obj, ctx: Context) -> str | None:
    """``numpy.dtype('f8', align, copy)``: a type string, never an object."""
    args = args_of(obj)
    if not args or not isinstance(args[0], str) or not re.fullmatch(_DTYPE_STR, args[0]):
        return "numpy.dtype needs a type string"
    return None if all(isinstance(a, bool) for a in args[1:3]) else "bad dtype flags"


def np_dtype_state(state: Value, ctx: Context) -> str | None:
    """dtype ``__setstate__`` tuple: constants, names, fields of nested dtypes only."""
    ok = within(state, "dtype-state", _dtype_leaf, (Tuple, Dict), ctx.walks, 16)
    return None if ok else "dtype state holds something else"


def _dtype_leaf(v: Value) -> bool:
    return v is None or isinstance(v, bool | int | float | str | bytes) or is_dtype(v)


def np_reconstruct(obj: Obj, ctx: Context) -> str | None:
    """``_reconstruct(ndarray, (0,), b'b')``: allocates an empty array of the subtype."""
    args = args_of(obj)
    if len(args) != 3 or not isinstance(args[0], Global) or args[0].qualname not in _ARRAY_TYPES:
        return "_reconstruct may only build numpy.ndarray"
    if int_tuple(args[1]) is None or not (
        isinstance(args[2], bytes | str) or made_by(args[2], "_codecs.encode")
    ):
        return "_reconstruct shape/dtype arguments are not literals"
    return None


def np_array_state(state: Value, ctx: Context) -> str | None:
    """ndarray ``__setstate__((version, shape, dtype, fortran, data))``."""
    if not isinstance(state, Tuple) or len(state.items) not in (4, 5):
        return "array state is not a 4/5-tuple"
    items = state.items
    if len(items) == 5:
        items = items[1:]
    shape, dtype, fortran, data = items
    if int_tuple(shape) is None or not is_dtype(dtype) or not isinstance(fortran, bool):
        return "array state shape/dtype/order are not literals"
    if isinstance(data, bytes | BytesRef | str):
        return None
    if made_by(data, "_codecs.encode"):
        return None
    if isinstance(data, List):
        # Object arrays: the elements are ordinary pickled values, judged on their own.
        return None
    return "array data is not bytes or a list"


def np_scalar(obj: Obj, ctx: Context) -> str | None:
    """``scalar(dtype, bytes)`` (or an object scalar holding a plain value)."""
    args = args_of(obj)
    if len(args) not in (1, 2) or not is_dtype(args[0]):
        return "scalar takes a dtype and its bytes"
    if (
        len(args) == 2
        and not isinstance(args[1], bytes | str)
        and not made_by(args[1], "_codecs.encode")
        and not is_plain(args[1], ctx)
    ):
        return "scalar data is not bytes"
    return None


def np_frombuffer(obj: Obj, ctx: Context) -> str | None:
    """``_frombuffer(buffer, dtype, shape, order)`` (protocol 5 arrays)."""
    args = args_of(obj)
    if len(args) != 4:
        return "expected (buffer, dtype, shape, order)"
    buf, dtype, shape, order = args
    if not isinstance(buf, bytes | BytesRef | ByteArray | Buffer):
        return "buffer is not bytes"
    if not is_dtype(dtype) or int_tuple(shape) is None or order not in ("C", "F"):
        return "dtype/shape/order are not literals"
    return None


def joblib_wrapper_state(state: Value, ctx: Context) -> str | None:
    """NumpyArrayWrapper state: subclass ndarray, literal shape/order, a dtype."""
    if not isinstance(state, Dict):
        return "wrapper state is not a dict"
    fields = {k: v for k, v in state.items if isinstance(k, str)}
    sub = fields.get("subclass")
    if not isinstance(sub, Global) or sub.qualname not in ("numpy.ndarray", "numpy.memmap"):
        return "wrapper subclass must be numpy.ndarray"
    if int_tuple(fields.get("shape")) is None or fields.get("order") not in ("C", "F"):
        return "wrapper shape/order are not literals"
    if not is_dtype(fields.get("dtype")):
        return "wrapper dtype is not a numpy dtype"
    extra = set(fields) - {
        "subclass",
        "shape",
        "order",
        "dtype",
        "allow_mmap",
        "numpy_array_alignment_bytes",
    }
    return f"unexpected wrapper fields {sorted(extra)}" if extra else None


def rng_ctor(obj: Obj, ctx: Context) -> str | None:
    """numpy.random ``__*_ctor(name-or-class[, ...])``: the bit generator is pinned."""
    for arg in args_of(obj):
        if isinstance(arg, str):
            if arg not in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"):
                return f"unknown bit generator {arg!r}"
        elif isinstance(arg, Global):
            if not ctx.allows(arg, Role.VALUE):
                return "bit generator class is not allowlisted"
        elif not made_by(arg, "numpy.random._pickle.__bit_generator_ctor"):
            return "unexpected constructor argument"
    return None


def rng_state(state: Value, ctx: Context) -> str | None:
    """Bit generator state: a str-keyed dict, or (dict, SeedSequence) in numpy 2."""
    if isinstance(state, Tuple) and len(state.items) == 2:
        first, second = state.items
        if second is None or made_by(
            second, "numpy.random.bit_generator.__pyx_unpickle_SeedSequence"
        ):
            return strdict_state(first, ctx)
        return "bit generator state holds something other than a SeedSequence"
    return strdict_state(state, ctx)


def seedseq_unpickle(obj: Obj, ctx: Context) -> str | None:
    """Cython ``__pyx_unpickle_SeedSequence(type, checksum, state)``."""
    args = args_of(obj)
    if (
        len(args) != 3
        or not isinstance(args[0], Global)
        or args[0].qualname != "numpy.random.bit_generator.SeedSequence"
    ):
        return "expected (SeedSequence, checksum, state)"
    return None if is_int(args[1]) else "checksum is not an int"


_ARRAY_MAKERS = tuple(
    f"{m}.{f}"
    for m in ("numpy.core", "numpy._core")
    for f in ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")
)


def _data_leaf(v: Value) -> bool:
    return is_constant(v) or made_by(v, *_ARRAY_MAKERS)


def plain_state(state: Value, ctx: Context) -> str | None:
    """BUILD state made of plain values and numpy arrays only."""
    ok = within(state, "data", _data_leaf, (Tuple, List, Dict), ctx.walks, 32)
    return None if ok else "state is not plain data"
