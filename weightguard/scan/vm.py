"""The strict symbolic pickle machine: CPython's opcode semantics, nothing executed.

`parse_pickle(reader)` runs one pickle stream, protocols 0 to 5, the way
`Modules/_pickle.c` (`load()` and its `load_*` functions) and `Lib/pickle.py`
(`_Unpickler.load_*`) do, but pushes symbolic values (`weightguard.scan.values`) instead
of importing or calling anything. Each opcode that would import, call, mutate an object
or ask the loader for something becomes an `Event`; the policy judge
(`weightguard.scan.judge`) decides on those events, and a converter can walk `root`.

Where the two CPython unpicklers (or CPython and the opcode listers other scanners use)
could read a stream differently, we refuse instead of guessing: frame misuse
(`reader.py`), STRING escapes, non-decimal text integers, non-tuple REDUCE and NEWOBJ
arguments stop the run as "evasive" (unsafe); truncation, unknown opcodes and budgets
stop it as incomplete. Differentials with one clear CPython meaning (PROTO after the
first opcode, memo overwrites, values left on the stack at STOP) are recorded as
anomalies (unsafe) and the run continues with CPython's semantics, so what follows
them is judged too. The machine never raises: a `StreamError` ends the
run and is returned with the events seen before it, because CPython runs that prefix.
"""

from __future__ import annotations

import _compat_pickle  # the fix_imports tables CPython's unpicklers use (data only)
import codecs
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from weightguard.scan.model import Limits
from weightguard.scan.opcodes import HIGHEST_PROTOCOL, NAMES
from weightguard.scan.reader import Reader, StreamError
from weightguard.scan.values import (
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

_DECIMAL = re.compile(rb"-?(0|[1-9][0-9]*)\n")
_FLOAT = re.compile(rb"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\n|-?inf\n|nan\n")
_MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True)
class Event:
    """Something CPython would do beyond pushing constants.

    kind is one of: ``global`` (import; node = Global), ``call`` (node = Obj made by
    REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ), ``build`` (node = target, arg = state),
    ``setitems`` / ``appends`` / ``additems`` (node = target), ``persid`` (node =
    PersistentRef), ``ext`` (node = Ext), ``buffer`` (node = Buffer).
    """

    kind: str
    offset: int
    opcode: str
    node: Value
    arg: Value = None


@dataclass(frozen=True, slots=True)
class PickleProgram:
    """The symbolic run of one pickle stream.

    Attributes:
        root: the value STOP returned (None when the run ended with an error).
        protocol: the PROTO byte (0 when absent).
        start / end: stream offsets of the first opcode and just after STOP (or the error).
        events: every event, in stream order (see `Event`).
        error: why the run stopped early, if it did.
        anomalies: differentials the run went past, keeping CPython's semantics (a
            late PROTO, a memo overwrite, values left at STOP); each is reported unsafe.
        nested: pickles the loader reads from the same stream mid-run (joblib object arrays).
    """

    root: Value
    protocol: int
    start: int
    end: int
    events: tuple[Event, ...]
    error: StreamError | None = None
    anomalies: tuple[StreamError, ...] = field(default=())
    nested: tuple[PickleProgram, ...] = field(default=())


BuildHook = Callable[["Machine", Value, int], None]


def parse_pickle(
    reader: Reader, *, limits: Limits | None = None, build_hook: BuildHook | None = None
) -> PickleProgram:
    """Run one pickle stream from the reader's position to its STOP.

    Args:
        reader: positioned at the first opcode.
        limits: budgets (defaults when None).
        build_hook: called after each BUILD with (machine, target, opcode offset); joblib
            uses it to skip raw array bytes that follow a wrapper in the stream.

    Returns:
        The program; `error` is set (and `root` is None) if the stream was rejected.
    """
    return Machine(reader, limits or Limits(), build_hook).run()


