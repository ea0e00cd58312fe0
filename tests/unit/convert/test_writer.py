"""The strided gather and byte swap, against numpy, for arbitrary views and chunk sizes."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightguard.convert.dtypes import TORCH_DTYPES
from weightguard.convert.model import TensorRef
from weightguard.convert.source import Span
from weightguard.convert.writer import SourceReader, is_contiguous, tensor_bytes

np = pytest.importorskip("numpy")

_DTYPES = [TORCH_DTYPES[n] for n in ("uint8", "float16", "float32", "complex64", "int64")]


@st.composite
def views(draw: st.DrawFn) -> tuple:
    dtype = draw(st.sampled_from(_DTYPES))
    rank = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=rank, max_size=rank)))
    strides = tuple(draw(st.lists(st.integers(0, 9), min_size=rank, max_size=rank)))
    offset = draw(st.integers(0, 6))
    reach = offset + sum((d - 1) * s for d, s in zip(shape, strides)) + 1 if all(shape) else 1
    storage = draw(st.binary(min_size=reach * dtype.itemsize, max_size=reach * dtype.itemsize + 9))
    return dtype, shape, strides, offset, storage, draw(st.booleans()), draw(st.integers(1, 70))


def _expected(
    dtype: object, shape: tuple, strides: tuple, offset: int, storage: bytes, big: bool
) -> bytes:
    size = dtype.itemsize  # type: ignore[attr-defined]
    if not all(shape):
        return b""
    flat = np.frombuffer(storage, dtype=np.uint8)
    view = np.lib.stride_tricks.as_strided(
        flat[offset * size :], shape=(*shape, size), strides=(*(s * size for s in strides), 1)
    )
    out = np.ascontiguousarray(view)
    if big:
        unit = dtype.swap_unit  # type: ignore[attr-defined]
        out = out.reshape(-1, size // unit, unit)[..., ::-1]
    return out.tobytes()


@settings(max_examples=300, deadline=None)
@given(views())
def test_gather_matches_numpy(case: tuple) -> None:
    dtype, shape, strides, offset, storage, big, chunk = case
    want = _expected(dtype, shape, strides, offset, storage, big)
    with tempfile.TemporaryFile() as fh:
        fh.write(b"pad" + storage)
        fh.flush()
        for span in (Span(0, len(storage), storage), Span(3, len(storage))):
            t = TensorRef("t", dtype, shape, strides, offset * dtype.itemsize, "s", span, big, 0)
            # each piece is only valid until the next is produced (one reused buffer): copy it
            pieces = [bytes(p) for p in tensor_bytes(SourceReader(fh.fileno(), "f"), t, chunk)]
            assert b"".join(pieces) == want
            # bounded: no piece is larger than the chunk (or one element)
            assert all(len(p) <= max(chunk, dtype.itemsize) for p in pieces)


def test_contiguity_rule() -> None:
    assert is_contiguous((2, 3), (3, 1))
    assert is_contiguous((1, 3), (99, 1))  # size-1 dims may have any stride
    assert is_contiguous((0, 3), (0, 0))
    assert not is_contiguous((3, 2), (1, 3))
    assert not is_contiguous((4,), (0,))


def test_reader_reports_a_short_file() -> None:
    from weightguard.errors import ModelChangedError

    with tempfile.TemporaryFile() as fh:
        fh.write(b"abc")
        fh.flush()
        t = TensorRef("t", TORCH_DTYPES["uint8"], (10,), (1,), 0, "s", Span(0, 10), False, 0)
        with pytest.raises(ModelChangedError):
            list(tensor_bytes(SourceReader(fh.fileno(), "f"), t, 4))
