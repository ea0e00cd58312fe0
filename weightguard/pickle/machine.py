"""The state of one symbolic pickle run: stack, marks, memo, budgets and events.

`Machine` is what every opcode handler (`weightguard.pickle.ops_literals`,
`weightguard.pickle.ops_objects`) works on: it holds the reader, the stack and marks, the
memo, the events recorded so far and the budgets, with the small helpers the handlers
share (`push`, `pop_mark`, `memo_put`, `find_class`, ...). It does not know the handlers:
`weightguard.pickle.vm` builds the dispatch table from the handler modules and runs the
loop, so the handlers import this module and never the machine loop (no circle).
`Event` and `PickleProgram` are the results of a run; `OpBudget` is the opcode budget
one input file shares between all its pickles.
"""

from __future__ import annotations

import _compat_pickle  # the fix_imports tables CPython's unpicklers use (data only)
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from weightguard.pickle.limits import Limits
from weightguard.pickle.opcodes import NAMES
from weightguard.pickle.reader import Reader, StreamError
from weightguard.pickle.values import BytesRef, Global, Value

_CONTAINER_OPS = frozenset({"appends", "setitems", "additems"})
# Compiled on first use through re's own cache: protocol 0 text is rare in checkpoints.
_DECIMAL = rb"-?(0|[1-9][0-9]*)\n"
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
        opcodes: how many opcodes the run executed (charged to the file's `OpBudget`).
    """

    root: Value
    protocol: int
    start: int
    end: int
    events: tuple[Event, ...]
    error: StreamError | None = None
    anomalies: tuple[StreamError, ...] = field(default=())
    nested: tuple[PickleProgram, ...] = field(default=())
    opcodes: int = 0


BuildHook = Callable[["Machine", Value, int], None]


class OpBudget:
    """Opcodes left for everything parsed from one input file (shared by all its pickles).

    Per-stream budgets alone let a small compressed member (or many members) expand into
    a number of opcodes out of all proportion to the file; a budget proportional to the
    file's size keeps a scan linear in its input: `Limits.ops_base` plus
    `Limits.ops_per_byte` per byte on disk (an uncompressed pickle needs at most one).
    """

    __slots__ = ("left", "size")

    def __init__(self, limits: Limits, size: int) -> None:
        self.size = max(size, 0)
        self.left = limits.ops_base + limits.ops_per_byte * self.size


def _scaled(cap: int, base: int, per_byte: float, size: int | None) -> int:
    """`base + per_byte * size`, at most `cap` (just `cap` without a file size)."""
    return cap if size is None else min(cap, base + int(per_byte * size))


class Machine:
    """One run of the symbolic unpickler over a `Reader` (use `parse_pickle`)."""

    def __init__(
        self,
        reader: Reader,
        limits: Limits,
        build_hook: BuildHook | None,
        budget: OpBudget | None = None,
    ) -> None:
        self.reader = reader
        self.budget = budget
        self.limits = limits
        # What this run may keep alive, scaled to the input file like the opcode budget:
        # a memo, stack or value-graph bomb costs memory (and the time to build it)
        # linear in the bytes on disk with a small constant (see `Limits`).
        size = None if budget is None else budget.size
        self.max_stack = _scaled(limits.max_stack, limits.stack_base, limits.stack_per_byte, size)
        self.max_marks = _scaled(limits.max_stack, limits.stack_base, limits.marks_per_byte, size)
        self.max_memo = _scaled(limits.max_memo, limits.memo_base, limits.memo_per_byte, size)
        self.max_items = _scaled(limits.max_items, limits.items_base, limits.items_per_byte, size)
        self.build_hook = build_hook
        self.stack: list[Value] = []
        self.marks: list[int] = []
        self.fence = 0
        # The memo as CPython's C unpickler keeps it: an array while indices are dense
        # (MEMOIZE, and every pickler's PUTs, count up from 0), a dict only once a
        # stream skips an index. A memo bomb then costs 8 bytes per entry, not ~80.
        self.memo_list: list[Value] = []
        self.memo: dict[int, Value] | None = None
        self.events: list[Event] = []
        self.container_ops: set[tuple[str, int]] = set()  # (kind, id(target)) recorded
        self.nested: list[PickleProgram] = []
        self.anomalies: list[StreamError] = []
        self.proto = 0
        self.op_offset = reader.offset
        self.items = 0
        self.buffers = 0
        self.root: Value = None
        self.start = reader.offset
        self.current = 0  # the opcode byte being executed (names events and errors)

    # -- plumbing --------------------------------------------------------------------

    def err(self, rule: str, message: str, *, evasive: bool = False) -> StreamError:
        """An error about the current opcode."""
        return StreamError(rule, message, self.op_offset, evasive=evasive)

    def anomaly(self, rule: str, message: str) -> None:
        """A differential we can step past with CPython's semantics (reported unsafe)."""
        if len(self.anomalies) < 100:
            self.anomalies.append(StreamError(rule, message, self.op_offset, evasive=True))

    def push(self, value: Value) -> None:
        """Push a value (bounded by max_stack)."""
        if len(self.stack) >= self.max_stack:
            raise self.err("pickle.budget", "stack too deep for the size of the file")
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
        if self.items > self.max_items:
            raise self.err("pickle.budget", "too many container items for the size of the file")

    def event(self, kind: str, node: Value, arg: Value = None) -> None:
        """Record an event at the current opcode (events keep nodes alive: charged as items).

        A container operation is judged by its target alone (`Judge._container_op`), so
        only the first APPEND(S)/SETITEM(S)/ADDITEMS on each target is recorded: a
        million appends to one list are one event, not a million (memory per byte).
        """
        if kind in _CONTAINER_OPS:
            key = (kind, id(node))
            if key in self.container_ops:
                return
            self.container_ops.add(key)
        self.items += 1
        if self.items > self.max_items:
            raise self.err("pickle.budget", "too many objects for the size of the file")
        self.events.append(Event(kind, self.op_offset, NAMES[self.current], node, arg))

    def readline(self) -> bytes:
        """A text argument, newline included."""
        return self.reader.readline(_MAX_LINE)

    def text_int(self, line: bytes, what: str) -> int:
        """A protocol 0 decimal integer; other spellings differ between C and Python."""
        if not re.fullmatch(_DECIMAL, line):
            # Evasive only where one of CPython's readers would go on (C: strtol base 0,
            # then PyLong_FromString; Python: int()); text both refuse stops every reader
            # alike, which is how an ordinary text file that starts with `I`, `p` or `g`
            # fails to unpickle, so it is no differential.
            if _cpython_int_ok(line):
                raise self.err("pickle.text_quirk", f"{what} is not a plain decimal", evasive=True)
            raise self.err("pickle.bad_text", f"{what} is not a number")
        return int(line[:-1])

    def sized(self, n: int) -> int:
        """Check a length prefix against the string budget."""
        if n < 0:
            raise self.err("pickle.negative_length", "negative byte count")
        left = self.reader.remaining()
        if left is not None and n > left:
            # Longer than what is left: every reader stops here (truncation, not a budget),
            # which is what a bzip2 `BZh` or GGUF prefix read as opcodes comes to.
            raise self.err("pickle.truncated", f"a {n}-byte constant runs past the end")
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

    def memo_len(self) -> int:
        """Entries in the memo (MEMOIZE's index)."""
        return len(self.memo_list) if self.memo is None else len(self.memo)

    def memo_put(self, index: int) -> None:
        """memo[index] = top; an overwrite is a differential (picklescan CTF class)."""
        dense = self.memo_list
        memo = self.memo
        if memo is None:
            if index == len(dense):
                if index >= self.max_memo:
                    raise self.err(
                        "pickle.budget", "too many memo entries for the size of the file"
                    )
                dense.append(self.top())
                return
            if 0 <= index < len(dense):
                self.anomaly("pickle.memo_overwrite", f"memo slot {index} is written twice")
                dense[index] = self.top()
                return
            memo = self.memo = dict(enumerate(dense))
            dense.clear()
        if index in memo:
            self.anomaly("pickle.memo_overwrite", f"memo slot {index} is written twice")
        if len(memo) >= self.max_memo:
            raise self.err("pickle.budget", "too many memo entries for the size of the file")
        memo[index] = self.top()

    def memo_get(self, index: int) -> None:
        """Push memo[index]; a missing index is a memo inconsistency."""
        try:
            if self.memo is None:
                if index < 0:
                    raise KeyError(index)
                value = self.memo_list[index]
            else:
                value = self.memo[index]
        except (KeyError, IndexError):
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
        opcode = NAMES[self.current]
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


def _cpython_int_ok(line: bytes) -> bool:
    """Whether `Modules/_pickle.c` or `Lib/pickle.py` would accept this INT/LONG/PUT line."""
    text = line.rstrip(b"\n")
    if text.endswith(b"L"):
        text = text[:-1]  # LONG's protocol 0 suffix
    for base in (10, 0):
        try:
            int(text, base)
            return True
        except ValueError:
            pass
    # strtol(s, &end, 0): leading space, sign, digits; the rest must be the newline.
    return re.fullmatch(rb"\s*[-+]?(0[xX][0-9a-fA-F]+|[0-9]+)", text) is not None
