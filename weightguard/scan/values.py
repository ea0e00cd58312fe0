"""Symbolic values of the pickle machine: what each opcode would have built, never built.

The VM (`weightguard.scan.vm`) pushes these instead of real objects. Constants are plain
Python values (None, bool, int, float, str, bytes); everything that CPython would create
by importing or calling is a node here, so nothing is ever imported or called.

Containers are mutable while the VM runs, because pickles mutate them after creation
(APPENDS, SETITEMS, BUILD). Nodes compare by identity, like the objects they stand for
(a memoised list fetched twice is the same node). After `parse_pickle` returns, treat the
graph as read-only: converters walk it (`Obj.callee`, `Obj.args`, `Obj.items`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(eq=False, slots=True)
class Global:
    """A global resolved by GLOBAL, STACK_GLOBAL or INST: ``module`` plus ``name``.

    ``name`` may be dotted (a qualname); it is kept exactly as in the stream, after the
    protocol <3 ``fix_imports`` mapping CPython applies (Lib/_compat_pickle.py).
    """

    module: str
    name: str
    offset: int
    opcode: str

    @property
    def qualname(self) -> str:
        """``module.name`` as one string."""
        return f"{self.module}.{self.name}"


@dataclass(eq=False, slots=True)
class Tuple:
    """A tuple (immutable in pickle, but it may hold mutable nodes)."""

    items: tuple[Value, ...]


@dataclass(eq=False, slots=True)
class List:
    """A list built by EMPTY_LIST/LIST and grown by APPEND(S)."""

    items: list[Value] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Dict:
    """A dict built by EMPTY_DICT/DICT and grown by SETITEM(S); pairs in stream order."""

    items: list[tuple[Value, Value]] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Set:
    """A set built by EMPTY_SET and grown by ADDITEMS."""

    items: list[Value] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class FrozenSet:
    """A frozenset built by FROZENSET."""

    items: tuple[Value, ...]


@dataclass(eq=False, slots=True)
class ByteArray:
    """A bytearray built by BYTEARRAY8 (protocol 5 in-band buffer)."""

    data: bytes | BytesRef


@dataclass(eq=False, slots=True)
class BytesRef:
    """A bytes constant too large to keep in memory: where it lies in the stream.

    ``offset`` is relative to the start of the stream the pickle was read from.
    """

    offset: int
    length: int


@dataclass(eq=False, slots=True)
class LegacyString:
    """A protocol 0/1 STRING/BINSTRING whose bytes are not ASCII.

    CPython decodes these with the loader's ``encoding`` (ASCII by default, UTF-8 in
    torch, latin-1 in some numpy paths, or keeps bytes), so their type depends on the
    caller: we never treat them as ``str``.
    """

    raw: bytes


@dataclass(eq=False, slots=True)
class Buffer:
    """An out-of-band buffer (NEXT_BUFFER), optionally made read-only."""

    index: int
    readonly: bool = False


@dataclass(eq=False, slots=True)
class PersistentRef:
    """The result of PERSID/BINPERSID: whatever the loader's ``persistent_load`` returns.

    ``pid`` is the symbolic persistent id (for torch: ``('storage', Global, key, ...)``).
    """

    pid: Value
    offset: int
    opcode: str


@dataclass(eq=False, slots=True)
class Ext:
    """The result of EXT1/2/4: a global looked up in the copyreg extension registry."""

    code: int
    offset: int
    opcode: str


@dataclass(eq=False, slots=True)
class Obj:
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

    kind: str
    callee: Value
    args: Value
    offset: int
    opcode: str
    kwargs: Value = None
    state: list[Value] = field(default_factory=list)
    items: list[tuple[Value, Value]] = field(default_factory=list)
    appended: list[Value] = field(default_factory=list)


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
