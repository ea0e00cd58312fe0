"""Open a checkpoint for conversion: its pickle as a value graph and where its bytes lie.

Reads, never loads: the pickle runs through the scanner's symbolic machine
(`weightguard.pickle.vm.parse_pickle`), and the container code only locates byte ranges.
Formats (detected by content with `weightguard.pickle.detect_format`):

- ``torch-zip`` (torch.save since 1.6): ``<archive>/data.pkl`` plus one record
  ``<archive>/data/<key>`` per storage, and ``<archive>/byteorder`` (``little`` or
  ``big``; absent means little, as in torch/serialization.py `_load`). Records must be
  STORED: torch never compresses them, and a compressed record cannot be streamed.
- ``torch-legacy`` (``_use_new_zipfile_serialization=False``): five pickles (magic
  number, protocol 1001, sys_info, the object, the storage keys), then per key an int64
  element count and the raw little-endian bytes (torch/csrc/serialization.cpp
  ``THPStorage_writeFileRaw`` converts to little endian on every host).
- ``pickle`` / ``joblib``: one pickle; numpy arrays carry their bytes in the stream
  (joblib writes them right after each ``NumpyArrayWrapper``).

Everything else (TorchScript, legacy tar, compressed files, npz) is refused with a reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from weightguard.errors import IncompleteError
from weightguard.pickle import (
    TORCH_MAGIC,
    TORCH_PROTOCOL,
    BuildHook,
    Dict,
    Global,
    LegacyStorages,
    Limits,
    List,
    Machine,
    Member,
    Obj,
    PersistentRef,
    PickleProgram,
    Reader,
    Tuple,
    Value,
    ZipError,
    data_offset,
    dtype_layout,
    joblib_hook,
    parse_pickle,
    read_directory,
    read_int64,
)

CONVERTIBLE_FORMATS = ("torch-zip", "torch-legacy", "pickle", "joblib")

_REFUSED_FORMATS = {
    "torchscript": "a TorchScript archive holds code, not a state dict; save "
    "model.state_dict() with torch.save and convert that",
    "torch-tar": "the legacy tar format (torch < 0.4) is not supported; re-save it with a "
    "current torch inside a sandbox",
    "safetensors": "the input is already safetensors",
}
_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"


@dataclass(frozen=True, slots=True)
class Span:
    """Where some bytes lie: a range of the checkpoint file, or bytes held in memory."""

    offset: int
    size: int
    data: bytes | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint, ready for `weightguard.convert.extract`.

    Attributes:
        path: the file.
        format: one of `CONVERTIBLE_FORMATS`.
        root: what the main pickle would return (a symbolic value graph).
        records: torch storage key -> its bytes (zip records or legacy data blocks).
        big_endian: torch storages are stored big-endian (zip ``byteorder`` = big).
        stream_start: file offset that `BytesRef` offsets of the main pickle count from.
        arrays: joblib wrapper node -> the raw array bytes that follow it in the stream.
    """

    path: str
    format: str
    root: Value
    records: Mapping[str, Span] = field(default_factory=dict)
    big_endian: bool = False
    stream_start: int = 0
    arrays: Mapping[Obj, Span] = field(default_factory=dict)


def _fail(path: str, message: str, code: str = "convert.unreadable") -> IncompleteError:
    return IncompleteError(message, code=code, path=path)


def open_checkpoint(path: str, fh: BinaryIO, fmt: str) -> Checkpoint:
    """Parse the checkpoint at `path` (open as `fh`) whose detected format is `fmt`.

    Raises:
        IncompleteError: a refused format, or a layout we cannot read exactly.
    """
    if fmt in _REFUSED_FORMATS:
        raise _fail(path, _REFUSED_FORMATS[fmt], "convert.unsupported_format")
    if fmt not in CONVERTIBLE_FORMATS:
        raise _fail(
            path,
            f"{fmt} input is not a pickle checkpoint weightguard can convert "
            f"(supported: {', '.join(CONVERTIBLE_FORMATS)})",
            "convert.unsupported_format",
        )
    size = os.fstat(fh.fileno()).st_size
    if fmt == "torch-zip":
        return _torch_zip(path, fh, size)
    if fmt == "torch-legacy":
        return _torch_legacy(path, fh, size)
    return _plain_pickle(path, fh, size, fmt)


def _run(path: str, reader: Reader, hook: BuildHook | None = None) -> PickleProgram:
    program = parse_pickle(reader, limits=Limits(), build_hook=hook)
    if program.error is not None:
        err = program.error
        raise _fail(path, f"pickle cannot be parsed at offset {err.offset}: {err.message}")
    return program


# -- torch zip ---------------------------------------------------------------------------


def _stored(path: str, fh: BinaryIO, member: Member, shift: int, size: int) -> Span:
    if member.method != 0:
        raise _fail(
            path,
            f"zip record {member.name} is compressed (method {member.method}); torch writes "
            "records uncompressed and a compressed record cannot be streamed",
            "convert.compressed_record",
        )
    if member.compressed_size != member.size:
        raise _fail(path, f"zip record {member.name}: stored and declared sizes differ")
    try:
        start, anomalies = data_offset(fh, member, shift)
    except ZipError as exc:
        raise _fail(path, str(exc)) from None
    if anomalies:
        raise _fail(path, f"zip record {member.name}: {anomalies[0][1]}")
    if start + member.size > size:
        raise _fail(path, f"zip record {member.name} runs past the end of the file")
    return Span(start, member.size)


