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

from weightguard.scan.filescan import FileScan, Walker


def scan_npy(
    scanner: Walker, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
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


# The type strings `np.save` writes for plain dtypes (`dtype.str`: byte order, kind,
# size, datetime unit). numpy parses far more spellings ('object', 'O8', 'f4,O', '(2,)O',
# ...), several of which hold objects; anything not on this list is treated as an object
# dtype, so the bytes after the header are read as the pickle numpy would load.
_PLAIN_DESCR = r"[<>|=]?([biuf][1248]|f16|c(8|16|32)|[SUV][0-9]+|[Mm]8(\[[0-9]*[a-zA-Z]+\])?)"


def _descr_has_object(descr: object) -> bool:
    # numpy/lib/format.py `descr_to_dtype`: a type string (`numpy.dtype(str)`), a tuple
    # (base descr, shape) for a sub-array, or a list of (name, descr[, shape]) fields;
    # sub-arrays and fields of objects make an object dtype.
    import re

    if isinstance(descr, str):
        return re.fullmatch(_PLAIN_DESCR, descr) is None
    if isinstance(descr, tuple):
        return len(descr) != 2 or _descr_has_object(descr[0])
    if isinstance(descr, list):
        return any(
            not isinstance(f, tuple) or len(f) not in (2, 3) or _descr_has_object(f[1])
            for f in descr
        )
    return True  # anything else: assume numpy would unpickle
