"""A safetensors file whose header is 128 + 256*k bytes starts with b"\\x80\\x00".. like a
pickle PROTO opcode; it must still be detected (and scanned clean) as safetensors, while a
real pickle with the same first two bytes stays a pickle."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest

from weightguard.scan import detect_format, scan


def safetensors_with_header(path: Path, header_len: int) -> Path:
    meta = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    body = json.dumps(meta, separators=(",", ":"))
    body += " " * (header_len - len(body))  # the format pads the header with spaces
    path.write_bytes(struct.pack("<Q", header_len) + body.encode() + bytes(8))
    return path


@pytest.mark.parametrize("header_len", [128, 384, 640, 1408])
def test_header_length_with_pickle_proto_bytes_is_safetensors(
    tmp_path: Path, header_len: int
) -> None:
    f = safetensors_with_header(tmp_path / "m.safetensors", header_len)
    assert f.read_bytes()[:2] == bytes([0x80, header_len >> 8])
    assert detect_format(f) == "safetensors"
    assert scan([f]).outcome.value == "clean"


def test_the_real_library_writes_such_files(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    np = pytest.importorskip("numpy")
    f = tmp_path / "lib.safetensors"
    st.save_file({"weight": np.zeros((4, 16), np.float32), "bias": np.zeros(4, np.float32)}, f)
    assert f.read_bytes()[:2] == b"\x80\x00"  # header of 128 bytes
    assert detect_format(f) == "safetensors"


def test_pickle_with_same_two_bytes_stays_pickle(tmp_path: Path) -> None:
    f = tmp_path / "p.bin"
    f.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert f.read_bytes()[:2] == b"\x80\x02"
    assert detect_format(f) == "pickle"