class Machine:
    """One run of the symbolic unpickler over a `Reader` (use `parse_pickle`)."""

    def __init__(self, reader: Reader, limits: Limits, build_hook: BuildHook | None) -> None:
        self.reader = reader
        self.limits = limits
        self.build_hook = build_hook
        self.stack: list[Value] = []
        self.marks: list[int] = []
        self.fence = 0
        self.memo: dict[int, Value] = {}
        self.events: list[Event] = []
        self.nested: list[PickleProgram] = []
        self.anomalies: list[StreamError] = []
        self.proto = 0
        self.op_offset = reader.offset
        self.items = 0
        self.buffers = 0
        self.root: Value = None
        self.start = reader.offset
        self._current = 0

    # -- plumbing --------------------------------------------------------------------

    def err(self, rule: str, message: str, *, evasive: bool = False) -> StreamError:
        """An error about the current opcode."""
        return StreamError(rule, message, self.op_offset, evasive=evasive)

    def anomaly(self, rule: str, message: str) -> None:
        """A differential we can step past with CPython's semantics (reported unsafe)."""
        if len(self.anomalies) < 100:
            self.anomalies.append(StreamError(rule, message, self.op_offset, evasive=True))

    def run(self) -> PickleProgram:
        """Execute opcodes until STOP; never raises StreamError."""
        reader = self.reader
        start = reader.offset
        dispatch = _DISPATCH
        max_ops = self.limits.max_opcodes
        count = 0
        error: StreamError | None = None
        try:
            while True:
                self.op_offset = reader.offset
                code = reader.read1()
                handler = dispatch.get(code)
                self._current = code
                if handler is None:
                    raise self.err("pickle.unknown_opcode", f"unknown opcode byte 0x{code:02x}")
                count += 1
                if count > max_ops:
                    raise self.err("pickle.budget", "too many opcodes")
                if handler(self):
                    break
        except StreamError as exc:
            error = exc
        except RecursionError:  # pragma: no cover - nothing here recurses deeply
            error = self.err("pickle.budget", "nesting too deep")
        return PickleProgram(
            root=None if error else self.root,
            protocol=self.proto,
            start=start,
            end=reader.offset,
            events=tuple(self.events),
            error=error,
            anomalies=tuple(self.anomalies),
            nested=tuple(self.nested),
        )

    def push(self, value: Value) -> None:
        """Push a value (bounded by max_stack)."""
        if len(self.stack) >= self.limits.max_stack:
            raise self.err("pickle.budget", "stack too deep")
        self.stack.append(value)

    def pop(self) -> Value:
        """Pop above the current mark, or fail like CPython's "stack underflow"."""
        if len(self.stack) <= self.fence:
            raise self.err("pickle.stack_underflow", "unpickling stack underflow")
        return self.stack.pop()

    def top(self) -> Value:
        """The top value above the current mark."""
        if len(self.stack) <= self.fence:
            raise self.err("pickle.stack_underflow", "unpickling stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Value]:
        """Pop everything above the last mark, and the mark (CPython `marker`/`pop_mark`)."""
        if not self.marks:
            raise self.err("pickle.no_mark", "an opcode needs a MARK and there is none")
        mark = self.marks.pop()
        items = self.stack[mark:]
        del self.stack[mark:]
        self.fence = self.marks[-1] if self.marks else 0
        return items

    def count_items(self, n: int) -> None:
        """Charge `n` container items against the budget."""
        self.items += n
        if self.items > self.limits.max_items:
            raise self.err("pickle.budget", "too many container items")

    def event(self, kind: str, node: Value, arg: Value = None) -> None:
        """Record an event at the current opcode."""
        self.events.append(Event(kind, self.op_offset, NAMES[self._current], node, arg))

    def readline(self) -> bytes:
        """A text argument, newline included."""
        return self.reader.readline(_MAX_LINE)

    def text_int(self, line: bytes, what: str) -> int:
        """A protocol 0 decimal integer; other spellings differ between C and Python."""
        if not _DECIMAL.fullmatch(line):
            raise self.err("pickle.text_quirk", f"{what} is not a plain decimal", evasive=True)
        return int(line[:-1])

    def sized(self, n: int) -> int:
        """Check a length prefix against the string budget."""
        if n < 0:
            raise self.err("pickle.negative_length", "negative byte count")
        if n > self.limits.max_string:
            raise self.err("pickle.budget", f"a {n}-byte constant exceeds the string budget")
        return n

    def read_bytes(self, n: int) -> bytes | BytesRef:
        """Read a bytes constant, or skip it and keep a reference if it is large."""
        if n > self.limits.inline_bytes:
            ref = BytesRef(self.reader.offset - self.reader.start, n)
            self.reader.skip(n)
            return ref
        return self.reader.read(n)

    def memo_put(self, index: int) -> None:
        """memo[index] = top; an overwrite is a differential (picklescan CTF class)."""
        if index in self.memo:
            self.anomaly("pickle.memo_overwrite", f"memo slot {index} is written twice")
        if len(self.memo) >= self.limits.max_memo:
            raise self.err("pickle.budget", "too many memo entries")
        self.memo[index] = self.top()

    def memo_get(self, index: int) -> None:
        """Push memo[index]; a missing index is a memo inconsistency."""
        try:
            value = self.memo[index]
        except KeyError:
            raise self.err(
                "pickle.memo_missing", f"memo slot {index} was never written", evasive=True
            ) from None
        self.push(value)

    def find_class(self, module: str, name: str) -> Global:
        """Resolve a global the way `Unpickler.find_class` names it (fix_imports for proto<3)."""
        if self.proto < 3:
            mapped = _compat_pickle.NAME_MAPPING.get((module, name))
            if mapped is not None:
                module, name = mapped
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        opcode = NAMES[self._current]
        node = Global(module, name, self.op_offset, opcode)
        self.events.append(Event("global", self.op_offset, opcode, node))
        return node

    def text_global(self) -> Global:
        """GLOBAL/INST operands: two UTF-8 lines (Lib/pickle.py `load_global`)."""
        try:
            module = self.readline()[:-1].decode("utf-8")
            name = self.readline()[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise self.err("pickle.bad_text", "global name is not UTF-8") from None
        return self.find_class(module, name)


# -- opcode handlers: each returns True only for STOP ------------------------------------

_u8 = struct.Struct("<Q").unpack
_u4 = struct.Struct("<I").unpack
_i4 = struct.Struct("<i").unpack
_u2 = struct.Struct("<H").unpack
_f8 = struct.Struct(">d").unpack


def _proto(m: Machine) -> bool:
    proto = m.reader.read1()
    if m.op_offset != m.start:
        m.anomaly("pickle.proto_position", "PROTO after the first opcode")
    if proto > HIGHEST_PROTOCOL:
        raise m.err("pickle.unsupported_protocol", f"unsupported pickle protocol {proto}")
    m.proto = proto
    return False


def _frame(m: Machine) -> bool:
    (length,) = _u8(m.reader.read(8))
    if length > m.limits.max_string:
        raise m.err("pickle.budget", "FRAME longer than the string budget")
    m.reader.open_frame(length, m.op_offset)
    return False


def _stop(m: Machine) -> bool:
    value = m.pop()
    if m.stack or m.marks:
        m.anomaly("pickle.stack_leftover", "values or marks left on the stack at STOP")
    m.root = value
    return True


def _mark(m: Machine) -> bool:
    if len(m.marks) >= m.limits.max_stack:
        raise m.err("pickle.budget", "too many marks")
    m.marks.append(len(m.stack))
    m.fence = len(m.stack)
    return False


def _pop(m: Machine) -> bool:
    # _pickle.c load_pop: at a mark boundary POP discards the mark instead of a value.
    if m.marks and m.marks[-1] == len(m.stack):
        m.pop_mark()
    else:
        m.pop()
    return False


def _pop_mark(m: Machine) -> bool:
    m.pop_mark()
    return False


def _dup(m: Machine) -> bool:
    m.push(m.top())
    return False


def _const(value: Value) -> Callable[[Machine], bool]:
    def handler(m: Machine) -> bool:
        m.push(value)
        return False

    return handler


def _float(m: Machine) -> bool:
    line = m.readline()
    if not _FLOAT.fullmatch(line):
        raise m.err("pickle.text_quirk", "FLOAT is not a plain float literal", evasive=True)
    m.push(float(line[:-1]))
    return False


def _int(m: Machine) -> bool:
    line = m.readline()
    if line == b"00\n":
        m.push(False)
    elif line == b"01\n":
        m.push(True)
    else:
        m.push(m.text_int(line, "INT"))
    return False


def _long(m: Machine) -> bool:
    line = m.readline()
    if line.endswith(b"L\n"):
        line = line[:-2] + b"\n"
    m.push(m.text_int(line, "LONG"))
    return False


def _binint(m: Machine) -> bool:
    m.push(_i4(m.reader.read(4))[0])
    return False


def _binint1(m: Machine) -> bool:
    m.push(m.reader.read1())
    return False


def _binint2(m: Machine) -> bool:
    m.push(_u2(m.reader.read(2))[0])
    return False


def _long1(m: Machine) -> bool:
    n = m.reader.read1()
    m.push(int.from_bytes(m.reader.read(n), "little", signed=True))
    return False


def _long4(m: Machine) -> bool:
    n = m.sized(_i4(m.reader.read(4))[0])
    m.push(int.from_bytes(m.reader.read(n), "little", signed=True))
    return False


def _binfloat(m: Machine) -> bool:
    m.push(_f8(m.reader.read(8))[0])
    return False


def _legacy_str(raw: bytes) -> Value:
    # Lib/pickle.py _decode_string: the loader's `encoding` decides the type; only
    # ASCII reads the same under every encoding.
    return raw.decode("ascii") if raw.isascii() else LegacyString(raw)


def _string(m: Machine) -> bool:
    data = m.readline()[:-1]
    if len(data) < 2 or data[0] != data[-1] or data[0] not in b"\"'":
        raise m.err("pickle.string_quotes", "STRING argument is not quoted")
    if b"\\" in data:
        # escape_decode rules are where the readers have disagreed; no pickler we
        # accept writes escapes here (Python 3 writes UNICODE or BINUNICODE).
        raise m.err("pickle.string_escape", "STRING argument has escapes", evasive=True)
    m.push(_legacy_str(data[1:-1]))
    return False


def _binstring(m: Machine) -> bool:
    n = m.sized(_i4(m.reader.read(4))[0])
    m.push(_legacy_str(m.reader.read(n)))
    return False


def _short_binstring(m: Machine) -> bool:
    m.push(_legacy_str(m.reader.read(m.reader.read1())))
    return False


def _unicode(m: Machine) -> bool:
    try:
        m.push(codecs.decode(m.readline()[:-1], "raw-unicode-escape"))
    except UnicodeDecodeError:
        raise m.err("pickle.bad_text", "UNICODE argument does not decode") from None
    return False


def _utf8(m: Machine, n: int) -> bool:
    try:
        m.push(m.reader.read(m.sized(n)).decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError:
        raise m.err("pickle.bad_text", "string is not UTF-8") from None
    return False


def _binunicode(m: Machine) -> bool:
    return _utf8(m, _u4(m.reader.read(4))[0])


def _short_binunicode(m: Machine) -> bool:
    return _utf8(m, m.reader.read1())


def _binunicode8(m: Machine) -> bool:
    return _utf8(m, _u8(m.reader.read(8))[0])


def _binbytes(m: Machine) -> bool:
    m.push(m.read_bytes(m.sized(_u4(m.reader.read(4))[0])))
    return False


def _short_binbytes(m: Machine) -> bool:
    m.push(m.reader.read(m.reader.read1()))
    return False


def _binbytes8(m: Machine) -> bool:
    m.push(m.read_bytes(m.sized(_u8(m.reader.read(8))[0])))
    return False


def _bytearray8(m: Machine) -> bool:
    m.push(ByteArray(m.read_bytes(m.sized(_u8(m.reader.read(8))[0]))))
    return False


def _empty_list(m: Machine) -> bool:
    m.push(List())
    return False


def _empty_tuple(m: Machine) -> bool:
    m.push(Tuple(()))
    return False


def _empty_dict(m: Machine) -> bool:
    m.push(Dict())
    return False


def _empty_set(m: Machine) -> bool:
    m.push(Set())
    return False


def _list(m: Machine) -> bool:
    items = m.pop_mark()
    m.count_items(len(items))
    m.push(List(items))
    return False


def _tuple(m: Machine) -> bool:
    items = m.pop_mark()
    m.count_items(len(items))
    m.push(Tuple(tuple(items)))
    return False


def _tuple_n(n: int) -> Callable[[Machine], bool]:
    def handler(m: Machine) -> bool:
        items = [m.pop() for _ in range(n)]
        items.reverse()
        m.count_items(n)
        m.push(Tuple(tuple(items)))
        return False

    return handler


def _pairs(m: Machine, items: list[Value], what: str) -> list[tuple[Value, Value]]:
    if len(items) % 2:
        raise m.err("pickle.odd_items", f"odd number of items for {what}")
    m.count_items(len(items))
    return list(zip(items[::2], items[1::2]))


def _dict(m: Machine) -> bool:
    m.push(Dict(_pairs(m, m.pop_mark(), "DICT")))
    return False


def _frozenset(m: Machine) -> bool:
    items = m.pop_mark()
    m.count_items(len(items))
    m.push(FrozenSet(tuple(items)))
    return False


def _append(m: Machine) -> bool:
    value = m.pop()
    target = m.top()
    m.count_items(1)
    m.event("appends", target)
    if isinstance(target, List):
        target.items.append(value)
    elif isinstance(target, Obj):
        target.appended.append(value)
    return False


def _appends(m: Machine) -> bool:
    items = m.pop_mark()
    target = m.top()
    m.count_items(len(items))
    m.event("appends", target)
    if isinstance(target, List):
        target.items.extend(items)
    elif isinstance(target, Obj):
        target.appended.extend(items)
    return False


def _setitem(m: Machine) -> bool:
    value = m.pop()
    key = m.pop()
    target = m.top()
    m.count_items(1)
    m.event("setitems", target)
    if isinstance(target, Dict | Obj):
        target.items.append((key, value))
    return False


def _setitems(m: Machine) -> bool:
    pairs = _pairs(m, m.pop_mark(), "SETITEMS")
    target = m.top()
    m.event("setitems", target)
    if isinstance(target, Dict | Obj):
        target.items.extend(pairs)
    return False


def _additems(m: Machine) -> bool:
    items = m.pop_mark()
    target = m.top()
    m.count_items(len(items))
    m.event("additems", target)
    if isinstance(target, Set):
        target.items.extend(items)
    return False


def _global(m: Machine) -> bool:
    m.push(m.text_global())
    return False


def _stack_global(m: Machine) -> bool:
    name = m.pop()
    module = m.pop()
    if type(name) is not str or type(module) is not str:
        raise m.err("pickle.global_operand", "STACK_GLOBAL requires str operands", evasive=True)
    m.push(m.find_class(module, name))
    return False


def _call(m: Machine, kind: str, callee: Value, args: Value, kwargs: Value = None) -> Obj:
    obj = Obj(kind, callee, args, m.op_offset, NAMES[m._current], kwargs)
    m.event("call", obj)
    return obj


def _reduce(m: Machine) -> bool:
    args = m.pop()
    callee = m.pop()
    if not isinstance(args, Tuple):
        # _pickle.c calls PyObject_CallObject (tuple only); pickle.py uses *args.
        raise m.err("pickle.reduce_args", "REDUCE arguments are not a tuple", evasive=True)
    m.push(_call(m, "reduce", callee, args))
    return False


def _newobj(m: Machine) -> bool:
    args = m.pop()
    cls = m.pop()
    if not isinstance(args, Tuple):
        raise m.err("pickle.newobj_args", "NEWOBJ arguments are not a tuple", evasive=True)
    m.push(_call(m, "newobj", cls, args))
    return False


def _newobj_ex(m: Machine) -> bool:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    if not isinstance(args, Tuple) or not isinstance(kwargs, Dict):
        raise m.err("pickle.newobj_args", "NEWOBJ_EX needs a tuple and a dict", evasive=True)
    m.push(_call(m, "newobj", cls, args, kwargs))
    return False


def _inst(m: Machine) -> bool:
    cls = m.text_global()
    args = m.pop_mark()
    m.count_items(len(args))
    m.push(_call(m, "inst", cls, Tuple(tuple(args))))
    return False


def _obj(m: Machine) -> bool:
    items = m.pop_mark()
    if not items:
        raise m.err("pickle.stack_underflow", "OBJ without a class")
    m.count_items(len(items))
    m.push(_call(m, "inst", items[0], Tuple(tuple(items[1:]))))
    return False


def _build(m: Machine) -> bool:
    state = m.pop()
    target = m.top()
    offset = m.op_offset
    m.event("build", target, state)
    if isinstance(target, Obj):
        target.state.append(state)
    if m.build_hook is not None:
        m.build_hook(m, target, offset)
    return False


def _put(m: Machine) -> bool:
    m.memo_put(m.text_int(m.readline(), "PUT"))
    return False


def _binput(m: Machine) -> bool:
    m.memo_put(m.reader.read1())
    return False


def _long_binput(m: Machine) -> bool:
    m.memo_put(_u4(m.reader.read(4))[0])
    return False


def _memoize(m: Machine) -> bool:
    m.memo_put(len(m.memo))
    return False


def _get(m: Machine) -> bool:
    m.memo_get(m.text_int(m.readline(), "GET"))
    return False


def _binget(m: Machine) -> bool:
    m.memo_get(m.reader.read1())
    return False


def _long_binget(m: Machine) -> bool:
    m.memo_get(_u4(m.reader.read(4))[0])
    return False


def _persid(m: Machine) -> bool:
    try:
        pid: Value = m.readline()[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise m.err("pickle.bad_text", "persistent IDs in protocol 0 must be ASCII") from None
    ref = PersistentRef(pid, m.op_offset, "PERSID")
    m.event("persid", ref)
    m.push(ref)
    return False


def _binpersid(m: Machine) -> bool:
    ref = PersistentRef(m.pop(), m.op_offset, "BINPERSID")
    m.event("persid", ref)
    m.push(ref)
    return False


def _ext(size: int) -> Callable[[Machine], bool]:
    def handler(m: Machine) -> bool:
        raw = m.reader.read(size)
        code = _i4(raw)[0] if size == 4 else int.from_bytes(raw, "little")
        if code <= 0:
            raise m.err("pickle.bad_ext", "EXT code <= 0")
        node = Ext(code, m.op_offset, NAMES[m._current])
        m.event("ext", node)
        m.push(node)
        return False

    return handler


def _next_buffer(m: Machine) -> bool:
    node = Buffer(m.buffers)
    m.buffers += 1
    m.event("buffer", node)
    m.push(node)
    return False


def _readonly_buffer(m: Machine) -> bool:
    value = m.top()
    if isinstance(value, Buffer):
        value.readonly = True
    return False


_HANDLERS: dict[str, Callable[[Machine], bool]] = {
    "MARK": _mark,
    "STOP": _stop,
    "POP": _pop,
    "POP_MARK": _pop_mark,
    "DUP": _dup,
    "FLOAT": _float,
    "INT": _int,
    "BININT": _binint,
    "BININT1": _binint1,
    "LONG": _long,
    "BININT2": _binint2,
    "NONE": _const(None),
    "PERSID": _persid,
    "BINPERSID": _binpersid,
    "REDUCE": _reduce,
    "STRING": _string,
    "BINSTRING": _binstring,
    "SHORT_BINSTRING": _short_binstring,
    "UNICODE": _unicode,
    "BINUNICODE": _binunicode,
    "APPEND": _append,
    "BUILD": _build,
    "GLOBAL": _global,
    "DICT": _dict,
    "EMPTY_DICT": _empty_dict,
    "APPENDS": _appends,
    "GET": _get,
    "BINGET": _binget,
    "INST": _inst,
    "LONG_BINGET": _long_binget,
    "LIST": _list,
    "EMPTY_LIST": _empty_list,
    "OBJ": _obj,
    "PUT": _put,
    "BINPUT": _binput,
    "LONG_BINPUT": _long_binput,
    "SETITEM": _setitem,
    "TUPLE": _tuple,
    "EMPTY_TUPLE": _empty_tuple,
    "SETITEMS": _setitems,
    "BINFLOAT": _binfloat,
    "PROTO": _proto,
    "NEWOBJ": _newobj,
    "EXT1": _ext(1),
    "EXT2": _ext(2),
    "EXT4": _ext(4),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "NEWTRUE": _const(True),
    "NEWFALSE": _const(False),
    "LONG1": _long1,
    "LONG4": _long4,
    "BINBYTES": _binbytes,
    "SHORT_BINBYTES": _short_binbytes,
    "SHORT_BINUNICODE": _short_binunicode,
    "BINUNICODE8": _binunicode8,
    "BINBYTES8": _binbytes8,
    "EMPTY_SET": _empty_set,
    "ADDITEMS": _additems,
    "FROZENSET": _frozenset,
    "NEWOBJ_EX": _newobj_ex,
    "STACK_GLOBAL": _stack_global,
    "MEMOIZE": _memoize,
    "FRAME": _frame,
    "BYTEARRAY8": _bytearray8,
    "NEXT_BUFFER": _next_buffer,
    "READONLY_BUFFER": _readonly_buffer,
}

_DISPATCH: dict[int, Callable[[Machine], bool]] = {
    code: _HANDLERS[name] for code, name in NAMES.items()
}
