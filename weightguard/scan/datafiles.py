"""Data-file headers: ``.npy`` arrays (object dtypes carry a pickle) and safetensors.

numpy/lib/format.py: magic, version, a header length (2 bytes in v1, 4 in v2/v3) and a
Python dict literal, parsed with `ast.literal_eval` (which evaluates literals only); an
object dtype is followed by a pickle, which is scanned. safetensors: a little-endian u64
header length and a JSON header whose tensor entries must lie within the data. Imported
by `weightguard.scan.containers` only when such a file is met.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from weightguard.scan.containers import FileScan, Scanner


def scan_npy(
    scanner: Scanner, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
) -> None:
    """Parse a .npy header; scan the pickle that follows an object dtype."""
    fh.seek(0)
    pre = fh.read(12)
    major = pre[6] if len(pre) > 6 else 0
    if major == 1 and len(pre) >= 10:
        (hlen,), start = struct.unpack_from("<H", pre, 8), 10
    elif major in (2, 3) and len(pre) >= 12:
        (hlen,), start = struct.unpack_from("<I", pre, 8), 12
    else:
        fs.incomplete("numpy.header", "unsupported .npy version", member)
        return
    import ast

    fh.seek(start)
    raw = fh.read(min(hlen, 1 << 20))
    try:
        header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
        descr = header["descr"]
    except (
        ValueError,
        SyntaxError,
        KeyError,
        TypeError,
        MemoryError,
        RecursionError,
        UnicodeDecodeError,
    ):
        fs.incomplete("numpy.header", "the .npy header is not a valid dict literal", member)
        return
    if _descr_has_object(descr):
        scanner.pickles(fs, fh, start + hlen, size, member, depth, persid=None)


def scan_safetensors(fs: FileScan, fh: BinaryIO, size: int, member: str | None) -> None:
    """Validate a safetensors header (data formats whose loader runs no code)."""
    import json

    fh.seek(0)
    (n,) = struct.unpack("<Q", fh.read(8))
    ok = 8 + n <= size
    try:
        header = json.loads(fh.read(n)) if ok else None
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or not all(
        k == "__metadata__" or _tensor_entry(v, size - 8 - n) for k, v in header.items()
    ):
        fs.incomplete("safetensors.invalid", "the safetensors header is malformed", member)


def _descr_has_object(descr: object) -> bool:
    # numpy descr: a type string, or a list of (name, descr[, shape]) fields.
    if isinstance(descr, str):
        return descr.lstrip("<>|=")[:1] == "O"
    if isinstance(descr, list):
        return any(not isinstance(f, tuple) or len(f) < 2 or _descr_has_object(f[1]) for f in descr)
    return True  # anything else: assume numpy would unpickle


def _tensor_entry(value: object, data_len: int) -> bool:
    if not isinstance(value, dict):
        return False
    offsets = value.get("data_offsets")
    shape = value.get("shape")
    return (
        isinstance(value.get("dtype"), str)
        and isinstance(shape, list)
        and all(type(d) is int and d >= 0 for d in shape)
        and isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= data_len
    )
