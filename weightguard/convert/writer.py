"""Stream tensors from the checkpoint into the safetensors file in bounded chunks.

Memory is O(chunk): a contiguous tensor is copied chunk by chunk with ``pread``; a
strided view (a transpose, a slice with a step, a broadcast) is gathered block by block,
each block reading at most `chunk` bytes of the storage and producing at most `chunk`
bytes of output (numpy's ``as_strided`` does the gather; numpy is imported only then).
Big-endian storages are byte-swapped per element (per half for complex numbers). Every
written byte is checked by `weightguard.convert.check.ReadBack`, which follows the writer.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Callable, Iterator

from weightguard.convert.model import TensorRef
from weightguard.convert.plan import Plan
from weightguard.errors import ModelChangedError, ModelReadError

CHUNK = 8 << 20
Progress = Callable[[int], None]


def is_contiguous(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """C-contiguous in torch's sense: dimensions of size 1 may have any stride."""
    if 0 in shape:
        return True
    step = 1
    for dim, stride in zip(reversed(shape), reversed(strides)):
        if dim != 1 and stride != step:
            return False
        step *= dim
    return True


class SourceReader:
    """Reads byte ranges of the checkpoint (by file offset) or of in-memory constants."""

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path

    def read(self, t: TensorRef, start: int, length: int, buf: bytearray) -> memoryview:
        """`length` bytes at byte `start` of the tensor's storage."""
        if t.span.data is not None:
            return memoryview(t.span.data)[start : start + length]
        if length > len(buf):  # one element wider than the chunk: a one-off buffer
            buf = bytearray(length)
        view = memoryview(buf)[:length]
        got = 0
        while got < length:
            try:
                n = os.preadv(self.fd, [view[got:]], t.span.offset + start + got)
            except OSError as exc:
                raise ModelReadError(f"read failed: {exc.strerror}", path=self.path) from exc
            if n == 0:
                raise ModelChangedError("the checkpoint ended early", path=self.path)
            got += n
        return view


def _swap(data: memoryview, unit: int) -> memoryview:
    import numpy as np

    swapped = np.frombuffer(data, dtype=f">u{unit}").astype(f"<u{unit}")
    return memoryview(swapped.tobytes())


def _contiguous(
    src: SourceReader, t: TensorRef, chunk: int, buf: bytearray
) -> Iterator[memoryview]:
    total, size = t.nbytes, t.dtype.itemsize
    step = max(size, chunk - chunk % size)  # whole elements, so byte swaps never split one
    for pos in range(0, total, step):
        yield src.read(t, t.offset + pos, min(step, total - pos), buf)


def _block_plan(t: TensorRef, chunk: int) -> tuple[int, int]:
    """(k, m): dims k.. are gathered whole, m indices of dim k-1 per block (k=0: one block)."""
    shape, strides, size = t.shape, t.strides, t.dtype.itemsize
    inner_out, inner_span, k = size, size, len(shape)
    # Grow the inner block from the last dimension while it stays within the budget.
    while k > 0:
        dim, stride = shape[k - 1], strides[k - 1]
        out = inner_out * dim
        span = inner_span + (dim - 1) * stride * size
        if out > chunk or span > chunk:
            break
        inner_out, inner_span, k = out, span, k - 1
    if k == 0:
        return 0, 1
    stride_bytes = strides[k - 1] * size
    m = 1
    while m < shape[k - 1]:
        nxt = m * 2
        if nxt * inner_out > chunk or inner_span + (nxt - 1) * stride_bytes > chunk:
            break
        m = nxt
    return k, min(m, shape[k - 1])


def _strided(src: SourceReader, t: TensorRef, chunk: int, buf: bytearray) -> Iterator[memoryview]:
    import numpy as np
    from numpy.lib.stride_tricks import as_strided

    size = t.dtype.itemsize
    shape, strides = t.shape, t.strides
    k, m = _block_plan(t, chunk)
    element = np.dtype(f"u{size}")
    inner_shape, inner_strides = shape[k:], strides[k:]
    inner_span = sum((d - 1) * s for d, s in zip(inner_shape, inner_strides)) + 1
    if k == 0:
        outer: Iterator[tuple[int, ...]] = iter([()])
        slab_dim, slab_stride = 1, 0
    else:
        outer = itertools.product(*(range(d) for d in shape[: k - 1]))
        slab_dim, slab_stride = shape[k - 1], strides[k - 1]
    for index in outer:
        base = sum(i * s for i, s in zip(index, strides))
        for first in range(0, slab_dim, m):
            rows = min(m, slab_dim - first)
            start = base + first * slab_stride
            span = (rows - 1) * slab_stride + inner_span
            raw = src.read(t, t.offset + start * size, span * size, buf)
            flat = np.frombuffer(raw, dtype=element)
            block_shape = ((rows,) if k else ()) + inner_shape
            block_strides = ((slab_stride * size,) if k else ()) + tuple(
                s * size for s in inner_strides
            )
            block = as_strided(flat, shape=block_shape, strides=block_strides, writeable=False)
            yield memoryview(np.ascontiguousarray(block).tobytes())


