"""Zip archives: PyTorch checkpoints, TorchScript archives, npz files, Keras and plain zips.

Only the central directory and the members that can carry code are read: every pickle
member of a torch archive (``*.pkl``, under any name) and every member whose kind is not
known in advance (hidden pickles, nested archives, sniffed by content). Raw tensor
records (``data/``), TorchScript source (``code/``, reported as code-bearing) and the
small text records torch writes are never read. Directory and local-header anomalies the
tolerant reader (`weightguard.pickle.zipread`) accepts, as torch's miniz does, are flagged
unsafe. Imported by `weightguard.scan.containers` when a zip is met.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from weightguard.pickle import torchfmt
from weightguard.pickle.formats import zip_kind
from weightguard.pickle.streams import Region, as_file
from weightguard.pickle.zipread import (
    Directory,
    Member,
    ZipError,
    data_offset,
    read_directory,
    read_member,
)
from weightguard.scan.filescan import FileScan, Walker, join
from weightguard.scan.judge import PersidCheck
from weightguard.scan.model import Outcome, Severity

# `weightguard.pickle.datafmt_keras.CONFIG`, spelled here so a torch zip never imports it.
_KERAS_CONFIG = "config.json"
# The most we inflate into memory for one compressed member we sniff.
MAX_IN_MEMORY = 1 << 30
_TORCH_TEXT = (
    "byteorder",
    "version",
    ".data/version",
    ".data/serialization_id",
    ".format_version",
    ".storage_alignment",
)


def scan_zip(
    scanner: Walker, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
) -> str:
    """Scan a zip archive; returns ``torch-zip``, ``torchscript``, ``npz``, ``keras`` or ``zip``.

    Whatever the kind, a top-level ``config.json`` is judged as a Keras model config
    (`weightguard.pickle.datafmt_keras`): Keras loads a `.keras` zip by its config alone.
    """
    try:
        directory = read_directory(fh, size, max_members=scanner.limits.max_members)
    except ZipError as exc:
        fs.incomplete("zip.unreadable", str(exc), member)
        return "zip"
    names = [m.name for m in directory.members]
    kind = zip_kind(names)
    for rule, message in directory.anomalies:
        fs.add(rule, Outcome.UNSAFE, Severity.MEDIUM, message, member=member)
    if directory.shift:
        # torch (miniz) reads the offsets as recorded, zipfile corrects them: with data
        # prepended the two read different directories and records; scan torch's too.
        try:
            as_torch = read_directory(
                fh, size, max_members=scanner.limits.max_members, recorded=True
            )
        except ZipError:
            pass
        else:
            tkind = zip_kind([m.name for m in as_torch.members])
            if tkind in ("torch-zip", "torchscript"):
                _torch_zip(scanner, fs, fh, as_torch, tkind, join(member, "<as-recorded>"), depth)
    if kind in ("torch-zip", "torchscript"):
        _torch_zip(scanner, fs, fh, directory, kind, member, depth)
    else:
        for m in directory.members:
            if not m.name.endswith("/"):
                _zip_member(scanner, fs, fh, directory, m, join(member, m.name), depth)
    for m in directory.members:
        if m.name == _KERAS_CONFIG:  # keras.saving loads it from any zip
            _keras_config(scanner, fs, fh, directory, m, join(member, m.name))
    return kind


def _keras_config(
    scanner: Walker, fs: FileScan, fh: BinaryIO, directory: Directory, m: Member, label: str
) -> None:
    """Judge a top-level ``config.json`` as Keras' `load_model` reads it."""
    from weightguard.pickle import datafmt_keras

    try:
        data, _ = read_member(fh, m, directory.shift, max_size=datafmt_keras.MAX_CONFIG)
        reason = datafmt_keras.code_in_config(data)
    except (ZipError, datafmt_keras.KerasError) as exc:
        fs.incomplete("keras.invalid", f"Keras config cannot be read: {exc}", label)
        return
    if reason is not None:
        fs.add(
            "keras.lambda",
            Outcome.UNSAFE,
            Severity.HIGH,
            f"Keras model config: {reason}; keras.models.load_model runs it",
            member=label,
            hint="rebuild the model in code and load only its weights (safetensors)",
        )


def _torch_zip(
    scanner: Walker,
    fs: FileScan,
    fh: BinaryIO,
    directory: Directory,
    kind: str,
    member: str | None,
    depth: int,
) -> None:
    first = directory.members[0].name
    prefix = first.split("/", 1)[0] + "/" if "/" in first else ""
    if kind == "torchscript":
        fs.add(
            "torchscript.code",
            Outcome.UNSAFE,
            Severity.HIGH,
            "TorchScript archive: torch.load hands it to torch.jit.load, which runs "
            "the code it contains",
            member=member,
            hint="export weights with torch.save(model.state_dict()) or safetensors",
        )
    records = {m.name: m.size for m in directory.members}
    persid = torchfmt.zip_persid(records, prefix)
    for m in directory.members:
        # miniz matches record names case-insensitively (zipscan mirrors zip_kind)
        low, lprefix = m.name.lower(), prefix.lower()
        rel = low[len(lprefix) :] if low.startswith(lprefix) else low
        if m.name.endswith("/") or rel.startswith(("data/", "code/")) or rel in _TORCH_TEXT:
            continue  # raw storages, TorchScript source (reported above), small records
        label = join(member, m.name)
        if low.endswith(".pkl"):
            _zip_pickle(scanner, fs, fh, directory, m, label, depth, persid)
        else:
            _zip_member(scanner, fs, fh, directory, m, label, depth)


def _zip_pickle(
    scanner: Walker,
    fs: FileScan,
    fh: BinaryIO,
    directory: Directory,
    m: Member,
    label: str,
    depth: int,
    persid: PersidCheck | None,
) -> None:
    try:
        data, anomalies = read_member(
            fh, m, directory.shift, max_size=scanner.limits.max_nested_pickle
        )
    except ZipError as exc:
        fs.incomplete("zip.member_unreadable", str(exc), label)
        return
    for rule, message in anomalies:
        fs.add(rule, Outcome.UNSAFE, Severity.MEDIUM, message, member=label)
    scanner.pickles(fs, io.BytesIO(data), 0, len(data), label, depth + 1, persid=persid)


def _zip_member(
    scanner: Walker,
    fs: FileScan,
    fh: BinaryIO,
    directory: Directory,
    m: Member,
    label: str,
    depth: int,
) -> None:
    try:
        if m.method == 0:
            start, anomalies = data_offset(fh, m, directory.shift)
            sub: BinaryIO = as_file(Region(fh, start, m.compressed_size))
            size = m.compressed_size
        else:
            data, anomalies = read_member(fh, m, directory.shift, max_size=MAX_IN_MEMORY)
            sub, size = io.BytesIO(data), len(data)
    except ZipError as exc:
        fs.incomplete("zip.member_unreadable", str(exc), label)
        return
    for rule, message in anomalies:
        fs.add(rule, Outcome.UNSAFE, Severity.MEDIUM, message, member=label)
    scanner.dispatch(fs, sub, size, label, depth + 1)
