"""Complete safetensors validation, the way the `safetensors` Rust crate loads a file.

safetensors/src/tensor.rs (`SafeTensors::read_metadata` and `Metadata::validate`): a
little-endian u64 header length N (at most 100 MB), N bytes of a JSON object that starts
with `{`, then the data. Each entry but `__metadata__` (a str -> str map) is a tensor
`{dtype, shape, data_offsets}`; sorted by offsets, the tensors must tile the data exactly:
the first starts at 0, each starts where the previous ended, each spans
`prod(shape) * bits(dtype) / 8` bytes, and the last ends at the end of the file. A file
that passes is read by that crate and by nothing that runs code; the caller still checks
whether the same bytes are also a pickle (`weightguard.pickle.formats`).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAX_HEADER = 100_000_000  # safetensors::tensor::MAX_HEADER_SIZE

# Bits per element of every dtype the crate knows (Dtype::bitsize).
DTYPE_BITS = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "C64": 64,
}


def looks_like(head: bytes) -> bool:
    """A u64 length within the crate's limit followed by `{`: worth a full validation."""
    if len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head)
    return 2 <= n <= MAX_HEADER and head[8:9] == b"{"


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # serde keeps one of two equal keys, Python's json the last: refuse rather than guess.
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def validate(fh: BinaryIO, size: int) -> str | None:
    """None when `fh` (of `size` bytes) is a complete, valid safetensors file, else why not."""
    fh.seek(0)
    prefix = fh.read(8)
    if len(prefix) < 8:
        return "shorter than the 8-byte header length"
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER or 8 + n > size:
        return "header length beyond the file or the 100 MB limit"
    raw = fh.read(n)
    if raw[:1] != b"{":
        return "header does not start with '{'"
    try:
        import json  # lazily: scanning a torch checkpoint needs no JSON parser

        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return f"header is not valid JSON ({str(exc)[:80]})"
    if not isinstance(header, dict):
        return "header is not a JSON object"
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                return "__metadata__ is not a map of strings"
            continue
        why = _tensor(entry)
        if why:
            return f"tensor {name!r}: {why}"
        begin, end = entry["data_offsets"]
        spans.append((begin, end, name))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            return f"tensor {name!r} does not start where the previous one ends"
        at = end
    if 8 + n + at != size:
        return "the tensors do not cover the data exactly to the end of the file"
    return None


def _tensor(entry: object) -> str | None:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return "not a {dtype, shape, data_offsets} entry"
    bits = DTYPE_BITS.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    shape, offsets = entry["shape"], entry["data_offsets"]
    if bits is None:
        return "unknown dtype"
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        return "shape is not a list of sizes"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and 0 <= o < 1 << 64 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        return "data_offsets is not an ordered pair"
    count = 1
    for d in shape:
        count *= d
    if (count * bits) % 8 or count * bits // 8 != offsets[1] - offsets[0]:
        return "byte span does not match shape and dtype"
    return None
