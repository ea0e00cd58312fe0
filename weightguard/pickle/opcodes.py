"""The pickle opcode table, protocols 0 to 5 (CPython Lib/pickle.py, "Pickle opcodes").

Only names and the protocol that introduced each opcode live here; the semantics are in
`weightguard.pickle.vm`. A byte that is not in `NAMES` is an unknown opcode, which CPython
rejects with "invalid load key" and so do we.
"""

from __future__ import annotations

# byte -> (name, protocol that introduced it)
_TABLE: dict[int, tuple[str, int]] = {
    ord("("): ("MARK", 0),
    ord("."): ("STOP", 0),
    ord("0"): ("POP", 0),
    ord("1"): ("POP_MARK", 1),
    ord("2"): ("DUP", 0),
    ord("F"): ("FLOAT", 0),
    ord("I"): ("INT", 0),
    ord("J"): ("BININT", 1),
    ord("K"): ("BININT1", 1),
    ord("L"): ("LONG", 0),
    ord("M"): ("BININT2", 1),
    ord("N"): ("NONE", 0),
    ord("P"): ("PERSID", 0),
    ord("Q"): ("BINPERSID", 1),
    ord("R"): ("REDUCE", 0),
    ord("S"): ("STRING", 0),
    ord("T"): ("BINSTRING", 1),
    ord("U"): ("SHORT_BINSTRING", 1),
    ord("V"): ("UNICODE", 0),
    ord("X"): ("BINUNICODE", 1),
    ord("a"): ("APPEND", 0),
    ord("b"): ("BUILD", 0),
    ord("c"): ("GLOBAL", 0),
    ord("d"): ("DICT", 0),
    ord("}"): ("EMPTY_DICT", 1),
    ord("e"): ("APPENDS", 1),
    ord("g"): ("GET", 0),
    ord("h"): ("BINGET", 1),
    ord("i"): ("INST", 0),
    ord("j"): ("LONG_BINGET", 1),
    ord("l"): ("LIST", 0),
    ord("]"): ("EMPTY_LIST", 1),
    ord("o"): ("OBJ", 1),
    ord("p"): ("PUT", 0),
    ord("q"): ("BINPUT", 1),
    ord("r"): ("LONG_BINPUT", 1),
    ord("s"): ("SETITEM", 0),
    ord("t"): ("TUPLE", 0),
    ord(")"): ("EMPTY_TUPLE", 1),
    ord("u"): ("SETITEMS", 1),
    ord("G"): ("BINFLOAT", 1),
    0x80: ("PROTO", 2),
    0x81: ("NEWOBJ", 2),
    0x82: ("EXT1", 2),
    0x83: ("EXT2", 2),
    0x84: ("EXT4", 2),
    0x85: ("TUPLE1", 2),
    0x86: ("TUPLE2", 2),
    0x87: ("TUPLE3", 2),
    0x88: ("NEWTRUE", 2),
    0x89: ("NEWFALSE", 2),
    0x8A: ("LONG1", 2),
    0x8B: ("LONG4", 2),
    ord("B"): ("BINBYTES", 3),
    ord("C"): ("SHORT_BINBYTES", 3),
    0x8C: ("SHORT_BINUNICODE", 4),
    0x8D: ("BINUNICODE8", 4),
    0x8E: ("BINBYTES8", 4),
    0x8F: ("EMPTY_SET", 4),
    0x90: ("ADDITEMS", 4),
    0x91: ("FROZENSET", 4),
    0x92: ("NEWOBJ_EX", 4),
    0x93: ("STACK_GLOBAL", 4),
    0x94: ("MEMOIZE", 4),
    0x95: ("FRAME", 4),
    0x96: ("BYTEARRAY8", 5),
    0x97: ("NEXT_BUFFER", 5),
    0x98: ("READONLY_BUFFER", 5),
}

NAMES: dict[int, str] = {code: name for code, (name, _proto) in _TABLE.items()}
PROTOCOL: dict[int, int] = {code: proto for code, (_name, proto) in _TABLE.items()}

HIGHEST_PROTOCOL = 5

# The first bytes a pickle can start with, used to sniff content (formats.py). A protocol
# 2+ pickle starts with PROTO; protocol 0/1 pickles start with any opcode that can begin a
# stream, which is why sniffing protocol 0/1 is a heuristic and needs a full parse.
PROTO = 0x80
