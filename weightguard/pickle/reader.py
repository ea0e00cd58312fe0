"""A frame-aware byte reader for pickle streams, strict where CPython readers disagree.

CPython has two unpicklers that read frames differently (Modules/_pickle.c and the
pure-Python `pickle._Unpickler`). The C one treats FRAME as a prefetch hint: a read
that runs past the end of the frame buffer is served from the *file* after the frame
(`_Unpickler_ReadImpl` / `_Unpickler_Readline` replace the buffer with fresh file data),
silently skipping the rest of the frame; the pure-Python `_Unframer` raises "pickle
exhausted before end of frame". Opcode listers such as `pickletools.genops` ignore
frames entirely. So any opcode or argument that straddles a frame end, and any FRAME
that starts before the previous frame is consumed, can be read three ways: we reject it
(an evasive stream, reported unsafe).

The reader never reads past `limit` and reads a file in bounded chunks, so a stream
with large raw payloads (legacy torch, joblib arrays) costs memory for the pickle
opcodes only.
"""

from __future__ import annotations

from typing import BinaryIO

_CHUNK = 1 << 16


class StreamError(Exception):
    """The stream cannot be read the way CPython would read it, or a budget was hit.

    Attributes:
        rule: stable rule id (``pickle.truncated``, ``pickle.frame_straddle`` ...).
        offset: stream offset of the opcode (or byte) the error is about.
        evasive: True when the stream is malformed in a way that makes readers disagree
            (reported unsafe); False when it is merely unreadable (reported incomplete).
    """

    def __init__(self, rule: str, message: str, offset: int, *, evasive: bool = False) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.offset = offset
        self.evasive = evasive


