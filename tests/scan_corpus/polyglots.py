"""Format-detection corpus (issue 12): files a loader reads differently from their looks.

Each sample is harmless (it creates a marker file, like `malicious.py`'s) and is proven
to run under its natural loader by tests/adversarial/test_detection_polyglots.py:
text-looking pickles, magic-prefix polyglots (GGUF, bzip2), a valid safetensors file that
is also a pickle, torch zips read through miniz's case-insensitive lookup and recorded
offsets, .npy dtype spellings that hold objects, joblib's pre-0.10 ZF format, V7 tar
checkpoints, and bombs with a payload after them. Run as a script to write it:
``python polyglots.py OUT``.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from malicious import TORCH_MAGIC, Builder, Sample, _Raw, _torch_zip  # noqa: E402
from pickleasm import PROTO2, program  # noqa: E402


def _p0(b: Builder) -> bytes:
    """A protocol 0 `os.system(touch marker)` (GLOBAL and UNICODE: text only)."""
    return b"cos\nsystem\n(V" + b.sh.encode() + b"\ntR."


def build(root: Path) -> list[Sample]:
    """Write every sample under `root`; returns their descriptions."""
    b = Builder(root)
    _text(b)
    _magic_prefixes(b)
    _zips(b)
    _numpy(b)
    _joblib_and_tar(b)
    _bombs(b)
    return b.samples


def _text(b: Builder) -> None:
    c = "text-pickle"
    # SHORT_BINBYTES ('C') and BININT1 ('K') were not on the hand-kept start list.
    b.sample("text_short_binbytes")
    b.add("text_short_binbytes", c, "pickle", "notes_c.txt", b"C\x04abcd0" + _p0(b))
    b.sample("text_binint1")
    b.add("text_binint1", c, "pickle", "notes_k.txt", b"KA0" + _p0(b))
    b.sample("text_empty_set")
    b.add("text_empty_set", c, "pickle", "notes_set.txt", b"\x8f0" + _p0(b))
    # A harmless prefix longer than the old 1 MiB probe window.
    b.sample("text_long_prefix")
    b.add("text_long_prefix", c, "pickle", "long.txt", b"(" + b"I1\n" * 400_000 + b"1" + _p0(b))
    b.sample("text_json_looking")
    b.add("text_json_looking", c, "pickle", "config.json", b"}0" + _p0(b))


def _magic_prefixes(b: Builder) -> None:
    c = "magic-polyglot"
    # 'G' is BINFLOAT: "GUF" + version + one byte are its 8-byte argument.
    b.sample("gguf_prefix")
    b.add("gguf_prefix", c, "pickle", "model.gguf", b"GGUF\x03\x00\x00\x00\x00" + b"0" + _p0(b))
    # 'B' is BINBYTES: "Zh0" + one byte are its length (3,172,442): the bytes after it
    # are skipped as a constant, and the pickle goes on.
    b.sample("bzip2_prefix")
    n = struct.unpack("<I", b"Zh0\x00")[0]
    b.add("bzip2_prefix", c, "pickle", "model.bz2", b"BZh0\x00" + b"\x00" * n + b"0" + _p0(b))
    # A safetensors file the safetensors crate loads, whose header length starts with 'V'
    # (UNICODE to the first newline, which is JSON whitespace); after it '}' and the
    # tensor data (a U8 tensor) hold the rest of the pickle.
    b.sample("safetensors_pickle")
    data = b"0" + _p0(b)
    tensor = {"t": {"dtype": "U8", "shape": [len(data)], "data_offsets": [0, len(data)]}}
    body = json.dumps(tensor).encode()[:-1]
    n = 0x56 + 256 * ((len(body) + 2) // 256 + 1)
    header = body + b" " * (n - len(body) - 2) + b"\n}"
    b.add("safetensors_pickle", c, "pickle", "model.safetensors",
          struct.pack("<Q", n) + header + data)


def _local(name: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data)
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data),
                       len(name), 0) + name + data


def _central(name: bytes, data: bytes, offset: int) -> bytes:
    crc = zlib.crc32(data)
    return struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data),
                       len(data), len(name), 0, 0, 0, 0, 0, offset) + name


def _recorded_offsets(evil: bytes) -> bytes:
    """torch (miniz) reads the directory where the EOCD says; zipfile where it really is.

    Layout: [evil data.pkl local][directory T][benign locals][directory Z][EOCD]. The EOCD
    records T's offset; zipfile computes a "prepended data" shift from where Z really is
    and reads Z, whose offsets (minus that shift) name the benign records.
    """
    good = {b"archive/data.pkl": pickle.dumps({}, 2), b"archive/byteorder": b"little",
            b"archive/version": b"3\n"}
    evil_local = _local(b"archive/data.pkl", evil)
    locals_at: dict[bytes, int] = {}
    pad = b"\x00" * 1024  # room so Z's shifted offsets stay positive
    tail = b""
    cd_size = sum(46 + len(k) for k in good)
    t_at = len(evil_local) + len(pad)
    blob_at = t_at + cd_size
    for name, data in good.items():
        locals_at[name] = blob_at + len(tail)
        tail += _local(name, data)
    z_at = blob_at + len(tail)
    shift = z_at - t_at
    t_dir = b"".join(_central(k, (evil if k.endswith(b".pkl") else v),
                              0 if k.endswith(b".pkl") else locals_at[k]) for k, v in good.items())
    z_dir = b"".join(_central(k, v, locals_at[k] - shift) for k, v in good.items())
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 3, 3, cd_size, t_at, 0)
    return evil_local + pad + t_dir + tail + z_dir + eocd


def _zips(b: Builder) -> None:
    c = "zip-lookup"
    b.sample("zip_case_data_pkl")
    b.add("zip_case_data_pkl", c, "torch", "case.pt",
          _torch_zip(program(b.system(), PROTO2), name="archive/DATA.PKL"), torch=True)
    b.sample("zip_case_prefix")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("Archive/Data.Pkl", program(b.system(), PROTO2))
        z.writestr("Archive/byteorder", b"little")
        z.writestr("Archive/version", b"3\n")
    b.add("zip_case_prefix", c, "torch", "case_prefix.pt", buf.getvalue(), torch=True)
    b.sample("zip_recorded_offsets")
    b.add("zip_recorded_offsets", c, "torch", "recorded.pt",
          _recorded_offsets(program(b.system(), PROTO2)), torch=True)


def _npy(descr: object, payload: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _numpy(b: Builder) -> None:
    c = "numpy-dtype"
    spellings = {
        "npy_object_word": "object",
        "npy_object_sized": "O8",
        "npy_subarray_string": "(2,)O",
        "npy_comma_string": "f4,O",
        "npy_struct_field": [("a", "<f4"), ("b", "|O")],
        "npy_struct_subarray": [("a", "|O", (2,))],
        "npy_subarray_tuple": ("|O", (2,)),
        "npy_titled_field": [(("title", "a"), "|O")],
    }
    for name, descr in spellings.items():
        b.sample(name)
        b.add(name, c, "numpy", f"{name}.npy", _npy(descr, pickle.dumps(_Raw(b.sh), 2)))


def _joblib_and_tar(b: Builder) -> None:
    c = "legacy-layout"
    b.sample("joblib_zfile")
    data = pickle.dumps(_Raw(b.sh), 2)
    b.add("joblib_zfile", c, "joblib", "old.joblib",
          b"ZF" + hex(len(data)).encode().ljust(19) + zlib.compress(data))
    b.sample("joblib_zfile_space")
    data = pickle.dumps(_Raw(b.sh), 2)
    b.add("joblib_zfile_space", c, "joblib", "old_space.pkl",
          b"ZF" + hex(len(data)).encode().ljust(19) + b" " + zlib.compress(data))
    # A legacy torch tar whose headers carry no "ustar" magic (V7): tarfile reads them.
    b.sample("v7_tar")
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for member, blob in (("sys_info", pickle.dumps({}, 2)),
                             ("storages", pickle.dumps(0, 2) + pickle.dumps([], 2)),
                             ("tensors", pickle.dumps(0, 2)),
                             ("pickle", program(b.system(), PROTO2))):
            info = tarfile.TarInfo(member)
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    raw = bytearray(tbuf.getvalue())
    pos = 0
    while pos + 512 <= len(raw) and raw[pos:pos + 512].strip(b"\x00"):
        size = int(raw[pos + 124:pos + 136].strip(b"\x00 ") or b"0", 8)
        raw[pos + 257:pos + 265] = b"\x00" * 8  # magic and version
        raw[pos + 148:pos + 156] = b" " * 8
        raw[pos + 148:pos + 156] = b"%06o\x00 " % sum(raw[pos:pos + 512])
        pos += 512 + (size + 511) // 512 * 512
    b.add("v7_tar", c, "torch", "legacy_v7.tar", bytes(raw), torch=True)


def _bombs(b: Builder) -> None:
    c = "bomb"
    # 10M no-op opcodes (compressed to a few KB) and then the payload: a scan that gives
    # up must say incomplete, never clean.
    b.sample("inflate_then_payload")
    body = PROTO2 + b"N0" * 5_000_000 + b.system() + b"."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("archive/data.pkl", body)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/version", b"3\n")
    b.add("inflate_then_payload", c, "torch", "inflate.pt", buf.getvalue(), torch=True)
    b.sample("memo_chain_then_payload")
    depth = 200_000
    body = PROTO2 + b"]\x94" * depth + b"a" * (depth - 1) + b"0" + b.system() + b"."
    b.add("memo_chain_then_payload", c, "pickle", "memo_chain.pkl", body)
    b.sample("legacy_magic_polyglot")
    # Kept last: torch's legacy magic is itself a pickle; the payload is its first record.
    b.add("legacy_magic_polyglot", c, "torch", "legacy_first.pt",
          program(b.system(), PROTO2) + pickle.dumps(TORCH_MAGIC, 2), torch=True)


def main() -> None:
    """Write the corpus into the directory given on the command line."""
    out = Path(sys.argv[1])
    for s in build(out):
        print(f"{s.category:16} {s.loader:8} {s.path.name}")


if __name__ == "__main__":
    main()
