"""Verify a written safetensors file before it is published, and hash it.

Two independent readings of the file on disk:

1. the `safetensors` library opens it (numpy framework, so no torch): its Rust header
   parser validates the layout (offsets contiguous, sizes matching dtype x shape), and
   the names, dtypes, shapes and metadata it reports must equal the plan;
2. the bytes are read back: the header must be the planned one, each tensor's BLAKE3
   must equal the digest of the bytes produced from the checkpoint, and the SHA-256 of
   the whole file (the provenance subject) is computed in the same pass.

The two hashes run in two threads that each read the file (hashlib and blake3 release
the GIL), so the pass costs about one SHA-256 of the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from weightguard.convert.plan import Plan
from weightguard.digest import new_hasher
from weightguard.errors import IncompleteError

_BUF = 4 << 20


def _mismatch(path: str, message: str) -> IncompleteError:
    return IncompleteError(
        f"verification of the written file failed: {message}",
        code="convert.verify_failed",
        path=path,
    )


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


def _read_range(
    fd: int, start: int, end: int, buf: bytearray, update: Callable[[memoryview], object]
) -> None:
    view = memoryview(buf)
    pos = start
    while pos < end:
        n = os.preadv(fd, [view[: min(len(buf), end - pos)]], pos)
        if n == 0:
            raise EOFError(f"file ends at byte {pos}, expected {end}")
        update(view[:n])
        pos += n


def _sha256_file(fd: int, size: int) -> str:
    hasher = hashlib.sha256()
    _read_range(fd, 0, size, bytearray(_BUF), hasher.update)
    return hasher.hexdigest()


def _tensor_digests(fd: int, plan: Plan) -> list[str]:
    base = len(plan.header)
    buf = bytearray(_BUF)
    out = []
    for placed in plan.placed:
        hasher = new_hasher("blake3")
        _read_range(fd, base + placed.begin, base + placed.end, buf, hasher.update)
        out.append(hasher.hexdigest())
    return out


def verify_written(
    fd: int, read_path: str, plan: Plan, digests: Sequence[str], *, shown: str
) -> str:
    """Check the file behind `fd` against the plan and digests; return its SHA-256 hex.

    Raises:
        IncompleteError: any difference (``convert.verify_failed``).
    """
    size = os.fstat(fd).st_size
    if size != plan.total_bytes:
        raise _mismatch(shown, f"{size} bytes written, {plan.total_bytes} planned")
    head = os.pread(fd, len(plan.header), 0)
    if head != plan.header:
        raise _mismatch(shown, "the header on disk is not the planned header")
    _library_view(read_path, plan, shown)
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="wg-verify") as pool:
            whole = pool.submit(_sha256_file, fd, size)
            tensors = pool.submit(_tensor_digests, fd, plan)
            sha256, found = whole.result(), tensors.result()
    except (OSError, EOFError) as exc:
        raise _mismatch(shown, f"cannot read it back ({exc})") from exc
    for placed, want, got in zip(plan.placed, digests, found):
        if want != got:
            raise _mismatch(shown, f"tensor {placed.tensor.name} differs from its source bytes")
    return sha256