class Reader:
    """Sequential reads over bytes or a seekable file, with FRAME bookkeeping.

    Offsets are absolute positions in the underlying file (or bytes object); `start`
    is where reading begins and `limit` where it must end (exclusive; None = EOF).
    """

    __slots__ = ("_base", "_buf", "_fh", "_limit", "_pos", "bytes_read", "frame_end", "start")

    def __init__(
        self, source: BinaryIO | bytes, *, start: int = 0, limit: int | None = None
    ) -> None:
        self.start = start
        self.frame_end: int | None = None
        self.bytes_read = 0
        if isinstance(source, bytes):
            self._fh: BinaryIO | None = None
            end = len(source) if limit is None else min(limit, len(source))
            self._buf = source[start:end] if (start or end != len(source)) else source
            self._limit: int | None = end
        else:
            self._fh = source
            if start or _seekable(source):
                source.seek(start)
            self._buf = b""
            self._limit = limit
        self._base = start
        self._pos = 0

    @property
    def offset(self) -> int:
        """The absolute offset of the next byte to read."""
        return self._base + self._pos

    def _fill(self, n: int) -> bool:
        """Make `n` bytes available at the read position; False if the stream ends first."""
        avail = len(self._buf) - self._pos
        if avail >= n:
            return True
        if self._fh is None:
            return False
        want = max(n - avail, _CHUNK)
        if self._limit is not None:
            want = min(want, self._limit - (self._base + len(self._buf)))
        chunks = [self._buf[self._pos :]]
        got = avail
        while got < n and want > 0:
            chunk = self._fh.read(want)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            want -= len(chunk)
        self.bytes_read += got - avail
        self._base += self._pos
        self._buf = b"".join(chunks)
        self._pos = 0
        return got >= n

    def _check_frame(self, n: int) -> None:
        # Called with a frame open: a read must lie wholly inside or wholly after it.
        here = self._base + self._pos
        end = self.frame_end
        assert end is not None
        if here >= end:
            self.frame_end = None
        elif here + n > end:
            raise StreamError(
                "pickle.frame_straddle",
                "an opcode or its argument runs past the end of its FRAME "
                "(CPython's C and Python unpicklers read this differently)",
                here,
                evasive=True,
            )

    def remaining(self) -> int | None:
        """Bytes left before the limit (None when reading to an unknown end)."""
        return None if self._limit is None else self._limit - self.offset

    def read(self, n: int) -> bytes:
        """Read exactly `n` bytes or raise `pickle.truncated`."""
        if self.frame_end is not None:
            self._check_frame(n)
        pos = self._pos
        if pos + n > len(self._buf) and not self._fill(n):
            raise StreamError("pickle.truncated", "the stream ends inside an opcode", self.offset)
        pos = self._pos
        self._pos = pos + n
        return self._buf[pos : pos + n]

    def read1(self) -> int:
        """Read one byte (an opcode) as an int."""
        if self.frame_end is not None:
            self._check_frame(1)
        pos = self._pos
        if pos >= len(self._buf) and not self._fill(1):
            raise StreamError("pickle.truncated", "the stream ends without STOP", self.offset)
        pos = self._pos
        self._pos = pos + 1
        return self._buf[pos]

    def readline(self, max_len: int) -> bytes:
        """Read up to and including a newline, which must lie in the current frame."""
        start = self._pos
        while True:
            stop = len(self._buf)
            if self.frame_end is not None:
                stop = min(stop, self.frame_end - self._base)
            idx = self._buf.find(b"\n", self._pos, stop)
            if idx >= 0:
                line = self._buf[self._pos : idx + 1]
                if self.frame_end is not None and self._base + self._pos >= self.frame_end:
                    self.frame_end = None
                self._pos = idx + 1
                return line
            if self.frame_end is not None and self._base + len(self._buf) >= self.frame_end:
                if self._base + self._pos < self.frame_end:
                    raise StreamError(
                        "pickle.frame_straddle",
                        "a text argument has no newline before the end of its FRAME "
                        "(CPython's C unpickler reads the line from after the frame)",
                        self._base + self._pos,
                        evasive=True,
                    )
                self.frame_end = None
                continue
            if len(self._buf) - start > max_len:
                raise StreamError("pickle.budget", "a text argument is too long", self.offset)
            if not self._fill(len(self._buf) - self._pos + 1):
                raise StreamError("pickle.truncated", "the stream ends inside a line", self.offset)

    def open_frame(self, length: int, op_offset: int) -> None:
        """Start a frame of `length` bytes at the current position (FRAME opcode)."""
        if self.frame_end is not None and self._base + self._pos < self.frame_end:
            raise StreamError(
                "pickle.frame_nested",
                "a FRAME starts before the previous frame was consumed",
                op_offset,
                evasive=True,
            )
        end = self._base + self._pos + length
        if self._limit is not None and end > self._limit:
            raise StreamError(
                "pickle.frame_truncated", "a FRAME is longer than the rest of the stream", op_offset
            )
        self.frame_end = end if length else None

    def frame_consumed(self) -> bool:
        """True when no frame is open or the open one has been read to its end."""
        return self.frame_end is None or self._base + self._pos >= self.frame_end

    def skip(self, n: int) -> None:
        """Skip `n` bytes without keeping them (large constants, raw array data)."""
        if self.frame_end is not None:
            self._check_frame(n)
        avail = len(self._buf) - self._pos
        if n <= avail:
            self._pos += n
            return
        target = self._base + self._pos + n
        if self._limit is not None and target > self._limit:
            raise StreamError("pickle.truncated", "the stream ends inside a constant", self.offset)
        if self._fh is None:
            raise StreamError("pickle.truncated", "the stream ends inside a constant", self.offset)
        remaining = n - avail
        self._base += len(self._buf)
        self._buf = b""
        self._pos = 0
        if _seekable(self._fh):
            end = self._fh.seek(0, 2)
            if self._base + remaining > end:
                self._fh.seek(self._base)
                raise StreamError("pickle.truncated", "the stream ends inside a constant", end)
            self._fh.seek(self._base + remaining)
        else:
            while remaining:
                chunk = self._fh.read(min(remaining, 1 << 20))
                if not chunk:
                    raise StreamError(
                        "pickle.truncated", "the stream ends inside a constant", self._base
                    )
                self.bytes_read += len(chunk)
                remaining -= len(chunk)
                self._base += len(chunk)
            return
        self._base += remaining

    def at_end(self) -> bool:
        """True when no byte is left before `limit` (or EOF)."""
        return not self._fill(1)

    def peek(self, n: int) -> bytes:
        """Up to `n` bytes from the read position, without consuming them."""
        self._fill(n)
        return self._buf[self._pos : self._pos + n]


def _seekable(fh: BinaryIO) -> bool:
    try:
        return bool(fh.seekable())
    except (AttributeError, OSError, ValueError):
        return False
