"""Verify a written safetensors file before it is published, and hash it.

Two independent readings of the file on disk:

1. `ReadBack` follows the writer in a second thread: it reads each piece back from the
   output file, and produces the same piece again from the checkpoint with its own
   reads (`weightguard.convert.writer.tensor_bytes`); the two must be equal byte for
   byte. The SHA-256 of the whole file (the provenance subject) is computed from the
   bytes read back, in the same pass;
2. once the file is complete, the `safetensors` library must open it (numpy framework,
   so no torch): its Rust header parser validates the layout (offsets contiguous, sizes
   matching dtype x shape), and the names, dtypes, shapes and metadata it reports must
   equal the plan.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from weightguard.convert.plan import Plan
from weightguard.convert.writer import CHUNK, SourceReader, tensor_bytes
from weightguard.errors import IncompleteError

_WRITEBACK = 64 << 20


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a verified range to disk now, so the final fsync has little left.

    POSIX_FADV_DONTNEED makes Linux start asynchronous writeback of the range's dirty
    pages (mm/fadvise.c) and drop the clean ones we no longer need; without it, a
    multi-GB output stays dirty until fsync and the whole disk write happens there.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):  # only a hint
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _mismatch(path: str, message: str) -> IncompleteError:
    return IncompleteError(
        f"verification of the written file failed: {message}",
        code="convert.verify_failed",
        path=path,
    )


class ReadBack:
    """Checks the output behind the writer: call `advance` after writes, then `finish`."""

    def __init__(self, fd: int, plan: Plan, source: SourceReader, chunk: int = CHUNK) -> None:
        self.fd = fd
        self.plan = plan
        self.source = SourceReader(source.fd, source.path)  # its own reads of the input
        self.chunk = chunk
        self.sha256 = hashlib.sha256()
        self.error: BaseException | None = None
        self.mismatch: str | None = None
        self.done = False
        self._written = 0
        self._closed = False
        self._cond = threading.Condition()
        # SHA-256 runs in its own thread on one buffer while the next one is read and
        # compared (hashlib releases the GIL): the pass costs about one SHA-256.
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="wg-sha256")
        self._buffers = [bytearray(chunk), bytearray(chunk)]
        self._hashing: list[Future[None] | None] = [None, None]
        self._turn = 0
        self._thread = threading.Thread(target=self._run, name="wg-readback", daemon=True)
        self._thread.start()

    def advance(self, written: int) -> None:
        """The writer has written the first `written` bytes of the file."""
        with self._cond:
            self._written = written
            self._cond.notify()

    def close(self) -> None:
        """Stop waiting for more bytes (the writer is done or failed) and join."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def finish(self) -> str:
        """Join; return the file's SHA-256 hex when every byte read back as expected.

        Raises:
            OSError / EOFError: the file (or the checkpoint) could not be read back.
            ValueError: a piece differs (the message names the tensor).
        """
        self.close()
        if self.error is not None:
            raise self.error
        if self.mismatch is not None:
            raise ValueError(self.mismatch)
        if not self.done:
            raise EOFError("the file was not read back to its end")
        return self.sha256.hexdigest()

    def _run(self) -> None:
        try:
            self._check_all()
            for pending in self._hashing:
                if pending is not None:
                    pending.result()
        except BaseException as exc:  # handed to the caller by finish()
            self.error = exc
        finally:
            self._hasher.shutdown(wait=True)

    def _read_back(self, pos: int, expected: memoryview | bytes) -> bool:
        """Read len(expected) bytes at `pos` once written; hash them; False if they differ."""
        n = len(expected)
        with self._cond:
            while self._written < pos + n and not self._closed:
                self._cond.wait()
            if self._written < pos + n:
                raise EOFError(f"the writer stopped before byte {pos + n}")
        turn = self._turn
        self._turn ^= 1
        previous = self._hashing[turn]
        if previous is not None:
            previous.result()  # that buffer is hashed: it may be reused
        # bytearray == buffer is one memcmp; memoryview == memoryview compares item by
        # item (about 15x slower), so read into a bytearray of exactly n bytes.
        buf = self._buffers[turn]
        target = buf if n == len(buf) else bytearray(n)
        view = memoryview(target)
        got = 0
        while got < n:
            k = os.preadv(self.fd, [view[got:]], pos + got)
            if k == 0:
                raise EOFError(f"the file ends at byte {pos + got}")
            got += k
        self._hashing[turn] = self._hasher.submit(self.sha256.update, view)
        other: object = expected  # bytearray.__eq__ takes any buffer
        return target == other

    def _check_all(self) -> None:
        source_buf = bytearray(self.chunk)
        if not self._read_back(0, self.plan.header):
            self.mismatch = "the header on disk is not the planned header"
            return
        pos = flushed = len(self.plan.header)
        for placed in self.plan.placed:
            for piece in tensor_bytes(self.source, placed.tensor, self.chunk, source_buf):
                if not self._read_back(pos, piece):
                    self.mismatch = f"tensor {placed.tensor.name} differs from its source bytes"
                    return
                pos += len(piece)
                if pos - flushed >= _WRITEBACK:
                    _start_writeback(self.fd, flushed, pos - flushed)
                    flushed = pos
        self.done = True


def _library_view(read_path: str, plan: Plan, shown: str) -> None:
    try:
        from safetensors import safe_open
    except ImportError as exc:  # pragma: no cover - the safetensors extra is missing
        raise IncompleteError(
            "the safetensors package is needed to verify conversions",
            code="convert.missing_dependency",
            path=shown,
        ) from exc
    try:
        with safe_open(read_path, framework="numpy") as f:
            names = set(f.keys())
            metadata = f.metadata() or {}
            layout = {
                name: (str(f.get_slice(name).get_dtype()), tuple(f.get_slice(name).get_shape()))
                for name in names
            }
    except Exception as exc:  # the library's SafetensorError and OSError alike
        raise _mismatch(shown, f"safetensors cannot open it ({exc})") from exc
    want = {
        p.tensor.name: (p.tensor.dtype.safetensors, p.tensor.dtype.header_shape(p.tensor.shape))
        for p in plan.placed
    }
    if layout != want:
        wrong = sorted(set(layout.items()) ^ set(want.items()), key=str)[:1]
        raise _mismatch(shown, f"tensor names, dtypes or shapes differ ({wrong})")
    if metadata != plan.metadata:
        raise _mismatch(shown, "header metadata differs from the plan")


def verify_written(fd: int, read_path: str, plan: Plan, readback: ReadBack, *, shown: str) -> str:
    """Finish the read-back check, then open the file with safetensors; return its SHA-256.

    Raises:
        IncompleteError: any difference (``convert.verify_failed``).
    """
    try:
        sha256 = readback.finish()
    except ValueError as exc:
        raise _mismatch(shown, str(exc)) from exc
    except (OSError, EOFError) as exc:
        raise _mismatch(shown, f"cannot read it back ({exc})") from exc
    size = os.fstat(fd).st_size
    if size != plan.total_bytes:
        raise _mismatch(shown, f"{size} bytes written, {plan.total_bytes} planned")
    _library_view(read_path, plan, shown)
    return sha256
