"""Opcode handlers for structure: stack and marks, containers, memo, globals and calls.

Part of the symbolic machine in `weightguard.pickle.vm`, which dispatches to `HANDLERS` by
opcode name; each handler returns True only for STOP. Semantics follow
`Modules/_pickle.c` (`load_*`) and `Lib/pickle.py`; every import, call, BUILD,
container mutation, persistent id, EXT code and out-of-band buffer becomes an event
for the judge, and nothing is imported or called.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from weightguard.pickle.opcodes import HIGHEST_PROTOCOL, NAMES
from weightguard.pickle.values import (
    Buffer,
    Dict,
    Ext,
    FrozenSet,
    List,
    Obj,
    PersistentRef,
    Set,
    Tuple,
    Value,
)

if TYPE_CHECKING:
    from weightguard.pickle.machine import Machine

_u8 = struct.Struct("<Q").unpack
_u4 = struct.Struct("<I").unpack
_i4 = struct.Struct("<i").unpack


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
    left = m.reader.remaining()
    if left is not None and length > left:
        raise m.err("pickle.truncated", "FRAME runs past the end of the data")
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
    if len(m.marks) >= m.max_marks:
        raise m.err("pickle.budget", "marks nested too deeply for the size of the file")
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
    obj = Obj(kind, callee, args, m.op_offset, NAMES[m.current], kwargs)
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
    m.memo_put(m.memo_len())
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
        node = Ext(code, m.op_offset, NAMES[m.current])
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


HANDLERS: dict[str, Callable[[Machine], bool]] = {
    "MARK": _mark,
    "STOP": _stop,
    "POP": _pop,
    "POP_MARK": _pop_mark,
    "DUP": _dup,
    "PERSID": _persid,
    "BINPERSID": _binpersid,
    "REDUCE": _reduce,
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
    "PROTO": _proto,
    "NEWOBJ": _newobj,
    "EXT1": _ext(1),
    "EXT2": _ext(2),
    "EXT4": _ext(4),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "EMPTY_SET": _empty_set,
    "ADDITEMS": _additems,
    "FROZENSET": _frozenset,
    "NEWOBJ_EX": _newobj_ex,
    "STACK_GLOBAL": _stack_global,
    "MEMOIZE": _memoize,
    "FRAME": _frame,
    "NEXT_BUFFER": _next_buffer,
    "READONLY_BUFFER": _readonly_buffer,
}
