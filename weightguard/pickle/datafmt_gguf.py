"""GGUF (llama.cpp), validated completely: header, every key/value, the tensor table, and
every tensor's data range (aligned, inside the file, not overlapping, in order).

Layout (ggml/docs/gguf.md, versions 2 and 3, little-endian): "GGUF", u32 version, u64
tensor count, u64 kv count; kvs (string key, u32 type, value); tensor infos (string name,
u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset); padding to `general.alignment`
(default 32); tensor data. Strings are u64 length + UTF-8. Type sizes are ggml's
(block size, bytes per block), as `gguf.GGML_QUANT_SIZES` lists them.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

# ggml type id -> (elements per block, bytes per block)
GGML_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
    19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1),
    25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
MAX_STRING = 1 << 24
MAX_DIMS = 8


class GgufError(ValueError):
    """Why a file is not a valid GGUF."""


class _In:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size, self.pos = fh, size, 0
        fh.seek(0)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise GgufError("header runs past the end of the file")
        data = self.fh.read(n)
        if len(data) != n:
            raise GgufError("short read")
        self.pos += n
        return data

    def num(self, fmt: str) -> int | float | bool:
        data = self.take(struct.calcsize("<" + fmt))
        value: int | float | bool = struct.unpack("<" + fmt, data)[0]
        return value

    def u(self, fmt: str) -> int:
        return int(self.num(fmt))

    def string(self) -> str:
        n = self.u("Q")
        if n > MAX_STRING:
            raise GgufError("string too long")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise GgufError("string is not UTF-8") from None


def _value(r: _In, vtype: int, depth: int = 0) -> object:
    if vtype in _SCALARS:
        value = r.num(_SCALARS[vtype])
        if vtype == 7 and value not in (0, 1, True, False):
            raise GgufError("bad bool")
        return value
    if vtype == 8:
        return r.string()
    if vtype == 9 and depth == 0:
        etype, count = r.u("I"), r.u("Q")
        if count > r.size - r.pos:  # every element takes at least one byte
            raise GgufError("array longer than the file")
        for _ in range(count):
            _value(r, etype, depth + 1)
        return None
    raise GgufError(f"unknown value type {vtype}")


def validate_gguf(fh: BinaryIO, size: int) -> None:
    """Raise GgufError unless the whole file is a consistent GGUF v2/v3."""
    r = _In(fh, size)
    if r.take(4) != b"GGUF":
        raise GgufError("no GGUF magic")
    version = r.u("I")
    if version not in (2, 3):
        raise GgufError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = r.u("Q"), r.u("Q")
    if n_tensors > size or n_kv > size:
        raise GgufError("more entries than the file has bytes")
    alignment = 32
    keys: set[str] = set()
    for _ in range(n_kv):
        key = r.string()
        if key in keys:
            raise GgufError(f"duplicate key {key!r}")
        keys.add(key)
        vtype = r.u("I")
        value = _value(r, vtype)
        if key == "general.alignment":
            if vtype != 4 or not isinstance(value, int) or value <= 0 or value & (value - 1):
                raise GgufError("general.alignment must be a u32 power of two")
            alignment = value
    tensors: list[tuple[int, int, str]] = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = r.string()
        if name in names:
            raise GgufError(f"duplicate tensor {name!r}")
        names.add(name)
        n_dims = r.u("I")
        if n_dims > MAX_DIMS:
            raise GgufError("too many dimensions")
        count = 1
        for _ in range(n_dims):
            count *= r.u("Q")
        ttype, offset = r.u("I"), r.u("Q")
        if ttype not in GGML_SIZES:
            raise GgufError(f"tensor {name!r}: unknown ggml type {ttype}")
        block, nbytes = GGML_SIZES[ttype]
        if count % block:
            raise GgufError(f"tensor {name!r}: element count not a multiple of its block")
        if offset % alignment:
            raise GgufError(f"tensor {name!r}: offset not aligned")
        tensors.append((offset, count // block * nbytes, name))
    data_start = -(-r.pos // alignment) * alignment
    end = 0
    for offset, nbytes, name in sorted(tensors):
        if offset < end:
            raise GgufError(f"tensor {name!r} overlaps the previous one")
        if offset - end >= alignment:
            raise GgufError(f"gap before tensor {name!r}: tensor data is not dense")
        end = offset + nbytes
        if data_start + end > size:
            raise GgufError(f"tensor {name!r} runs past the end of the file")
    if tensors and size - (data_start + end) >= alignment:
        raise GgufError("trailing bytes after the last tensor")
