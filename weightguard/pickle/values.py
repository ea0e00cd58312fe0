"""Symbolic values of the pickle machine: what each opcode would have built, never built.

The VM (`weightguard.pickle.vm`) pushes these instead of real objects. Constants are plain
Python values (None, bool, int, float, str, bytes); everything that CPython would create
by importing or calling is a node here, so nothing is ever imported or called.

Containers are mutable while the VM runs, because pickles mutate them after creation
(APPENDS, SETITEMS, BUILD). Nodes compare by identity, like the objects they stand for
(a memoised list fetched twice is the same node). After `parse_pickle` returns, treat the
graph as read-only: converters walk it (`Obj.callee`, `Obj.args`, `Obj.items`, ...).

Why plain classes with ``__slots__`` and not dataclasses: these nodes are mutable,
identity-compared working state of the VM, not values (the house rule of frozen
dataclasses is for values, e.g. `weightguard.scan.model`). The module sits on the
start-up path of every `weightguard scan`, and generating thirteen dataclasses costs
about 6 ms there (each one compiles its methods at import); the hand-written classes
below cost almost nothing and keep the same constructors, attributes and identity
semantics.
"""

from __future__ import annotations

from typing import Union


class _Node:
    """Common behaviour: identity equality (object's) and a field-listing repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        slots: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in slots)
        return f"{type(self).__name__}({fields})"


class Global(_Node):
    """A global resolved by GLOBAL, STACK_GLOBAL or INST: ``module`` plus ``name``.

    ``name`` may be dotted (a qualname); it is kept exactly as in the stream, after the
    protocol <3 ``fix_imports`` mapping CPython applies (Lib/_compat_pickle.py).
    """

    __slots__ = ("module", "name", "offset", "opcode")

    def __init__(self, module: str, name: str, offset: int, opcode: str) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        self.opcode = opcode

    @property
    def qualname(self) -> str:
        """``module.name`` as one string."""
        return f"{self.module}.{self.name}"


class Tuple(_Node):
    """A tuple (immutable in pickle, but it may hold mutable nodes)."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Value, ...]) -> None:
        self.items = items


class List(_Node):
    """A list built by EMPTY_LIST/LIST and grown by APPEND(S)."""

    __slots__ = ("items",)

    def __init__(self, items: list[Value] | None = None) -> None:
        self.items: list[Value] = [] if items is None else items


class Dict(_Node):
    """A dict built by EMPTY_DICT/DICT and grown by SETITEM(S); pairs in stream order."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[Value, Value]] | None = None) -> None:
        self.items: list[tuple[Value, Value]] = [] if items is None else items


class Set(_Node):
    """A set built by EMPTY_SET and grown by ADDITEMS."""

    __slots__ = ("items",)

    def __init__(self, items: list[Value] | None = None) -> None:
        self.items: list[Value] = [] if items is None else items


class FrozenSet(_Node):
    """A frozenset built by FROZENSET."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Value, ...]) -> None:
        self.items = items


class ByteArray(_Node):
    """A bytearray built by BYTEARRAY8 (protocol 5 in-band buffer)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | BytesRef) -> None:
        self.data = data


class BytesRef(_Node):
    """A bytes constant too large to keep in memory: where it lies in the stream.

    ``offset`` is relative to the start of the stream the pickle was read from.
    """

    __slots__ = ("length", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length


class LegacyString(_Node):
    """A protocol 0/1 STRING/BINSTRING whose bytes are not ASCII.

    CPython decodes these with the loader's ``encoding`` (ASCII by default, UTF-8 in
    torch, latin-1 in some numpy paths, or keeps bytes), so their type depends on the
    caller: we never treat them as ``str``.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


class Buffer(_Node):
    """An out-of-band buffer (NEXT_BUFFER), optionally made read-only."""

    __slots__ = ("index", "readonly")

    def __init__(self, index: int, readonly: bool = False) -> None:
        self.index = index
        self.readonly = readonly


class PersistentRef(_Node):
    """The result of PERSID/BINPERSID: whatever the loader's ``persistent_load`` returns.

    ``pid`` is the symbolic persistent id (for torch: ``('storage', Global, key, ...)``).
    """

    __slots__ = ("offset", "opcode", "pid")

    def __init__(self, pid: Value, offset: int, opcode: str) -> None:
        self.pid = pid
        self.offset = offset
        self.opcode = opcode


class Ext(_Node):
    """The result of EXT1/2/4: a global looked up in the copyreg extension registry."""

    __slots__ = ("code", "offset", "opcode")

    def __init__(self, code: int, offset: int, opcode: str) -> None:
        self.code = code
        self.offset = offset
        self.opcode = opcode


class Obj(_Node):
    """An object CPython would create by calling or instantiating something.

    Attributes:
        kind: ``reduce`` (REDUCE: ``callee(*args)``), ``newobj`` (NEWOBJ/NEWOBJ_EX:
            ``callee.__new__(callee, *args, **kwargs)``), ``inst`` (INST/OBJ: ``callee(*args)``).
        callee: the callable or class node (normally a `Global`).
        args: the positional arguments (a `Tuple`; INST/OBJ collect them from the mark).
        kwargs: NEWOBJ_EX keyword arguments, else None.
        state: every BUILD state applied to the object, in order.
        items: SETITEM(S) pairs applied to it; appended: APPEND(S) values applied to it.
    """

    __slots__ = (
        "appended",
        "args",
        "callee",
        "items",
        "kind",
        "kwargs",
        "offset",
        "opcode",
        "state",
    )

    def __init__(
        self,
        kind: str,
        callee: Value,
        args: Value,
        offset: int,
        opcode: str,
        kwargs: Value = None,
        state: list[Value] | None = None,
        items: list[tuple[Value, Value]] | None = None,
        appended: list[Value] | None = None,
    ) -> None:
        self.kind = kind
        self.callee = callee
        self.args = args
        self.offset = offset
        self.opcode = opcode
        self.kwargs = kwargs
        self.state: list[Value] = [] if state is None else state
        self.items: list[tuple[Value, Value]] = [] if items is None else items
        self.appended: list[Value] = [] if appended is None else appended


Node = Union[  # noqa: UP007 - a runtime alias; `X | Y` of forward refs needs 3.10 objects
    Global,
    Tuple,
    List,
    Dict,
    Set,
    FrozenSet,
    ByteArray,
    BytesRef,
    LegacyString,
    Buffer,
    PersistentRef,
    Ext,
    Obj,
]
Value = Union[  # noqa: UP007
    None, bool, int, float, complex, str, bytes, Node
]


def callee_global(value: Value) -> Global | None:
    """The `Global` an object was made by, when it was made by a call to a global."""
    if isinstance(value, Obj) and isinstance(value.callee, Global):
        return value.callee
    return None


def mapping_items(value: Value) -> list[tuple[Value, Value]] | None:
    """Key/value pairs of a dict-like node (a plain dict or a SETITEMS-filled object)."""
    if isinstance(value, Dict):
        return value.items
    if isinstance(value, Obj):
        return value.items
    return None


def str_keyed(value: Value) -> dict[str, Value] | None:
    """A plain `Dict` whose keys are all ``str`` as a Python dict, else None."""
    if not isinstance(value, Dict):
        return None
    out: dict[str, Value] = {}
    for key, item in value.items:
        if not isinstance(key, str):
            return None
        out[key] = item
    return out
