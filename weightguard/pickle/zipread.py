"""A minimal, tolerant zip reader that reads only the central directory and chosen members.

PyTorch reads checkpoints with miniz (caffe2/serialize/inline_container.cc): it locates
members through the central directory, ignores general-purpose flag bits, does not check
CRCs of records it does not verify, and takes the data offset from the local header's
own name/extra lengths. Python's `zipfile` is stricter (it refuses flag bit 0x1, and
checks names and CRCs), which is how scanners that used it crashed on files torch loads
(CVE-2025-1944/1945/10156). This reader is as tolerant as miniz so that it sees what
torch sees, and records every anomaly it tolerates so the scan can flag it.

APPNOTE.TXT 6.3.x is the reference for the record layouts below.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

_EOCD = struct.Struct("<4s4H2LH")  # sig, disk, cd disk, entries here, entries, size, offset, clen
_EOCD64_LOC = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CDH = struct.Struct("<4s6H3L5H2L")
_LFH = struct.Struct("<4s5H3L2H")
_MAX_TAIL = 65535 + _EOCD.size + _EOCD64_LOC.size + _EOCD64.size


class ZipError(Exception):
    """The archive's directory cannot be read."""


@dataclass(frozen=True, slots=True)
class Member:
    """One central-directory entry."""

    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int


@dataclass(frozen=True, slots=True)
class Directory:
    """The parsed central directory plus anomalies seen while parsing it.

    Attributes:
        members: entries in directory order.
        shift: bytes of data prepended before the archive (0 for a normal file).
        anomalies: (rule, message) pairs, e.g. ``("zip.duplicate", "...")``.
    """

    members: tuple[Member, ...]
    shift: int
    anomalies: tuple[tuple[str, str], ...]


def read_directory(
    fh: BinaryIO, size: int, *, max_members: int, recorded: bool = False
) -> Directory:
    """Parse the end-of-central-directory records and the central directory.

    By default offsets are corrected for data prepended to the archive, as Python's
    zipfile (numpy's npz reader) does. With `recorded`, the directory offset and the local
    header offsets are used exactly as recorded, as torch's miniz reader does
    (`mz_zip_reader_read_central_dir`); a file with prepended data has both readings.

    Raises:
        ZipError: no usable directory.
    """
    tail_len = min(size, _MAX_TAIL)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0 and pos + _EOCD.size > len(tail):
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    if pos < 0:
        raise ZipError("no end-of-central-directory record")
    (_sig, disk, cd_disk, _here, entries, cd_size, cd_offset, _clen) = _EOCD.unpack_from(tail, pos)
    anomalies: list[tuple[str, str]] = []
    if disk or cd_disk:
        raise ZipError("multi-disk archives are not supported")
    eocd_at = size - tail_len + pos
    loc = pos - _EOCD64_LOC.size
    if loc >= 0 and tail[loc : loc + 4] == b"PK\x06\x07":
        (_s, _d, eocd64_at, _t) = _EOCD64_LOC.unpack_from(tail, loc)
        rec = eocd64_at - (size - tail_len)
        if 0 <= rec <= len(tail) - _EOCD64.size and tail[rec : rec + 4] == b"PK\x06\x06":
            fields = _EOCD64.unpack_from(tail, rec)
            entries, cd_size, cd_offset = fields[7], fields[8], fields[9]
            eocd_at = eocd64_at
    if entries > max_members:
        raise ZipError(f"{entries} members exceed the member budget")
    shift = eocd_at - cd_size - cd_offset
    if recorded:
        if cd_offset + cd_size > size:
            raise ZipError("central directory lies outside the file")
        shift = 0
    elif shift < 0 or cd_size > size:
        raise ZipError("central directory lies outside the file")
    if shift:
        anomalies.append(
            (
                "zip.prepended_data",
                f"{shift} bytes precede the archive (polyglot or appended archive)",
            )
        )
    fh.seek(cd_offset + shift)
    cd = fh.read(cd_size)
    if len(cd) != cd_size:
        raise ZipError("central directory is truncated")
    members = _parse_entries(cd, entries, anomalies)
    return Directory(tuple(members), shift, tuple(anomalies))


