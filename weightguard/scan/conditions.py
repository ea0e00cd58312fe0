"""Argument and state conditions for conditional allowlist entries (design note 8.2).

A condition looks at the symbolic call (`Obj`) or BUILD state and returns None when
the use is safe, or a one-line reason when it is not. Conditions matter for globals
that are safe only with pinned arguments: `_rebuild_from_type_v2` calls its first
argument, `defaultdict` calls its factory, `copyreg` reconstructors instantiate their
class argument, numpy `_reconstruct` instantiates its subtype. Everything here is pure:
no imports of the libraries named, no I/O.

This module holds the shared helpers and the Python-core conditions; the torch ones are
in `weightguard.scan.conditions_torch` and the numpy ones (arrays, dtypes, joblib
wrappers, RNG state) in `weightguard.scan.conditions_numpy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from weightguard.pickle.graphwalk import Cache, within
from weightguard.pickle.values import (
    BytesRef,
    Dict,
    Global,
    List,
    Obj,
    PersistentRef,
    Tuple,
    Value,
    callee_global,
)
from weightguard.scan.model import Role


class Context(Protocol):
    """What conditions may ask the judge."""

    def allows(self, node: Value, role: Role) -> bool:
        """True if `node` is a Global allowlisted for `role`."""

    def check_call(self, callee: Global, args: Tuple) -> str | None:
        """Judge a call the callee makes itself (``_rebuild_from_type_v2``)."""

    @property
    def walks(self) -> Cache:
        """Results of value-graph walks for this stream (`weightguard.pickle.graphwalk`)."""


Cond = Callable[[Obj, Context], "str | None"]
StateCond = Callable[[Value, Context], "str | None"]


def args_of(obj: Obj) -> tuple[Value, ...]:
    """The positional arguments of a call (empty unless they are a tuple)."""
    return obj.args.items if isinstance(obj.args, Tuple) else ()


def is_int(v: Value) -> bool:
    """An int that is not a bool."""
    return type(v) is int


def int_tuple(v: Value) -> tuple[int, ...] | None:
    """A tuple of ints as Python ints, else None."""
    if not isinstance(v, Tuple) or not all(is_int(x) for x in v.items):
        return None
    return tuple(x for x in v.items if isinstance(x, int))


def is_constant(v: Value) -> bool:
    """None, bool, numbers, str and bytes (literal or skipped)."""
    return v is None or isinstance(v, bool | int | float | complex | str | bytes | BytesRef)


_PLAIN_CONTAINERS = (Tuple, List, Dict)


def is_plain(v: Value, ctx: Context) -> bool:
    """Constants and plain containers of them, nested at most 32 deep, no cycles.

    One memoised iterative walk (`weightguard.pickle.graphwalk`): shared nodes are
    visited once per stream, however many paths or calls reach them.
    """
    return within(v, "plain", is_constant, _PLAIN_CONTAINERS, ctx.walks, 32)


def made_by(v: Value, *qualnames: str) -> bool:
    """True if `v` is an object made by calling one of the named globals."""
    g = callee_global(v)
    return g is not None and g.qualname in qualnames


def empty_ordered_dict(v: Value) -> bool:
    """``OrderedDict()`` with nothing added (torch's backward_hooks)."""
    return (
        isinstance(v, Obj)
        and made_by(v, "collections.OrderedDict")
        and not v.items
        and not v.state
        and not args_of(v)
    )


# -- Python core ---------------------------------------------------------------------


def no_args(obj: Obj, ctx: Context) -> str | None:
    """Called with no arguments (OrderedDict's reduce)."""
    return None if not args_of(obj) and obj.kwargs is None else "expected no arguments"


def plain_args(obj: Obj, ctx: Context) -> str | None:
    """Only constants and plain containers as arguments."""
    if obj.kwargs is not None and not is_plain(obj.kwargs, ctx):
        return "keyword arguments are not plain values"
    return None if is_plain(obj.args, ctx) else "arguments are not plain values"


def set_args(obj: Obj, ctx: Context) -> str | None:
    """``set()``, ``set([...])`` with plain items."""
    args = args_of(obj)
    if not args or (len(args) == 1 and isinstance(args[0], List | Tuple)):
        return plain_args(obj, ctx) if not args else None
    return "set/frozenset takes one list"


def bytearray_args(obj: Obj, ctx: Context) -> str | None:
    """``bytearray()``, ``bytearray(b'..')`` or ``bytearray(str, 'latin-1')`` (protocol 2)."""
    args = args_of(obj)
    if not args or (len(args) == 1 and isinstance(args[0], bytes | BytesRef)):
        return None
    if len(args) == 1 and made_by(args[0], "_codecs.encode"):
        return None
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin-1", "latin1"):
        return None
    return "bytearray arguments are not literal bytes"


def codecs_encode(obj: Obj, ctx: Context) -> str | None:
    """``_codecs.encode(str, 'latin1')``: how protocol 2 spells bytes."""
    args = args_of(obj)
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return None
    return "_codecs.encode is only allowed as encode(str, 'latin1')"


_FACTORIES = frozenset(
    f"builtins.{n}" for n in ("list", "dict", "set", "int", "float", "str", "tuple", "frozenset")
) | {"collections.OrderedDict", "collections.Counter"}


def defaultdict_args(obj: Obj, ctx: Context) -> str | None:
    """``defaultdict(factory)``: the factory runs on a missing key, so it is pinned."""
    args = args_of(obj)
    if not args:
        return None
    factory = args[0]
    if factory is None or (isinstance(factory, Global) and factory.qualname in _FACTORIES):
        return None if len(args) == 1 else "defaultdict takes only a factory"
    return "defaultdict factory must be a plain container or number type"


def deque_args(obj: Obj, ctx: Context) -> str | None:
    """``deque(iterable, maxlen)`` with plain values."""
    args = args_of(obj)
    if len(args) <= 2 and all(is_plain(a, ctx) for a in args):
        return None
    return "deque arguments are not plain values"


_RECON_BASES = frozenset(f"builtins.{n}" for n in ("object", "dict", "list", "set", "tuple"))


def copyreg_reconstructor(obj: Obj, ctx: Context) -> str | None:
    """``_reconstructor(cls, base, state)`` instantiates `cls`: both are pinned."""
    args = args_of(obj)
    if len(args) != 3:
        return "expected (cls, base, state)"
    cls, base, state = args
    if not ctx.allows(cls, Role.NEW):
        return "the class it instantiates is not allowlisted for construction"
    if not isinstance(base, Global) or base.qualname not in _RECON_BASES:
        return "base must be object, dict, list, set or tuple"
    return None if is_plain(state, ctx) else "state is not a plain value"


def copyreg_newobj(obj: Obj, ctx: Context) -> str | None:
    """``__newobj__(cls, *args)`` is ``cls.__new__(cls, *args)``: cls is pinned."""
    args = args_of(obj)
    if not args or not ctx.allows(args[0], Role.NEW):
        return "the class it instantiates is not allowlisted for construction"
    return None if all(is_plain(a, ctx) for a in args[1:]) else "arguments are not plain"


def enum_args(obj: Obj, ctx: Context) -> str | None:
    """``SomeEnum(value)``: a lookup by literal value."""
    args = args_of(obj)
    ok = len(args) == 1 and isinstance(args[0], str | int) and obj.kwargs is None
    return None if ok else "enum lookup takes one literal value"


def str_args(obj: Obj, ctx: Context) -> str | None:
    """Only str arguments (pathlib parts)."""
    ok = obj.kwargs is None and all(isinstance(a, str) for a in args_of(obj))
    return None if ok else "arguments must be strings"


def strdict_state(state: Value, ctx: Context) -> str | None:
    """BUILD state: a dict with str keys and no dunder keys (blocks BUILD-as-setattr)."""
    if isinstance(state, Tuple) and len(state.items) == 2:
        # (dict_state, slot_state): Lib/pickle.py load_build handles both halves.
        first, second = state.items
        return strdict_state(first, ctx) or (None if second is None else strdict_state(second, ctx))
    if state is None:
        return None
    if not isinstance(state, Dict):
        return "BUILD state is not a dict"
    for key, _value in state.items:
        if not isinstance(key, str):
            return "BUILD state has a non-str key"
        if key.startswith("__") and key.endswith("__"):
            return f"BUILD state sets the special attribute {key!r}"
    return None


def storage_numel(ref: PersistentRef) -> int | None:
    """Elements a torch storage persistent id claims (its view size in legacy files)."""
    pid = ref.pid
    if not isinstance(pid, Tuple) or len(pid.items) < 5 or not is_int(pid.items[4]):
        return None
    if len(pid.items) == 6 and isinstance(pid.items[5], Tuple):
        view = pid.items[5].items
        if len(view) == 3 and is_int(view[2]):
            return view[2] if isinstance(view[2], int) else None
    numel = pid.items[4]
    return numel if isinstance(numel, int) else None
