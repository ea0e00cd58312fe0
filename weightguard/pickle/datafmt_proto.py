"""Protocol Buffers wire format, read strictly (for SentencePiece, ONNX, SavedModel).

Owns: splitting a message into (field number, wire type, value) records with every length
checked against the bytes there are. Nothing is decoded by schema here; the callers say
which fields they expect. Groups (wire types 3/4) are refused: no format we read uses them.
"""

from __future__ import annotations

from collections.abc import Iterator


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


Field = tuple[int, int, int | bytes]  # number, wire type, varint/fixed value or bytes


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated or overlong varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> Iterator[Field]:
    """Every field of one message, in order; raises WireError on malformed bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 1 or wire == 5:
            n = 8 if wire == 1 else 4
            if pos + n > len(data):
                raise WireError("truncated fixed-width field")
            yield number, wire, int.from_bytes(data[pos : pos + n], "little")
            pos += n
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise WireError("length-delimited field runs past the end")
            yield number, wire, data[pos : pos + length]
            pos += length
        else:
            raise WireError(f"unsupported wire type {wire}")


def message(data: bytes, allowed: dict[int, int]) -> list[Field]:
    """All fields, each of a number listed in `allowed` with that wire type."""
    out = list(fields(data))
    for number, wire, _ in out:
        if allowed.get(number) != wire:
            raise WireError(f"unexpected field {number} (wire type {wire})")
    return out


def sub(value: int | bytes) -> bytes:
    """A length-delimited value (callers pass fields declared with wire type 2)."""
    if not isinstance(value, bytes):
        raise WireError("expected a length-delimited field")
    return value
