"""Flax checkpoints (`flax.serialization.to_bytes`): one msgpack map, parsed completely.

msgpack-python with flax's ext hook reads only data: ext type 1 is an ndarray (a msgpack
array of shape, dtype name, raw bytes), 2 a complex, 3 a numpy scalar; no type names are
imported. A file is `flax-msgpack` only if the whole file is one msgpack value whose top
level is a map and every ext value has a type flax defines. Depth and counts are bounded.
"""

from __future__ import annotations

import struct

_MAX_DEPTH = 64
_FLAX_EXT = frozenset({1, 2, 3})


class MsgpackError(ValueError):
    """Not one well-formed msgpack value."""


def _need(data: bytes, pos: int, n: int) -> int:
    if pos + n > len(data):
        raise MsgpackError("truncated")
    return pos + n


def _skip(data: bytes, pos: int, depth: int) -> int:
    if depth > _MAX_DEPTH:
        raise MsgpackError("nested too deeply")
    _need(data, pos, 1)
    b = data[pos]
    pos += 1
    if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
        return pos
    if 0x80 <= b <= 0x8F:
        return _items(data, pos, 2 * (b & 0x0F), depth)
    if 0x90 <= b <= 0x9F:
        return _items(data, pos, b & 0x0F, depth)
    if 0xA0 <= b <= 0xBF:
        return _need(data, pos, b & 0x1F)
    fixed = {
        0xCA: 4,
        0xCB: 8,
        0xCC: 1,
        0xCD: 2,
        0xCE: 4,
        0xCF: 8,
        0xD0: 1,
        0xD1: 2,
        0xD2: 4,
        0xD3: 8,
    }
    if b in fixed:
        return _need(data, pos, fixed[b])
    sized = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    if b in sized:
        n = int.from_bytes(data[pos : _need(data, pos, sized[b])], "big")
        return _need(data, pos + sized[b], n)
    if b in (0xDC, 0xDD, 0xDE, 0xDF):
        w = 2 if b in (0xDC, 0xDE) else 4
        n = int.from_bytes(data[pos : _need(data, pos, w)], "big")
        return _items(data, pos + w, n * (2 if b >= 0xDE else 1), depth)
    if b in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8):
        n = 1 << (b - 0xD4)
        return _ext(data, pos, n, depth)
    if b in (0xC7, 0xC8, 0xC9):
        w = {0xC7: 1, 0xC8: 2, 0xC9: 4}[b]
        n = int.from_bytes(data[pos : _need(data, pos, w)], "big")
        return _ext(data, pos + w, n, depth)
    raise MsgpackError(f"byte 0x{b:02x} is not a msgpack type")


def _items(data: bytes, pos: int, count: int, depth: int) -> int:
    if count > len(data) - pos:
        raise MsgpackError("more items than bytes")
    for _ in range(count):
        pos = _skip(data, pos, depth + 1)
    return pos


def _ext(data: bytes, pos: int, n: int, depth: int) -> int:
    (code,) = struct.unpack_from("b", data, pos) if pos < len(data) else (None,)
    if code not in _FLAX_EXT:
        raise MsgpackError(f"ext type {code} is not one flax writes")
    end = _need(data, pos + 1, n)
    body = data[pos + 1 : end]
    if code in (1, 3) and _skip(body, 0, depth + 1) != len(body):
        raise MsgpackError("ext payload is not one msgpack value")
    return end


def is_flax_msgpack(data: bytes) -> bool:
    """Whether `data` is exactly one msgpack map (flax's checkpoint shape)."""
    if not data or not (0x80 <= data[0] <= 0x8F or data[0] in (0xDE, 0xDF)):
        return False
    try:
        return _skip(data, 0, 0) == len(data)
    except MsgpackError:
        return False
