"""Format detection by content, never by file name.

`detect_format(path)` answers with one of `FORMATS`. It reads the first bytes, and for
zip archives the central directory (to tell a torch checkpoint, TorchScript, npz and a
plain zip apart), so it costs a few small reads even on multi-GB files. The order of the
checks follows what loaders do first: torch.load tests the zip magic at offset 0
(`torch.serialization._is_zipfile`) before anything else, then tries tar, then reads
pickles; so a pickle with a zip appended is a pickle here too.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

FORMATS = (
    "torch-zip",
    "torchscript",
    "torch-legacy",
    "torch-tar",
    "pickle",
    "joblib",
    "numpy",
    "npz",
    "zip",
    "tar",
    "gzip",
    "bz2",
    "xz",
    "lzma",
    "zlib",
    "lz4",
    "zstd",
    "7z",
    "safetensors",
    "gguf",
    "onnx",
    "sentencepiece",
    "flax-msgpack",
    "hdf5",
    "tf-savedmodel",
    "json",
    "text",
    "empty",
    "unknown",
)

# torch.serialization.MAGIC_NUMBER pickled with protocol 2 as LONG1 (legacy files start so).
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
TORCH_TAR_MEMBERS = frozenset({"storages", "tensors", "pickle"})
# Opcodes a protocol 0/1 pickle can start with (sniffing only; a full parse decides).
P0_STARTS = frozenset(b"(}])cNIFLSVJKMGUTXP")


def sniff(head: bytes) -> str:
    """Classify by leading bytes only (zip/tar sub-kinds need `detect_format`)."""
    if not head:
        return "empty"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head.startswith(LEGACY_MAGIC):
        return "torch-legacy"
    # A safetensors header of 128 + 256*k bytes (k <= 5) starts with 0x80 0x0k too; its
    # third byte, 0x00, is no pickle opcode (pickle.load stops right there), so such a file
    # is the safetensors its header says it is.
    if (
        len(head) >= 2
        and head[0] == 0x80
        and head[1] <= 5
        and not (head[2:3] == b"\x00" and _is_safetensors(head))
    ):
        return "joblib" if b"joblib.numpy_pickle" in head[:4096] else "pickle"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    magic = _magic(head)
    if magic:
        return magic
    if _is_safetensors(head):
        return "safetensors"
    if head[0] in P0_STARTS and _looks_like_p0(head):
        return "pickle"
    if _is_onnx(head):
        return "onnx"
    return _text_kind(head)


def _magic(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith(b"GGUF"):
        return "gguf"
    if len(head) >= 13 and head[0] == 0x5D and head[1:3] == b"\x00\x00":
        return "lzma"  # .lzma "alone" header: properties 0x5d, dictionary size
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"  # RFC 1950 header: CM=8, CINFO=7, FCHECK makes it a multiple of 31
    return None


def _is_safetensors(head: bytes) -> bool:
    # safetensors: u64 little-endian header length, then a JSON object.
    if len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head)
    return 2 <= n < (100 << 20) and head[8:9] == b"{"


def _looks_like_p0(head: bytes) -> bool:
    # Protocol 0/1 pickles are mostly ASCII opcodes with newline-terminated arguments;
    # a protocol 0 GLOBAL names a module on its first line.
    if head[0] == ord("c"):
        line = head[1 : head.find(b"\n")] if b"\n" in head[:256] else b""
        return bool(line) and line.replace(b".", b"").replace(b"_", b"").isalnum()
    return head[:1] in (b"(", b"}", b"]", b")") and (b"." in head[-64:] or len(head) < 4096)


def _is_onnx(head: bytes) -> bool:
    # ModelProto starts with field 1 (ir_version, varint) then usually producer_name (2).
    return len(head) > 4 and head[0] == 0x08 and head[1] < 0x80 and head[2] in (0x12, 0x3A, 0x42)


def _text_kind(head: bytes) -> str:
    if b"\x00" in head:
        return "unknown"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "unknown"
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip()
    return "json" if stripped[:1] in ("{", "[") else "text"


def zip_kind(names: list[str]) -> str:
    """torch-zip, torchscript, npz or zip, from the member names."""
    if not names:
        return "zip"
    prefix = names[0].split("/", 1)[0] + "/" if "/" in names[0] else ""
    plain = [n[len(prefix) :] if prefix and n.startswith(prefix) else n for n in names]
    if "constants.pkl" in plain or any(n.startswith("code/") for n in plain):
        return "torchscript"  # torch.load dispatches these to torch.jit.load
    if "data.pkl" in plain:
        return "torch-zip"
    if all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"


def probe_pickle(fh: BinaryIO, size: int) -> bool:
    """Whether text-looking bytes are really a protocol 0/1 pickle (a bounded parse).

    True when the first stream parses to STOP, or imports or calls anything, or trips a
    differential on the way: all things only a pickle does.
    """
    from weightguard.scan.reader import Reader
    from weightguard.scan.vm import parse_pickle

    fh.seek(0)
    head = fh.read(1)
    if not head or head[0] not in P0_STARTS:
        return False
    program = parse_pickle(Reader(fh, start=0, limit=min(size, 1 << 20)))
    return program.error is None or bool(program.events) or bool(program.anomalies)


def detect_fh(fh: BinaryIO, size: int) -> str:
    """`detect_format` on an open file of `size` bytes."""
    fh.seek(0)
    head = fh.read(4096)
    kind = sniff(head)
    if kind in ("text", "json", "unknown") and probe_pickle(fh, size):
        return "pickle"
    if kind == "zip":
        from weightguard.scan.zipread import ZipError, read_directory

        try:
            directory = read_directory(fh, size, max_members=1_000_000)
        except ZipError:
            return "zip"
        return zip_kind([m.name for m in directory.members])
    if kind == "tar":
        return "torch-tar" if _tar_names(fh) >= TORCH_TAR_MEMBERS else "tar"
    if kind in ("gguf", "onnx", "unknown"):
        from weightguard.scan.datafmt import classify

        found = classify(fh, size, kind)  # a data format only if it fully validates
        return "unknown" if found.problem and found.kind in ("gguf", "onnx") else found.kind
    return kind


def _tar_names(fh: BinaryIO) -> set[str]:
    import tarfile

    fh.seek(0)
    try:
        with tarfile.open(fileobj=fh, mode="r:") as tar:
            return {m.name for m in tar.getmembers()[:64]}
    except (tarfile.TarError, OSError, EOFError):
        return set()


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of a file by its content: one of `FORMATS`.

    Raises:
        OSError: the file cannot be opened or read.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        return detect_fh(fh, size)
