"""Verify a written safetensors file before it is published, and hash it.

Two independent readings of the file on disk:

1. `ReadBack` re-reads the file from its descriptor right behind the writer (a second
   thread, so the check costs little extra wall time): the SHA-256 of the whole file
   (the provenance subject) and the BLAKE3 of each tensor's bytes, which must equal the
   digests of the bytes produced from the checkpoint (`weightguard.convert.writer`);
2. once the file is complete, the header on disk must be the planned one and the
   `safetensors` library must open it (numpy framework, so no torch): its Rust header
   parser validates the layout (offsets contiguous, sizes matching dtype x shape), and
   the names, dtypes, shapes and metadata it reports must equal the plan.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence

from weightguard.convert.plan import Plan
from weightguard.digest import Hasher, new_hasher
from weightguard.errors import IncompleteError

_BUF = 4 << 20


def _mismatch(path: str, message: str) -> IncompleteError:
    return IncompleteError(
        f"verification of the written file failed: {message}",
        code="convert.verify_failed",
        path=path,
    )


class ReadBack:
    """Reads the output behind the writer; `advance` after writes, then `finish`."""

    def __init__(self, fd: int, plan: Plan) -> None:
        self.fd = fd
        base = len(plan.header)
        self.total = plan.total_bytes
        self.ranges = [(base + p.begin, base + p.end) for p in plan.placed]
        self.digests: list[str] = []
        self.sha256 = hashlib.sha256()
        self.error: BaseException | None = None
        self._written = 0
        self._closed = False
        self._cond = threading.Condition()
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

    def finish(self) -> tuple[str, list[str]]:
        """Join and return (whole-file SHA-256 hex, BLAKE3 hex per tensor).

        Raises:
            OSError / EOFError: the file could not be read back in full.
        """
        self.close()
        if self.error is not None:
            raise self.error
        if len(self.digests) != len(self.ranges):
            raise EOFError("the file was not read back to its end")
        return self.sha256.hexdigest(), self.digests

    def _wait(self, pos: int) -> int:
        with self._cond:
            while self._written <= pos and not self._closed:
                self._cond.wait()
            return self._written

    def _run(self) -> None:
        try:
            self._read_all()
        except BaseException as exc:  # handed to the caller by finish()
            self.error = exc

    def _read_all(self) -> None:
        buf = bytearray(_BUF)
        view = memoryview(buf)
        pos, index = 0, 0
        hasher: Hasher = new_hasher("blake3")
        while pos < self.total:
            limit = self._wait(pos)
            if limit <= pos:
                return  # closed early: the writer failed
            n = os.preadv(self.fd, [view[: min(_BUF, limit - pos)]], pos)
            if n == 0:
                raise EOFError(f"the file ends at byte {pos}")
            chunk, end = view[:n], pos + n
            self.sha256.update(chunk)
            while index < len(self.ranges):
                start, stop = self.ranges[index]
                if start < end and stop > pos:
                    hasher.update(chunk[max(start, pos) - pos : min(stop, end) - pos])
                if stop > end:
                    break
                self.digests.append(hasher.hexdigest())
                hasher = new_hasher("blake3")
                index += 1
            pos = end
        while index < len(self.ranges):  # empty tensors at the very end
            self.digests.append(new_hasher("blake3").hexdigest())
            index += 1


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


def verify_written(
    fd: int,
    read_path: str,
    plan: Plan,
    digests: Sequence[str],
    readback: ReadBack,
    *,
    shown: str,
) -> str:
    """Check the file behind `fd` against the plan and digests; return its SHA-256 hex.

    Raises:
        IncompleteError: any difference (``convert.verify_failed``).
    """
    try:
        sha256, found = readback.finish()
    except (OSError, EOFError) as exc:
        raise _mismatch(shown, f"cannot read it back ({exc})") from exc
    size = os.fstat(fd).st_size
    if size != plan.total_bytes:
        raise _mismatch(shown, f"{size} bytes written, {plan.total_bytes} planned")
    if os.pread(fd, len(plan.header), 0) != plan.header:
        raise _mismatch(shown, "the header on disk is not the planned header")
    for placed, want, got in zip(plan.placed, digests, found, strict=True):
        if want != got:
            raise _mismatch(shown, f"tensor {placed.tensor.name} differs from its source bytes")
    _library_view(read_path, plan, shown)
    return sha256
