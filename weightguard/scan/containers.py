"""Open every container by content and run each pickle stream through the VM and judge.

`Scanner.scan_file(path)` detects the format from bytes (`formats.sniff`), unwraps
zip (torch, TorchScript, npz, plain), tar (plain and legacy torch), 7z and
gzip/bz2/xz/lzma/zlib wrappers recursively up to `Limits.max_depth`, and parses:
raw and stacked pickles, legacy torch files, joblib files (raw array bytes skipped,
object arrays parsed), .npy object arrays and torch zip pickle members. It reads only
directories, headers and pickle members; tensor data is never read. Every failure to
read or parse becomes an `incomplete` finding (fail closed); nothing here raises for
bad input.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from typing import BinaryIO

from weightguard.scan import torchfmt
from weightguard.scan.allowlist import Allowlist
from weightguard.scan.formats import (
    LEGACY_MAGIC,
    TORCH_TAR_MEMBERS,
    probe_pickle,
    sniff,
    zip_kind,
)
from weightguard.scan.joblibfmt import joblib_hook
from weightguard.scan.judge import Judge, PersidCheck
from weightguard.scan.model import FileResult, Finding, Limits, Outcome, Severity, worst_outcome
from weightguard.scan.reader import Reader, StreamError
from weightguard.scan.streams import (
    BudgetError,
    Counting,
    Inflating,
    Region,
    Replay,
    as_file,
    read_all,
)
from weightguard.scan.values import BytesRef, List, Tuple, Value
from weightguard.scan.vm import PickleProgram, parse_pickle
from weightguard.scan.zipread import (
    Directory,
    Member,
    ZipError,
    data_offset,
    read_directory,
    read_member,
)

_COMPRESSED = ("gzip", "bz2", "xz", "lzma", "zlib")
_DATA_FORMATS = ("json", "text", "empty", "gguf", "onnx")
_MAX_IN_MEMORY = 1 << 30
_TORCH_TEXT = (
    "byteorder",
    "version",
    ".data/version",
    ".data/serialization_id",
    ".format_version",
    ".storage_alignment",
)


class FileScan:
    """Findings and facts collected while scanning one top-level file."""

    def __init__(self, path: str, allow: Allowlist, limits: Limits) -> None:
        self.path = path
        self.allow = allow
        self.limits = limits
        self.findings: list[Finding] = []
        self.globals: set[str] = set()
        self.members: list[str] = []

    def add(
        self,
        rule: str,
        outcome: Outcome,
        severity: Severity,
        message: str,
        *,
        member: str | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        """Record a container-level finding."""
        self.findings.append(
            Finding(
                rule=rule,
                outcome=outcome,
                severity=severity,
                message=message,
                file=self.path,
                member=member,
                offset=offset,
                hint=hint,
            )
        )

    def incomplete(
        self, rule: str, message: str, member: str | None, hint: str | None = None
    ) -> None:
        """Record that something could not be fully read or parsed."""
        self.add(rule, Outcome.INCOMPLETE, Severity.MEDIUM, message, member=member, hint=hint)


def _join(member: str | None, name: str) -> str:
    return f"{member}!{name}" if member else name


class Scanner:
    """Scans files with one allowlist and one set of limits."""

    def __init__(self, allow: Allowlist, limits: Limits) -> None:
        self.allow = allow
        self.limits = limits

    def scan_file(self, path: str) -> FileResult:
        """Scan one regular file (never raises for bad content; OSError for I/O)."""
        fs = FileScan(path, self.allow, self.limits)
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            fh = Counting(raw)
            kind = self.dispatch(fs, as_file(fh), size, None, 0)
            read = fh.count
        outcome = worst_outcome(f.outcome for f in fs.findings)
        return FileResult(
            path=path,
            format=kind,
            outcome=outcome,
            findings=tuple(fs.findings),
            globals=tuple(sorted(fs.globals)),
            members=tuple(fs.members),
            bytes_read=read,
        )

    # -- dispatch ---------------------------------------------------------------------

    def dispatch(
        self, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
    ) -> str:
        """Scan a seekable byte source by its content; returns the detected format."""
        if depth > self.limits.max_depth:
            fs.incomplete("container.depth", "containers are nested too deeply", member)
            return "nested"
        fh.seek(0)
        head = fh.read(4096)
        kind = sniff(head)
        if kind in ("text", "json", "unknown") and probe_pickle(fh, size):
            kind = "pickle"
        if kind == "zip":
            return self._zip(fs, fh, size, member, depth)
        if kind == "tar":
            return self._tar(fs, fh, size, member, depth)
        if kind == "torch-legacy":
            self._torch_legacy(fs, fh, size, member)
        elif kind in ("pickle", "joblib"):
            self.pickles(fs, fh, 0, size, member, depth, persid=None)
        elif kind == "numpy":
            self._npy(fs, fh, size, member, depth)
        elif kind in _COMPRESSED:
            return self._compressed(fs, fh, kind, member, depth)
        elif kind == "7z":
            self._sevenzip(fs, fh, member, depth)
        elif kind == "safetensors":
            self._safetensors(fs, fh, size, member)
        elif kind in ("lz4", "zstd"):
            fs.incomplete(
                "format.unsupported",
                f"{kind}-compressed data is not supported",
                member,
                hint="decompress it and scan the result",
            )
        elif kind == "unknown":
            fs.incomplete(
                "format.unknown",
                "not a format weightguard knows; it cannot be shown free of code",
                member,
            )
        return kind

    # -- pickle streams ---------------------------------------------------------------

    def judge(
        self,
        fs: FileScan,
        program: PickleProgram,
        member: str | None,
        base: int,
        persid: PersidCheck | None,
        nested: Callable[..., list[Finding]] | None,
    ) -> None:
        """Judge one program and fold its findings into the file scan."""
        judge = Judge(self.allow, fs.path, member, base, persid, nested)
        judge.judge(program)
        fs.findings.extend(judge.findings)
        fs.globals.update(judge.globals)

    def _nested(
        self, fs: FileScan, fh: BinaryIO, start: int, member: str | None, depth: int
    ) -> Callable[[bytes | BytesRef, str, int], list[Finding]]:
        def scan_nested(data: bytes | BytesRef, kind: str, offset: int) -> list[Finding]:
            label = _join(member, f"<nested@{offset}>")
            if isinstance(data, BytesRef):
                if not fh.seekable():
                    fs.incomplete("nested.unreadable", "embedded payload in a stream", label)
                    return []
                sub: BinaryIO = as_file(Region(fh, start + data.offset, data.length))
                size = data.length
            else:
                sub, size = io.BytesIO(data), len(data)
            fs.members.append(label)
            self.dispatch(fs, sub, size, label, depth + 1)
            return []

        return scan_nested

    def pickles(
        self,
        fs: FileScan,
        fh: BinaryIO,
        start: int,
        limit: int | None,
        member: str | None,
        depth: int,
        *,
        persid: PersidCheck | None,
        count: int = 1,
        trailing: bool = True,
    ) -> tuple[list[PickleProgram], Reader]:
        """Parse `count` pickles from `start`, judge them, and flag bytes after them."""
        reader = Reader(fh, start=start, limit=limit)
        programs: list[PickleProgram] = []
        nested = self._nested(fs, fh, start, member, depth)
        fs.members.append(member or "<pickle>")
        for _ in range(count):
            program = parse_pickle(reader, limits=self.limits, build_hook=joblib_hook)
            self.judge(fs, program, member, start, persid, nested)
            programs.append(program)
            if program.error is not None:
                return programs, reader
        if trailing and not reader.at_end():
            at = reader.offset - start
            fs.add(
                "pickle.trailing_data",
                Outcome.UNSAFE,
                Severity.MEDIUM,
                f"bytes follow the pickle at offset {at}; a loader that reads on would "
                "run them (several pickles where one is expected)",
                member=member,
                offset=at,
            )
            for _ in range(self.limits.max_pickles):
                if reader.at_end():
                    break
                program = parse_pickle(reader, limits=self.limits, build_hook=joblib_hook)
                self.judge(fs, program, member, start, None, nested)
                if program.error is not None:
                    break
        return programs, reader

    def _torch_legacy(self, fs: FileScan, fh: BinaryIO, size: int, member: str | None) -> None:
        storages = torchfmt.LegacyStorages()
        reader = Reader(fh, start=0, limit=size)
        nested = self._nested(fs, fh, 0, member, 0)
        fs.members.append(member or "<legacy>")
        roots: list[Value] = []
        for check in (None, None, None, storages.check, None):
            program = parse_pickle(reader, limits=self.limits)
            self.judge(fs, program, member, 0, check, nested)
            if program.error is not None:
                return
            roots.append(program.root)
        keys = roots[4]
        if (
            roots[0] != torchfmt.TORCH_MAGIC
            or roots[1] != torchfmt.TORCH_PROTOCOL
            or not isinstance(keys, List)
            or not all(isinstance(k, str) for k in keys.items)
        ):
            fs.incomplete(
                "torch.legacy_layout",
                "not laid out as torch's legacy format "
                "(magic, protocol 1001, sys_info, object, storage keys)",
                member,
            )
            return
        offset = reader.offset
        for key in keys.items:
            assert isinstance(key, str)
            if key not in storages.storages:
                fs.incomplete("torch.legacy_layout", f"storage {key!r} is never referenced", member)
                return
            elsize, numel = storages.storages[key]
            fh.seek(offset)
            raw = fh.read(8)
            if len(raw) != 8 or torchfmt.read_int64(raw) != numel:
                fs.incomplete(
                    "torch.legacy_layout",
                    f"storage {key!r} header does not match its {numel} elements",
                    member,
                )
                return
            offset += 8 + numel * elsize
        if offset > size:
            fs.incomplete("torch.legacy_layout", "storage data runs past the end", member)
        elif offset < size:
            fs.add(
                "torch.trailing_data",
                Outcome.UNSAFE,
                Severity.MEDIUM,
                f"{size - offset} bytes follow the last storage (appended payload?)",
                member=member,
                offset=offset,
            )

    def _npy(self, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int) -> None:
        # numpy/lib/format.py: magic, version, header length (2 bytes v1, 4 bytes v2/v3),
        # then a Python dict literal; object dtypes are followed by a pickle.
        fh.seek(0)
        pre = fh.read(12)
        major = pre[6] if len(pre) > 6 else 0
        if major == 1 and len(pre) >= 10:
            (hlen,), start = struct.unpack_from("<H", pre, 8), 10
        elif major in (2, 3) and len(pre) >= 12:
            (hlen,), start = struct.unpack_from("<I", pre, 8), 12
        else:
            fs.incomplete("numpy.header", "unsupported .npy version", member)
            return
        import ast

        fh.seek(start)
        raw = fh.read(min(hlen, 1 << 20))
        try:
            header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
            descr = header["descr"]
        except (
            ValueError,
            SyntaxError,
            KeyError,
            TypeError,
            MemoryError,
            RecursionError,
            UnicodeDecodeError,
        ):
            fs.incomplete("numpy.header", "the .npy header is not a valid dict literal", member)
            return
        if _descr_has_object(descr):
            self.pickles(fs, fh, start + hlen, size, member, depth, persid=None)

    def _safetensors(self, fs: FileScan, fh: BinaryIO, size: int, member: str | None) -> None:
        import json

        fh.seek(0)
        (n,) = struct.unpack("<Q", fh.read(8))
        ok = 8 + n <= size
        try:
            header = json.loads(fh.read(n)) if ok else None
        except (ValueError, UnicodeDecodeError):
            header = None
        if not isinstance(header, dict) or not all(
            k == "__metadata__" or _tensor_entry(v, size - 8 - n) for k, v in header.items()
        ):
            fs.incomplete("safetensors.invalid", "the safetensors header is malformed", member)

    # -- archives ---------------------------------------------------------------------

    def _zip(self, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int) -> str:
        try:
            directory = read_directory(fh, size, max_members=self.limits.max_members)
        except ZipError as exc:
            fs.incomplete("zip.unreadable", str(exc), member)
            return "zip"
        names = [m.name for m in directory.members]
        kind = zip_kind(names)
        for rule, message in directory.anomalies:
            fs.add(rule, Outcome.UNSAFE, Severity.MEDIUM, message, member=member)
        if kind in ("torch-zip", "torchscript"):
            self._torch_zip(fs, fh, directory, kind, member, depth)
        else:
            for m in directory.members:
                if not m.name.endswith("/"):
                    self._zip_member(fs, fh, directory, m, member, depth)
        return kind

    def _torch_zip(
        self,
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
            rel = m.name[len(prefix) :] if m.name.startswith(prefix) else m.name
            if m.name.endswith("/") or rel.startswith(("data/", "code/")) or rel in _TORCH_TEXT:
                continue  # raw storages, TorchScript source (reported above), small records
            if m.name.endswith(".pkl"):
                self._zip_pickle(fs, fh, directory, m, member, depth, persid)
            else:
                self._zip_member(fs, fh, directory, m, member, depth)

    def _zip_pickle(
        self,
        fs: FileScan,
        fh: BinaryIO,
        directory: Directory,
        m: Member,
        member: str | None,
        depth: int,
        persid: PersidCheck | None,
    ) -> None:
        label = _join(member, m.name)
        try:
            data, anomalies = read_member(
                fh, m, directory.shift, max_size=self.limits.max_nested_pickle
            )
        except ZipError as exc:
            fs.incomplete("zip.member_unreadable", str(exc), label)
            return
        for rule, message in anomalies:
            fs.add(rule, Outcome.UNSAFE, Severity.MEDIUM, message, member=label)
        self.pickles(fs, io.BytesIO(data), 0, len(data), label, depth + 1, persid=persid)

    def _zip_member(
        self,
        fs: FileScan,
        fh: BinaryIO,
        directory: Directory,
        m: Member,
        member: str | None,
        depth: int,
    ) -> None:
        label = _join(member, m.name)
        try:
            if m.method == 0:
                start, anomalies = data_offset(fh, m, directory.shift)
                sub: BinaryIO = as_file(Region(fh, start, m.compressed_size))
                size = m.compressed_size
            else:
                data, anomalies = read_member(fh, m, directory.shift, max_size=_MAX_IN_MEMORY)
                sub, size = io.BytesIO(data), len(data)
        except ZipError as exc:
            fs.incomplete("zip.member_unreadable", str(exc), label)
            return
        for rule, message in anomalies:
            fs.add(rule, Outcome.UNSAFE, Severity.MEDIUM, message, member=label)
        self.dispatch(fs, sub, size, label, depth + 1)

    def _tar(self, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int) -> str:
        import tarfile

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
        for info in infos[: self.limits.max_members]:
            label = _join(member, info.name)
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
                self._torch_tar_part(fs, sub, info.size, info.name, label, depth)
            elif kind == "torch-tar" and info.name == "pickle":
                self.pickles(fs, sub, 0, info.size, label, depth + 1, persid=torchfmt.tar_persid)
            else:
                self.dispatch(fs, sub, info.size, label, depth + 1)
        if len(infos) > self.limits.max_members:
            fs.incomplete("container.budget", "too many archive members", member)
        return kind

    def _torch_tar_part(
        self, fs: FileScan, fh: BinaryIO, size: int, name: str, label: str, depth: int
    ) -> None:
        reader = Reader(fh, start=0, limit=size)
        fs.members.append(label)
        nested = self._nested(fs, fh, 0, label, depth)

        def one() -> Value:
            program = parse_pickle(reader, limits=self.limits)
            self.judge(fs, program, label, 0, None, nested)
            if program.error is not None:
                raise _Stop
            return program.root

        try:
            count = one()
            if type(count) is not int or count < 0:
                raise _Layout(f"{name}: count is not an int")
            for _ in range(count):
                args = one()
                items = args.items if isinstance(args, Tuple) else ()
                if name == "storages":
                    elsize = torchfmt.element_size(items[2]) if len(items) == 3 else None
                    if elsize is None:
                        raise _Layout("storage type is not a torch storage class")
                    numel = torchfmt.read_int64(reader.read(8))
                    reader.skip(numel * elsize)
                else:
                    (ndim,) = struct.unpack("<i", reader.read(4))
                    if ndim < 0:
                        raise _Layout("negative tensor rank")
                    reader.skip(4 + 16 * ndim + 8)
            if name == "storages":
                one()  # storage views
            if not reader.at_end():
                fs.add(
                    "pickle.trailing_data",
                    Outcome.UNSAFE,
                    Severity.MEDIUM,
                    f"bytes follow the {name} records",
                    member=label,
                )
        except _Stop:
            return
        except (_Layout, StreamError, struct.error, OverflowError, IndexError) as exc:
            fs.incomplete("torch.legacy_layout", f"legacy tar {name}: {exc}", label)

    def _sevenzip(self, fs: FileScan, fh: BinaryIO, member: str | None, depth: int) -> None:
        try:
            import py7zr
            from py7zr.io import BytesIOFactory
        except ImportError:
            fs.incomplete(
                "format.unsupported",
                "7z archive: py7zr is not installed",
                member,
                hint="pip install 'weightguard[7z]'",
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
            self.dispatch(fs, io.BytesIO(data), len(data), _join(member, name), depth + 1)

    def _compressed(
        self, fs: FileScan, fh: BinaryIO, kind: str, member: str | None, depth: int
    ) -> str:
        label = _join(member, f"<{kind}>")
        fh.seek(0)
        counter = Counting(fh)
        try:
            stream = Inflating(
                kind,
                counter,
                max_size=self.limits.max_decompressed,
                max_ratio=self.limits.max_ratio,
            )
            head = b""
            while len(head) < 4096:
                chunk = stream.read(4096 - len(head))
                if not chunk:
                    break
                head += chunk
            inner = sniff(head)
            if inner in ("pickle", "joblib"):
                self.pickles(
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
        inner = self.dispatch(fs, io.BytesIO(data), len(data), label, depth + 1)
        return f"{kind}+{inner}"


class _Stop(Exception):
    pass


class _Layout(Exception):
    pass


def _descr_has_object(descr: object) -> bool:
    # numpy descr: a type string, or a list of (name, descr[, shape]) fields.
    if isinstance(descr, str):
        return descr.lstrip("<>|=")[:1] == "O"
    if isinstance(descr, list):
        return any(not isinstance(f, tuple) or len(f) < 2 or _descr_has_object(f[1]) for f in descr)
    return True  # anything else: assume numpy would unpickle


def _tensor_entry(value: object, data_len: int) -> bool:
    if not isinstance(value, dict):
        return False
    offsets = value.get("data_offsets")
    shape = value.get("shape")
    return (
        isinstance(value.get("dtype"), str)
        and isinstance(shape, list)
        and all(type(d) is int and d >= 0 for d in shape)
        and isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= data_len
    )


__all__ = ["LEGACY_MAGIC", "FileScan", "Scanner"]