def _parse_entries(cd: bytes, entries: int, anomalies: list[tuple[str, str]]) -> list[Member]:
    members: list[Member] = []
    seen: set[str] = set()
    off = 0
    for _ in range(entries):
        if off + _CDH.size > len(cd) or cd[off : off + 4] != b"PK\x01\x02":
            raise ZipError("malformed central directory entry")
        f = _CDH.unpack_from(cd, off)
        flags, method, crc, csize, usize = f[3], f[4], f[7], f[8], f[9]
        nlen, xlen, clen, lho = f[10], f[11], f[12], f[16]
        name_raw = cd[off + _CDH.size : off + _CDH.size + nlen]
        extra = cd[off + _CDH.size + nlen : off + _CDH.size + nlen + xlen]
        off += _CDH.size + nlen + xlen + clen
        usize, csize, lho = _zip64(extra, usize, csize, lho)
        name = name_raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if flags & 0x61:
            anomalies.append(
                (
                    "zip.flags",
                    f"{name}: flag bits 0x{flags & 0x61:x} "
                    "(encryption) are set; torch ignores them, zipfile refuses",
                )
            )
        if name.lower() in seen:
            # miniz (torch) compares names case-insensitively: `data.pkl` and `DATA.PKL`
            # are one record to it, two to zipfile.
            anomalies.append(
                (
                    "zip.duplicate",
                    f"{name}: the name appears twice (ignoring case, as torch's miniz "
                    "does); readers disagree on which copy is loaded",
                )
            )
        seen.add(name.lower())
        members.append(Member(name, flags, method, crc, csize, usize, lho))
    return members


def _zip64(extra: bytes, usize: int, csize: int, lho: int) -> tuple[int, int, int]:
    # APPNOTE 4.5.3: the zip64 extra field holds, in order, only the fields whose
    # 32-bit value is 0xFFFFFFFF.
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4 : i + 4 + ln]
        if tag == 1:
            j = 0
            vals = []
            for need in (usize == 0xFFFFFFFF, csize == 0xFFFFFFFF, lho == 0xFFFFFFFF):
                if need and j + 8 <= len(body):
                    vals.append(struct.unpack_from("<Q", body, j)[0])
                    j += 8
                else:
                    vals.append(None)
            usize = vals[0] if vals[0] is not None else usize
            csize = vals[1] if vals[1] is not None else csize
            lho = vals[2] if vals[2] is not None else lho
        i += 4 + ln
    return usize, csize, lho


def data_offset(fh: BinaryIO, member: Member, shift: int) -> tuple[int, list[tuple[str, str]]]:
    """Where a member's data starts (from its local header), plus header anomalies."""
    fh.seek(member.header_offset + shift)
    head = fh.read(_LFH.size)
    if len(head) != _LFH.size or head[:4] != b"PK\x03\x04":
        raise ZipError(f"{member.name}: no local header at the recorded offset")
    f = _LFH.unpack(head)
    nlen, xlen = f[9], f[10]
    local_name = fh.read(nlen)
    anomalies: list[tuple[str, str]] = []
    if (
        local_name.decode("utf-8", "replace") != member.name
        and local_name.decode("cp437", "replace") != member.name
    ):
        anomalies.append(
            ("zip.name_mismatch", f"{member.name}: the local header names {local_name[:80]!r}")
        )
    if f[2] & 0x61 and not member.flags & 0x61:
        anomalies.append(
            (
                "zip.flags",
                f"{member.name}: the local header sets encryption flag "
                f"bits 0x{f[2] & 0x61:x} the directory does not",
            )
        )
    if f[3] != member.method:
        anomalies.append(
            ("zip.method_mismatch", f"{member.name}: local and central compression methods differ")
        )
    return member.header_offset + shift + _LFH.size + nlen + xlen, anomalies


def read_member(
    fh: BinaryIO, member: Member, shift: int, *, max_size: int
) -> tuple[bytes, list[tuple[str, str]]]:
    """Read (and inflate) a whole member, checking its CRC.

    Raises:
        ZipError: unsupported method, truncated data, or budget exceeded.
    """
    start, anomalies = data_offset(fh, member, shift)
    if member.size > max_size:
        raise ZipError(f"{member.name}: {member.size} bytes exceed the member budget")
    fh.seek(start)
    raw = fh.read(member.compressed_size)
    if len(raw) != member.compressed_size:
        raise ZipError(f"{member.name}: data is truncated")
    if member.method == 0:
        data = raw
    elif member.method == 8:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, max_size + 1)
        except zlib.error as exc:
            raise ZipError(f"{member.name}: deflate data is corrupt ({exc})") from None
        if len(data) > max_size:
            raise ZipError(f"{member.name}: inflates past the member budget")
    else:
        raise ZipError(f"{member.name}: compression method {member.method} is not supported")
    if len(data) != member.size:
        anomalies.append(
            ("zip.size_mismatch", f"{member.name}: {len(data)} bytes, directory says {member.size}")
        )
    if zlib.crc32(data) != member.crc:
        anomalies.append(
            (
                "zip.crc_mismatch",
                f"{member.name}: CRC does not match; torch does not check it, zipfile refuses",
            )
        )
    return data, anomalies
