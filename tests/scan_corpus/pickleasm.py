"""A tiny pickle assembler for building adversarial samples byte by byte (tests only)."""

from __future__ import annotations

import struct

PROTO4 = b"\x80\x04"
PROTO2 = b"\x80\x02"
STOP = b"."
MARK = b"("
TUPLE = b"t"
REDUCE = b"R"
BUILD = b"b"
EMPTY_DICT = b"}"
EMPTY_TUPLE = b")"
NEWOBJ = b"\x81"
SETITEMS = b"u"
POP = b"0"


def u(text: str) -> bytes:
    """Push a str (SHORT_BINUNICODE / BINUNICODE)."""
    raw = text.encode()
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def by(data: bytes) -> bytes:
    """Push bytes (BINBYTES)."""
    return b"B" + struct.pack("<I", len(data)) + data


def i(n: int) -> bytes:
    """Push an int (BININT)."""
    return b"J" + struct.pack("<i", n)


def sg(module: str, name: str) -> bytes:
    """STACK_GLOBAL module.name."""
    return u(module) + u(name) + b"\x93"


def g(module: str, name: str) -> bytes:
    """GLOBAL module name (text form)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call(callee: bytes, *args: bytes) -> bytes:
    """callee(*args) with REDUCE."""
    return callee + MARK + b"".join(args) + TUPLE + REDUCE


def frame(body: bytes) -> bytes:
    """A FRAME opcode announcing `body` (appended)."""
    return b"\x95" + struct.pack("<Q", len(body)) + body


def program(body: bytes, proto: bytes = PROTO4) -> bytes:
    """PROTO + body + STOP."""
    return proto + body + STOP


def asm_int(n: int) -> bytes:
    """Alias of `i` with a name that reads well in tests."""
    return i(n)
