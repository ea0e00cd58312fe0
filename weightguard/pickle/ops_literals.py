"""Opcode handlers that push constants: numbers, strings and bytes (protocols 0 to 5).

Part of the symbolic machine in `weightguard.pickle.vm`, which dispatches to `HANDLERS` by
opcode name; each handler returns True only for STOP (never here). Semantics follow
`Modules/_pickle.c` (`load_int`, `load_string`, `load_binunicode`, ...) and
`Lib/pickle.py`; text spellings that the C and Python readers parse differently
(STRING escapes, non-plain FLOAT literals) are refused as evasive.
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from weightguard.pickle.values import ByteArray, LegacyString, Value

if TYPE_CHECKING:
    from weightguard.pickle.machine import Machine

# Compiled on first use through re's own cache: protocol 0 text is rare in checkpoints.
_FLOAT = rb"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\n|-?inf\n|nan\n"

_u8 = struct.Struct("<Q").unpack
_u4 = struct.Struct("<I").unpack
_i4 = struct.Struct("<i").unpack
_u2 = struct.Struct("<H").unpack
_f8 = struct.Struct(">d").unpack


def _const(value: Value) -> Callable[[Machine], bool]:
    def handler(m: Machine) -> bool:
        m.push(value)
        return False

    return handler


def _float(m: Machine) -> bool:
    line = m.readline()
    if not re.fullmatch(_FLOAT, line):
        try:  # a line no CPython reader takes as a float stops every reader alike
            float(line)
        except ValueError:
            raise m.err("pickle.bad_text", "FLOAT is not a number") from None
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


HANDLERS: dict[str, Callable[[Machine], bool]] = {
    "FLOAT": _float,
    "INT": _int,
    "BININT": _binint,
    "BININT1": _binint1,
    "LONG": _long,
    "BININT2": _binint2,
    "NONE": _const(None),
    "STRING": _string,
    "BINSTRING": _binstring,
    "SHORT_BINSTRING": _short_binstring,
    "UNICODE": _unicode,
    "BINUNICODE": _binunicode,
    "BINFLOAT": _binfloat,
    "NEWTRUE": _const(True),
    "NEWFALSE": _const(False),
    "LONG1": _long1,
    "LONG4": _long4,
    "BINBYTES": _binbytes,
    "SHORT_BINBYTES": _short_binbytes,
    "SHORT_BINUNICODE": _short_binunicode,
    "BINUNICODE8": _binunicode8,
    "BINBYTES8": _binbytes8,
    "BYTEARRAY8": _bytearray8,
}
