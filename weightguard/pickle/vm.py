"""The strict symbolic pickle machine: CPython's opcode semantics, nothing executed.

`parse_pickle(reader)` runs one pickle stream, protocols 0 to 5, the way
`Modules/_pickle.c` (`load()` and its `load_*` functions) and `Lib/pickle.py`
(`_Unpickler.load_*`) do, but pushes symbolic values (`weightguard.pickle.values`) instead
of importing or calling anything. Each opcode that would import, call, mutate an object
or ask the loader for something becomes an `Event`; the policy judge
(`weightguard.pickle.judge`) decides on those events, and a converter can walk `root`.

Where the two CPython unpicklers (or CPython and the opcode listers other scanners use)
could read a stream differently, we refuse instead of guessing: frame misuse
(`reader.py`), STRING escapes, non-decimal text integers, non-tuple REDUCE and NEWOBJ
arguments stop the run as "evasive" (unsafe); truncation, unknown opcodes and budgets
stop it as incomplete. Differentials with one clear CPython meaning (PROTO after the
first opcode, memo overwrites, values left on the stack at STOP) are recorded as
anomalies (unsafe) and the run continues with CPython's semantics, so what follows
them is judged too. The machine never raises: a `StreamError` ends the
run and is returned with the events seen before it, because CPython runs that prefix.

This module holds the loop and the dispatch table; the machine's state and helpers are
`weightguard.pickle.machine.Machine`, and the opcode handlers live in
`weightguard.pickle.ops_literals` (constants) and `weightguard.pickle.ops_objects`
(structure, globals, calls), dispatched by opcode byte. Handlers import the machine,
never this module.
"""

from __future__ import annotations

from collections.abc import Callable

from weightguard.pickle import ops_literals, ops_objects
from weightguard.pickle.limits import Limits
from weightguard.pickle.machine import BuildHook, Machine, OpBudget, PickleProgram
from weightguard.pickle.opcodes import NAMES
from weightguard.pickle.reader import Reader, StreamError


def parse_pickle(
    reader: Reader,
    *,
    limits: Limits | None = None,
    build_hook: BuildHook | None = None,
    budget: OpBudget | None = None,
) -> PickleProgram:
    """Run one pickle stream from the reader's position to its STOP.

    Args:
        reader: positioned at the first opcode.
        limits: budgets (defaults when None).
        build_hook: called after each BUILD with (machine, target, opcode offset); joblib
            uses it to skip raw array bytes that follow a wrapper in the stream.
        budget: the opcodes left for the whole input file (charged on return).

    Returns:
        The program; `error` is set (and `root` is None) if the stream was rejected.
    """
    return run(Machine(reader, limits or Limits(), build_hook, budget))


def run(m: Machine) -> PickleProgram:
    """Execute opcodes from the reader's position until STOP; never raises StreamError."""
    reader = m.reader
    start = reader.offset
    dispatch = _DISPATCH
    max_ops = m.limits.max_opcodes
    if m.budget is not None:
        max_ops = min(max_ops, m.budget.left)
    count = 0
    error: StreamError | None = None
    try:
        while True:
            m.op_offset = reader.offset
            code = reader.read1()
            handler = dispatch.get(code)
            m.current = code
            if handler is None:
                raise m.err("pickle.unknown_opcode", f"unknown opcode byte 0x{code:02x}")
            count += 1
            if count > max_ops:
                raise m.err(
                    "pickle.budget",
                    "too many opcodes for the size of the file (a decompression or "
                    "opcode bomb is never scanned to its end)",
                )
            if handler(m):
                break
    except StreamError as exc:
        error = exc
    except RecursionError:  # pragma: no cover - nothing here recurses deeply
        error = m.err("pickle.budget", "nesting too deep")
    if m.budget is not None:
        m.budget.left -= count
    return PickleProgram(
        root=None if error else m.root,
        protocol=m.proto,
        start=start,
        end=reader.offset,
        events=tuple(m.events),
        error=error,
        anomalies=tuple(m.anomalies),
        nested=tuple(m.nested),
        opcodes=count,
    )


# Opcode byte -> handler, from the two handler tables (constants, and structure).
_DISPATCH: dict[int, Callable[[Machine], bool]] = {
    code: {**ops_literals.HANDLERS, **ops_objects.HANDLERS}[name] for code, name in NAMES.items()
}