def tensor_bytes(
    src: SourceReader, t: TensorRef, chunk: int = CHUNK, buf: bytearray | None = None
) -> Iterator[memoryview]:
    """The tensor's C-contiguous, little-endian bytes, in pieces of at most `chunk`.

    A piece may be a view of a reused buffer: it is valid until the next piece is asked
    for, so consume (write, hash) it first and copy it if it must be kept.
    """
    if t.numel == 0:
        return
    buf = buf if buf is not None else bytearray(chunk)
    pieces = (
        _contiguous(src, t, chunk, buf)
        if is_contiguous(t.shape, t.strides)
        else _strided(src, t, chunk, buf)
    )
    for piece in pieces:
        yield _swap(piece, t.dtype.swap_unit) if t.big_endian and t.dtype.swap_unit > 1 else piece


class _NoKernelCopy(Exception):
    """copy_file_range is unavailable for this pair of files (nothing was copied)."""


def _plain_copy(t: TensorRef) -> bool:
    """The tensor's bytes are one range of the checkpoint file, as they are to be written."""
    swap = t.big_endian and t.dtype.swap_unit > 1
    return t.span.data is None and not swap and is_contiguous(t.shape, t.strides)


def _kernel_copy(src: SourceReader, out_fd: int, t: TensorRef, chunk: int) -> Iterator[int]:
    """Copy a plain tensor with copy_file_range (no trip through user space), by chunks."""
    start, total, done = t.span.offset + t.offset, t.nbytes, 0
    while done < total:
        try:
            n = os.copy_file_range(src.fd, out_fd, min(chunk, total - done), start + done)
        except OSError as exc:
            if done == 0 and exc.errno in (
                errno.EXDEV,
                errno.ENOSYS,
                errno.EINVAL,
                errno.EOPNOTSUPP,
            ):
                raise _NoKernelCopy from exc
            raise
        if n == 0:
            raise ModelChangedError("the checkpoint ended early", path=src.path)
        done += n
        yield n


def _write_piece(fd: int, piece: memoryview) -> int:
    _write_all(fd, piece)
    return len(piece)


def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_file(
    src: SourceReader,
    out_fd: int,
    plan: Plan,
    *,
    chunk: int = CHUNK,
    progress: Progress | None = None,
    written: Progress | None = None,
) -> None:
    """Write the header and every planned tensor.

    `progress` gets the tensor bytes of each write; `written` the file offset reached
    after it (the read-back verifier follows it).

    Raises:
        ModelReadError / ModelChangedError: the checkpoint cannot be read as planned.
        OSError: the output cannot be written (the caller maps it).
    """
    _write_all(out_fd, plan.header)
    offset = len(plan.header)
    if written is not None:
        written(offset)
    buf = bytearray(chunk)
    in_kernel = hasattr(os, "copy_file_range")
    for placed in plan.placed:
        t = placed.tensor
        produced = 0
        if in_kernel and _plain_copy(t):
            pieces: Iterator[int] = _kernel_copy(src, out_fd, t, chunk)
        else:
            pieces = (_write_piece(out_fd, piece) for piece in tensor_bytes(src, t, chunk, buf))
        try:
            for n in pieces:
                produced += n
                if progress is not None:
                    progress(n)
                if written is not None:
                    written(offset + produced)
        except _NoKernelCopy:
            in_kernel = False  # e.g. across file systems on old kernels: copy in user space
            for piece in tensor_bytes(src, t, chunk, buf):
                _write_all(out_fd, piece)
                produced += len(piece)
                if progress is not None:
                    progress(len(piece))
                if written is not None:
                    written(offset + produced)
        offset += produced
        if produced != placed.end - placed.begin:
            raise ModelReadError(
                f"tensor {placed.tensor.name}: {produced} bytes produced, "
                f"{placed.end - placed.begin} planned",
                path=src.path,
                code="convert.internal_size",
            )
