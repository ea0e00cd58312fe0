"""File-like helpers: counted reads, byte ranges, and budgeted decompression.

`Counting` wraps the top-level file so a scan can report exactly how many bytes it read
(the benchmark checks this stays far below the file size). `Region` exposes a byte range
of another file (a stored zip member, a tar member) without copying it. `Inflating`
decompresses gzip/bz2/xz/lzma/zlib streams lazily and stops at the size and ratio
budgets, so a decompression bomb makes the file incomplete instead of filling memory.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, cast

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def as_file(obj: io.RawIOBase) -> BinaryIO:
    """View one of these raw readers as the binary file type the parsers take."""
    return cast(BinaryIO, obj)


def _fill(read: Callable[[int], bytes], buffer: WriteableBuffer) -> int:
    """`RawIOBase.readinto` over `read`: any writable buffer, filled as flat bytes."""
    with memoryview(buffer) as view, view.cast("B") as flat:
        data = read(flat.nbytes)
        flat[: len(data)] = data
        return len(data)


class BudgetError(Exception):
    """A decompression or size budget was exceeded."""


class Counting(io.RawIOBase):
    """Counts the bytes read through it."""

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self._fh = fh
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.count += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        return _fill(self.read, buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


class Region(io.RawIOBase):
    """Bytes [start, start+length) of `fh`, seen as a file of its own."""

    def __init__(self, fh: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._fh = fh
        self._start = start
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = self._length - self._pos
        if n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        self._fh.seek(self._start + self._pos)
        data = self._fh.read(n)
        self._pos += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        return _fill(self.read, buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class _Zlib(io.RawIOBase):
    """A zlib (RFC 1950) stream, as joblib's `BinaryZlibFile` writes it."""

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self._fh = fh
        self._z = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = (1 << 20) if n < 0 else n
        out = b""
        while len(out) < n and not self._z.eof:
            if not self._pending:
                self._pending = self._z.unconsumed_tail or self._fh.read(1 << 16)
                if not self._pending:
                    raise BudgetError("the zlib stream is truncated")
            data = self._z.decompress(self._pending, n - len(out))
            self._pending = self._z.unconsumed_tail
            out += data
        return out


class Inflating(io.RawIOBase):
    """A decompressing, forward-only reader with size and ratio budgets."""

    def __init__(self, kind: str, fh: Counting, *, max_size: int, max_ratio: int) -> None:
        super().__init__()
        self._src = fh
        self._start_count = fh.count
        self._max_size = max_size
        self._max_ratio = max_ratio
        self.produced = 0
        import bz2
        import gzip
        import lzma

        self._lzma_error = lzma.LZMAError
        src: Any = fh
        inner: Any
        # The decompressor objects are closed with this reader (close() below).
        if kind == "gzip":
            inner = gzip.GzipFile(fileobj=src, mode="rb")
        elif kind == "bz2":
            inner = bz2.BZ2File(src)
        elif kind in ("xz", "lzma"):
            inner = lzma.LZMAFile(src)  # noqa: SIM115
        elif kind == "zlib":
            inner = _Zlib(src)
        else:
            raise ValueError(kind)
        self._inner = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        try:
            data: bytes = self._inner.read(n if n >= 0 else 1 << 20)
        except (OSError, EOFError, zlib.error, self._lzma_error) as exc:
            raise BudgetError(f"decompression failed: {exc}") from None
        self.produced += len(data)
        if self.produced > self._max_size:
            raise BudgetError(f"decompressed data exceeds {self._max_size} bytes")
        consumed = max(1, self._src.count - self._start_count)
        if self.produced > (64 << 20) and self.produced / consumed > self._max_ratio:
            raise BudgetError(f"compression ratio exceeds {self._max_ratio}:1")
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        return _fill(self.read, buffer)


def read_all(stream: Any, limit: int) -> bytes:
    """Read a whole stream, failing past `limit` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise BudgetError(f"more than {limit} bytes to hold in memory")
        chunks.append(chunk)


class Replay(io.RawIOBase):
    """Replays `head` then continues with `rest` (sniffing a forward-only stream)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0 or n >= len(self._head):
                out, self._head = self._head, b""
                more: bytes = self._rest.read(-1 if n < 0 else n - len(out))
                return out + more
            out, self._head = self._head[:n], self._head[n:]
            return out
        rest: bytes = self._rest.read(n)
        return rest
