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
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from weightguard.pickle import stcheck

if TYPE_CHECKING:
    from weightguard.pickle.limits import Limits
    from weightguard.pickle.machine import OpBudget, PickleProgram

FORMATS = (
    "torch-zip",
    "torchscript",
    "torch-legacy",
    "torch-tar",
    "pickle",
    "joblib",
    "numpy",
    "npz",
    "keras",
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
    """Classify by leading bytes only, for forward-only streams.

    A file gets the full, loader-equivalent `classify`; this is only the first step of it
    (zip/tar sub-kinds, full safetensors validation and the pickle reading of the same
    bytes need the whole file).
    """
    if not head:
        return "empty"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head.startswith(LEGACY_MAGIC):
        return "torch-legacy"
    if stcheck.looks_like(head):
        return "safetensors"  # before PROTO: a header length of 128*k + ... reads `80 0k`
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return "joblib" if b"joblib.numpy_pickle" in head[:4096] else "pickle"
    if head.startswith(b"ZF"):
        return "joblib"  # joblib < 0.10 zlib file (numpy_pickle_compat.read_zfile)
    if _is_tar(head):
        return "tar"
    magic = _magic(head)
    if magic:
        return magic
    if head[0] in P0_STARTS and _looks_like_p0(head):
        return "pickle"
    if _is_onnx(head):
        return "onnx"
    return _text_kind(head)


def _is_tar(head: bytes) -> bool:
    # What tarfile.open(mode="r:") needs of the first block: a valid header checksum (GNU,
    # POSIX or V7 alike; V7 has no "ustar" magic). tarfile's own parser decides.
    import tarfile

    if len(head) < 512 or not head[:512].strip(b"\x00"):
        return False
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


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
    """torch-zip, torchscript, npz, keras or zip, from the member names.

    torch finds records with miniz's `mz_zip_reader_locate_file(..., flags=0)`, which
    compares names case-insensitively (caffe2/serialize/inline_container.cc
    `getRecordID`), under the archive folder taken from the first entry's name; so
    `ARCHIVE/Data.PKL` is torch's `data.pkl` and `Constants.pkl` is TorchScript.
    """
    if not names:
        return "zip"
    prefix = names[0].split("/", 1)[0] + "/" if "/" in names[0] else ""
    folded = [n.lower() for n in names]
    lprefix = prefix.lower()
    plain = [n[len(lprefix) :] if lprefix and n.startswith(lprefix) else n for n in folded]
    if "constants.pkl" in plain or any(n.startswith("code/") for n in plain):
        return "torchscript"  # torch.load dispatches these to torch.jit.load
    if "data.pkl" in plain:
        return "torch-zip"
    if all(n.endswith(".npy") for n in names):
        return "npz"
    from weightguard.pickle.datafmt_keras import is_keras

    if is_keras(names):
        return "keras"  # config.json is checked for code by the zip scanner
    return "zip"


def pickle_view(
    fh: BinaryIO, size: int, limits: Limits | None = None, budget: OpBudget | None = None
) -> PickleProgram | None:
    """The file parsed symbolically as a pickle from byte 0, the reading Python's unpickler
    (and torch's legacy path, joblib, numpy with allow_pickle) would make; None if byte 0
    is no opcode. Nothing is unpickled: `parse_pickle` only interprets opcodes.

    The whole file is parsed (within the opcode budget), never a fixed window: a long
    harmless prefix cannot push a payload out of sight.
    """
    from weightguard.pickle.opcodes import NAMES
    from weightguard.pickle.reader import Reader
    from weightguard.pickle.vm import parse_pickle

    fh.seek(0)
    first = fh.read(1)
    if not first or first[0] not in NAMES:
        return None
    return parse_pickle(Reader(fh, start=0, limit=size), limits=limits, budget=budget)


def runs_code(program: PickleProgram | None) -> bool:
    """Whether unpickling would import or call anything, or could (a differential that
    lets a CPython reader read on, or a budget that stopped us before the end).

    A persistent id or out-of-band buffer alone only asks the loader for data (torch's
    `persistent_load` or pickle's buffers), and a late PROTO or memo overwrite alone
    changes nothing: with no import after them nothing runs, so they do not make a data
    file a pickle (a safetensors header length of 2640 starts `P\n`).
    """
    if program is None:
        return False
    error = program.error
    return bool(
        any(e.kind not in ("persid", "buffer") for e in program.events)
        or (
            error is not None
            and error.rule not in _ALL_READERS_STOP
            and (error.evasive or error.rule == "pickle.budget")
        )
    )


# Evasive for a scanner, yet both CPython unpicklers raise on them: with nothing imported
# before, no reader runs anything (`h\x00` is how a header length of 104 starts).
_ALL_READERS_STOP = frozenset({"pickle.memo_missing", "pickle.global_operand"})


def is_pickle(program: PickleProgram | None) -> bool:
    """A pickle a loader would read: it runs something, or it parses cleanly to STOP."""
    return program is not None and (program.error is None or runs_code(program))


@dataclass(frozen=True, slots=True)
class Detection:
    """What the loaders would make of a file.

    Attributes:
        kind: the format reported (a code-running reading wins over a data reading).
        content: the format the bytes validate as, regardless of the pickle reading.
        view: the file parsed as a pickle from byte 0 (None: byte 0 is no opcode, or the
            format is a pickle format already, or a zip that torch/numpy open as a zip).
        problem: why a file that looks like a data format does not validate as it.
        data_problem: (rule, outcome, message) from `weightguard.pickle.datafmt` for the
            repo data formats (GGUF, ONNX, SavedModel, HDF5, ...): why it is not clean.
    """

    kind: str
    content: str
    view: PickleProgram | None = None
    problem: str | None = None
    data_problem: tuple[str, str, str] | None = None


def classify(
    fh: BinaryIO,
    size: int,
    limits: Limits | None = None,
    budget: OpBudget | None = None,
    *,
    zip_kinds: bool = True,
) -> Detection:
    """Loader-equivalent detection of an open file of `size` bytes.

    torch.load tests the zip magic at byte 0, then tries tarfile, then unpickles; numpy
    tests the zip and .npy magics, then unpickles; joblib tests its compressor prefixes,
    then unpickles; pickle.load unpickles. So unless the file is a zip, its bytes from
    byte 0 are also run as a pickle by some loader: that reading is parsed in full, and if
    it would run anything it decides `kind` (the data reading is still scanned).
    With `zip_kinds` False a zip is just ``zip`` (no directory read).
    """
    fh.seek(0)
    head = fh.read(4096)
    content = sniff(head)
    if content == "zip" and not zip_kinds:
        return Detection("zip", "zip")  # the zip scanner reads the directory itself
    if content == "zip":
        from weightguard.pickle.zipread import ZipError, read_directory

        try:
            directory = read_directory(fh, size, max_members=1_000_000)
        except ZipError:
            return Detection("zip", "zip")
        kind = zip_kind([m.name for m in directory.members])
        return Detection(kind, kind)
    if content in ("pickle", "joblib", "torch-legacy"):
        return Detection(content, content)
    problem = None
    data_problem = None
    if content == "safetensors":
        problem = stcheck.validate(fh, size)
        if problem:
            content = "unknown"
    elif content == "tar":
        content = "torch-tar" if _tar_names(fh) >= TORCH_TAR_MEMBERS else "tar"
    elif content in ("gguf", "onnx", "unknown"):
        from weightguard.pickle.datafmt import classify as classify_data

        found = classify_data(fh, size, content)  # a data format only if it fully validates
        content, data_problem = found.kind, found.problem
    view = pickle_view(fh, size, limits, budget)
    if is_pickle(view) and (runs_code(view) or content in ("text", "json", "unknown")):
        assert view is not None
        from weightguard.pickle.values import Global

        joblib = any(
            isinstance(e.node, Global) and e.node.module.startswith("joblib") for e in view.events
        )
        kind = "joblib" if joblib else "pickle"
        return Detection(kind, content, view, problem, data_problem)
    # A repo data format that did not validate is not that format for the gate.
    kind = "unknown" if data_problem and content in ("gguf", "onnx") else content
    return Detection(kind, content, view if runs_code(view) else None, problem, data_problem)


def _tar_names(fh: BinaryIO) -> set[str]:
    import tarfile

    fh.seek(0)
    try:
        with tarfile.open(fileobj=fh, mode="r:") as tar:
            return {m.name for m in tar.getmembers()[:64]}
    except (tarfile.TarError, OSError, EOFError):
        return set()


def detect_fh(fh: BinaryIO, size: int) -> str:
    """`detect_format` on an open file of `size` bytes (see `classify`)."""
    from weightguard.pickle.limits import Limits
    from weightguard.pickle.machine import OpBudget

    limits = Limits()
    return classify(fh, size, limits, OpBudget(limits, size)).kind


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of a file by its content: one of `FORMATS`.

    Raises:
        OSError: the file cannot be opened or read.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        return detect_fh(fh, size)