def _torch_zip(path: str, fh: BinaryIO, size: int) -> Checkpoint:
    try:
        directory = read_directory(fh, size, max_members=Limits().max_members)
    except ZipError as exc:
        raise _fail(path, f"zip directory: {exc}") from None
    if directory.anomalies:
        raise _fail(path, f"zip archive is ambiguous: {directory.anomalies[0][1]}")
    # torch finds records through miniz, which compares names case-insensitively
    # (inline_container.cc getRecordID): read the same members it reads.
    pickles = [
        m
        for m in directory.members
        if m.name.count("/") == 1 and m.name.lower().endswith("/data.pkl")
    ]
    if len(pickles) != 1:
        raise _fail(path, "a torch zip checkpoint must hold exactly one <archive>/data.pkl")
    prefix = pickles[0].name[: -len("data.pkl")]
    members = {m.name.lower(): m for m in directory.members}
    prefix = prefix.lower()
    pkl = _stored(path, fh, pickles[0], directory.shift, size)
    big_endian = False
    order = members.get(prefix + "byteorder")
    if order is not None:
        span = _stored(path, fh, order, directory.shift, size)
        fh.seek(span.offset)
        text = fh.read(min(span.size, 16))
        if text not in (b"little", b"big"):
            raise _fail(path, f"byteorder record says {text!r}; expected little or big")
        big_endian = text == b"big"
    records = {
        name[len(prefix) + 5 :]: _stored(path, fh, m, directory.shift, size)
        for name, m in members.items()
        if name.startswith(prefix + "data/") and not name.endswith("/")
    }
    reader = Reader(fh, start=pkl.offset, limit=pkl.offset + pkl.size)
    program = _run(path, reader)
    if not reader.at_end():
        raise _fail(path, "data.pkl has bytes after its STOP opcode")
    return Checkpoint(path, "torch-zip", program.root, records, big_endian, pkl.offset)


# -- legacy torch ------------------------------------------------------------------------


def _torch_legacy(path: str, fh: BinaryIO, size: int) -> Checkpoint:
    reader = Reader(fh, start=0, limit=size)
    roots: list[Value] = []
    storages = LegacyStorages()
    for index in range(5):
        program = _run(path, reader)
        if index == 3:
            for event in program.events:
                if event.kind == "persid":
                    ref = event.node  # always a PersistentRef (`Event`); anything else fails
                    bad = (
                        storages.check(ref)
                        if isinstance(ref, PersistentRef)
                        else "not a persistent id"
                    )
                    if bad:
                        raise _fail(path, f"persistent id at offset {event.offset}: {bad}")
        roots.append(program.root)
    keys = roots[4]
    if (
        roots[0] != TORCH_MAGIC
        or roots[1] != TORCH_PROTOCOL
        or not isinstance(keys, List)
        or not all(isinstance(k, str) for k in keys.items)
    ):
        raise _fail(path, "not laid out as torch's legacy format (magic, 1001, sys_info, ...)")
    offset = reader.offset
    records: dict[str, Span] = {}
    for key in keys.items:
        assert isinstance(key, str)
        if key not in storages.storages or key in records:
            raise _fail(path, f"storage {key!r} is listed but never referenced, or listed twice")
        elsize, numel = storages.storages[key]
        fh.seek(offset)
        raw = fh.read(8)
        if len(raw) != 8 or read_int64(raw) != numel:
            raise _fail(path, f"storage {key!r}: its data header does not say {numel} elements")
        records[key] = Span(offset + 8, numel * elsize)
        offset += 8 + numel * elsize
        if offset > size:
            raise _fail(path, f"storage {key!r} runs past the end of the file")
    # One reader ran all five pickles, so BytesRef offsets count from the file start.
    return Checkpoint(path, "torch-legacy", roots[3], records, False, reader.start)


# -- pickle and joblib -------------------------------------------------------------------


def _joblib_origin(target: Value) -> bool:
    return (
        isinstance(target, Obj)
        and isinstance(target.callee, Global)
        and target.callee.qualname == _WRAPPER
    )


def _wrapper_nbytes(target: Obj) -> int | None:
    """Raw bytes joblib writes for a non-object wrapper (None: object array or unknown)."""
    state = target.state[-1] if target.state else None
    if not isinstance(state, Dict):
        return None
    fields = {k: v for k, v in state.items if isinstance(k, str)}
    layout = dtype_layout(fields.get("dtype"))
    shape = fields.get("shape")
    if layout is None or layout[1] or not isinstance(shape, Tuple):
        return None
    count = 1
    for dim in shape.items:
        if type(dim) is not int or dim < 0:
            return None
        count *= dim
    return count * layout[0]


def _plain_pickle(path: str, fh: BinaryIO, size: int, fmt: str) -> Checkpoint:
    arrays: dict[Obj, Span] = {}

    def hook(m: Machine, target: Value, offset: int) -> None:
        joblib_hook(m, target, offset)  # consumes the array bytes exactly as joblib does
        if _joblib_origin(target):
            assert isinstance(target, Obj)
            nbytes = _wrapper_nbytes(target)
            if nbytes is not None:
                arrays[target] = Span(m.reader.offset - nbytes, nbytes)

    reader = Reader(fh, start=0, limit=size)
    program = _run(path, reader, hook)
    if not reader.at_end():
        raise _fail(path, "bytes follow the pickle's STOP opcode")
    return Checkpoint(path, fmt, program.root, {}, False, 0, arrays)
