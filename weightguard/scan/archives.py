"""Tar and 7z archives and gzip/bz2/xz/lzma/zlib wrappers, scanned member by member.

Every regular member is scanned by content (`Scanner.dispatch`); a tar holding
``storages``, ``tensors`` and ``pickle`` is a legacy torch checkpoint
(`weightguard.scan.legacy`). Links and duplicate names are flagged. Compressed streams
are inflated lazily within the size and ratio budgets (`weightguard.pickle.streams`):
pickles are parsed while streaming, anything else is held in memory up to 1 GiB and
dispatched again. 7z needs the optional py7zr. Imported by
`weightguard.scan.containers` only when one of these formats is met.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from weightguard.pickle import torchfmt
from weightguard.pickle.formats import TORCH_TAR_MEMBERS, sniff
from weightguard.pickle.streams import (
    BudgetError,
    Counting,
    Inflating,
    Region,
    Replay,
    as_file,
    read_all,
)
from weightguard.scan.filescan import FileScan, Walker, join
from weightguard.scan.model import Outcome, Severity

_MAX_IN_MEMORY = 1 << 30


def scan_tar(
    scanner: Walker, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
) -> str:
    """Scan a tar archive; returns ``torch-tar`` or ``tar``."""
    import tarfile

    from weightguard.scan.legacy import scan_torch_tar_part

    fh.seek(0)
    try:
        with tarfile.open(fileobj=fh, mode="r:") as tar:
            infos = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        fs.incomplete("tar.unreadable", f"tar archive cannot be read: {exc}", member)
        return "tar"
    names = [i.name for i in infos]
    kind = "torch-tar" if set(names) >= TORCH_TAR_MEMBERS else "tar"
    if len(set(names)) != len(names):
        fs.add(
            "tar.duplicate",
            Outcome.UNSAFE,
            Severity.MEDIUM,
            "a member name appears twice; extractors disagree on which wins",
            member=member,
        )
    for info in infos[: scanner.limits.max_members]:
        label = join(member, info.name)
        if info.issym() or info.islnk():
            fs.add(
                "tar.link",
                Outcome.UNSAFE,
                Severity.MEDIUM,
                f"link member -> {info.linkname!r}",
                member=label,
            )
            continue
        if not info.isfile():
            continue
        sub: BinaryIO = as_file(Region(fh, info.offset_data, info.size))
        if kind == "torch-tar" and info.name in ("storages", "tensors"):
            scan_torch_tar_part(scanner, fs, sub, info.size, info.name, label, depth)
        elif kind == "torch-tar" and info.name == "pickle":
            scanner.pickles(fs, sub, 0, info.size, label, depth + 1, persid=torchfmt.tar_persid)
        else:
            scanner.dispatch(fs, sub, info.size, label, depth + 1)
    if len(infos) > scanner.limits.max_members:
        fs.incomplete("container.budget", "too many archive members", member)
    return kind


def scan_sevenzip(
    scanner: Walker, fs: FileScan, fh: BinaryIO, member: str | None, depth: int
) -> None:
    """Extract a 7z archive into memory (1 GiB budget) and scan each file."""
    try:
        import py7zr
        from py7zr.io import BytesIOFactory
    except ImportError:
        fs.incomplete(
            "format.unsupported",
            "7z archive: py7zr is not installed",
            member,
            hint="pip install './weightguard[7z]' from a checkout of this project",
        )
        return
    limit = 1 << 30
    fh.seek(0)
    try:
        with py7zr.SevenZipFile(fh, mode="r") as archive:
            if archive.needs_password():
                fs.incomplete("7z.encrypted", "encrypted 7z archive", member)
                return
            names = [i.filename for i in archive.list() if not i.is_directory]
            factory = BytesIOFactory(limit)
            archive.extract(targets=names, factory=factory)
    except Exception as exc:  # py7zr raises many unrelated exception types
        fs.incomplete("7z.unreadable", f"7z archive cannot be read: {exc}", member)
        return
    for name in names:
        try:
            product = factory.products[name]
        except KeyError:
            fs.incomplete("7z.unreadable", f"{name} was not extracted", member)
            continue
        product.seek(0)
        data = product.read()
        if len(data) >= limit:
            fs.incomplete("container.budget", f"{name} is too large", member)
            continue
        scanner.dispatch(fs, io.BytesIO(data), len(data), join(member, name), depth + 1)


def scan_compressed(
    scanner: Walker, fs: FileScan, fh: BinaryIO, kind: str, member: str | None, depth: int
) -> str:
    """Inflate a gzip/bz2/xz/lzma/zlib stream within budgets; returns ``kind+inner``."""
    label = join(member, f"<{kind}>")
    fh.seek(0)
    counter = Counting(fh)
    try:
        stream = Inflating(
            kind,
            counter,
            max_size=scanner.limits.max_decompressed,
            max_ratio=scanner.limits.max_ratio,
        )
        head = b""
        while len(head) < 4096:
            chunk = stream.read(4096 - len(head))
            if not chunk:
                break
            head += chunk
        inner = sniff(head)
        if inner in ("pickle", "joblib"):
            scanner.pickles(
                fs,
                as_file(Replay(head, stream)),
                0,
                None,
                label,
                depth + 1,
                persid=None,
            )
            return f"{kind}+{inner}"
        data = head + read_all(stream, _MAX_IN_MEMORY)
    except BudgetError as exc:
        fs.incomplete("container.budget", str(exc), label)
        return kind
    inner = scanner.dispatch(fs, io.BytesIO(data), len(data), label, depth + 1)
    return f"{kind}+{inner}"


def scan_zfile(
    scanner: Walker, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
) -> str:
    """joblib < 0.10 "ZF" files, which joblib.load still reads (numpy_pickle_compat).

    `read_zfile`: ``ZF``, the data length as 19 characters of hex, an optional space, then
    zlib data that `ZipNumpyUnpickler` unpickles; its array wrappers load sibling files
    with `allow_pickle=True`, so they are judged like any other global.
    """
    import zlib

    label = join(member, "<joblib-zf>")
    fh.seek(0)
    header = fh.read(21)
    try:
        length = int(header[2:], 16)
    except ValueError:
        fs.incomplete("joblib.zfile", "joblib ZF header has no hex length", member)
        return "joblib"
    if fh.read(1) != b" ":
        fh.seek(21)
    budget = min(scanner.limits.max_decompressed, (64 << 20) + scanner.limits.max_ratio * size)
    if length > budget:
        fs.incomplete("container.budget", "joblib ZF data exceeds the decompression budget", label)
        return "joblib"
    inflater = zlib.decompressobj(15)
    try:
        data = inflater.decompress(fh.read(), length + 1)
    except zlib.error as exc:
        fs.incomplete("joblib.zfile", f"joblib ZF data does not inflate: {exc}", label)
        return "joblib"
    if len(data) != length:
        fs.incomplete("joblib.zfile", "joblib ZF data is not the recorded length", label)
        return "joblib"
    fs.members.append(label)
    scanner.pickles(fs, io.BytesIO(data), 0, len(data), label, depth + 1, persid=None)
    return "joblib"
