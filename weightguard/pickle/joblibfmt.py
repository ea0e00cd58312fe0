"""joblib's in-stream arrays: skip the raw bytes after each NumpyArrayWrapper, exactly.

joblib (joblib/numpy_pickle.py, `NumpyUnpickler.load_build` and
`NumpyArrayWrapper.read_array`) pops the wrapper after BUILD and reads the array from
the *file* that follows: for object dtypes a whole nested `pickle.load`, otherwise an
optional padding-length byte plus padding (``numpy_array_alignment_bytes``) and then
``prod(shape) * itemsize`` raw bytes; unpickling then continues after them. The wrapper
is written right after the pickler commits its frame, so a frame still open at that
point means the array bytes and the frame overlap: readers would disagree, we refuse.
"""

from __future__ import annotations

import re

from weightguard.pickle.machine import Machine
from weightguard.pickle.opcodes import NAMES
from weightguard.pickle.reader import StreamError
from weightguard.pickle.values import Dict, Global, Obj, Tuple, Value, callee_global
from weightguard.pickle.vm import parse_pickle

_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_TYPESTR = re.compile(r"([<>|=]?)([a-zA-Z?])(\d*)(\[[a-zA-Z0-9]+\])?")
# Sizes of numpy's one-letter type codes (numpy/_core/_type_aliases, "sctypeDict").
_CHAR_SIZE = {
    "?": 1,
    "b": 1,
    "B": 1,
    "h": 2,
    "H": 2,
    "i": 4,
    "I": 4,
    "l": 8,
    "L": 8,
    "q": 8,
    "Q": 8,
    "e": 2,
    "f": 4,
    "d": 8,
    "g": 16,
    "F": 8,
    "D": 16,
    "G": 32,
    "p": 8,
    "P": 8,
}


def _origin(target: Value) -> str | None:
    if isinstance(target, Obj) and isinstance(target.callee, Global):
        callee = target.callee.qualname
        if (
            callee == "copyreg.__newobj__"
            and isinstance(target.args, Tuple)
            and target.args.items
            and isinstance(target.args.items[0], Global)
        ):
            return target.args.items[0].qualname
        return callee
    return None


def dtype_layout(dtype: Value) -> tuple[int, bool] | None:
    """(itemsize, has_object) of a symbolic ``numpy.dtype(...)`` object, if determinable."""
    g = callee_global(dtype)
    if g is None or g.qualname != "numpy.dtype" or not isinstance(dtype, Obj):
        return None
    args = dtype.args.items if isinstance(dtype.args, Tuple) else ()
    if not args or not isinstance(args[0], str):
        return None
    match = _TYPESTR.fullmatch(args[0])
    if match is None:
        return None
    _order, char, digits, _unit = match.groups()
    state = dtype.state[-1].items if dtype.state and isinstance(dtype.state[-1], Tuple) else ()
    if dtype.state and not state:
        return None  # a BUILD state we cannot read
    fields = state[4] if len(state) > 4 else None
    # numpy's arraydescr_setstate takes elsize for flexible types and the flags as
    # given: a pickled state can change the item size joblib reads, or set
    # NPY_ITEM_HASOBJECT (joblib then calls pickle.load). Accept only numpy's own values.
    flags = state[7] if len(state) > 7 else 0
    if type(flags) is not int or (flags and char != "O" and not isinstance(fields, Dict)):
        return None
    if len(state) > 2 and state[2] is not None:
        return None  # a sub-array
    if isinstance(fields, Dict):
        if flags & 0x01:
            return None  # object flags on a structured dtype: leave it to a refusal
        has_object = False
        for _name, spec in fields.items:
            inner = spec.items[0] if isinstance(spec, Tuple) and spec.items else None
            layout = dtype_layout(inner)
            if layout is None:
                return None
            has_object = has_object or layout[1]
        elsize = state[5] if len(state) > 5 else None
        return (elsize, has_object) if type(elsize) is int and elsize >= 0 else None
    if char == "O":
        return 8, True
    natural = None
    if digits:
        size = int(digits)
        natural = size * 4 if char == "U" else size
    elif char in _CHAR_SIZE:
        natural = _CHAR_SIZE[char]
    elsize = state[5] if len(state) > 5 else -1
    if natural is None or (elsize != -1 and elsize != natural):
        return None
    return natural, False


def joblib_hook(m: Machine, target: Value, offset: int) -> None:
    """BUILD hook: after a NumpyArrayWrapper, consume its array exactly as joblib does."""
    if _origin(target) != _WRAPPER:
        return
    assert isinstance(target, Obj)
    state = target.state[-1] if target.state else None
    fields = {k: v for k, v in state.items if isinstance(k, str)} if isinstance(state, Dict) else {}
    layout = dtype_layout(fields.get("dtype"))
    shape = fields.get("shape")
    if (
        layout is None
        or not isinstance(shape, Tuple)
        or not all(type(d) is int and d >= 0 for d in shape.items)
    ):
        raise StreamError(
            "joblib.array_header", "joblib array wrapper has no readable dtype/shape", offset
        )
    if not m.reader.frame_consumed():
        raise StreamError(
            "joblib.frame", "joblib array data starts inside a FRAME", offset, evasive=True
        )
    itemsize, has_object = layout
    if has_object:
        # joblib calls pickle.load on the file: a whole nested pickle, same policy.
        nested = parse_pickle(m.reader, limits=m.limits, build_hook=joblib_hook, budget=m.budget)
        m.nested.append(nested)
        if nested.error is not None:
            raise StreamError("joblib.object_array", "the object array pickle is broken", offset)
        if not m.reader.frame_consumed():
            raise StreamError(
                "joblib.frame", "an object array pickle ends inside a FRAME", offset, evasive=True
            )
        return
    count = 1
    for dim in shape.items:
        assert isinstance(dim, int)
        count *= dim
    nbytes = count * itemsize
    if "numpy_array_alignment_bytes" in fields:
        pad = m.reader.read1()
        if pad > 64:
            raise StreamError("joblib.array_header", "implausible array padding", offset)
        m.reader.skip(pad)
    elif nbytes and m.reader.peek(1)[:1] and m.reader.peek(1)[0] in NAMES:
        # Without the padding byte, plain pickle.load would read these array bytes as
        # opcodes while joblib skips them: we cannot rule out a second reading.
        raise StreamError(
            "joblib.ambiguous_array",
            "unpadded joblib array data also parses as pickle opcodes",
            offset,
        )
    m.reader.skip(nbytes)
