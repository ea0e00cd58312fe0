"""Legacy torch files with storage views (view_metadata), written by old torch versions."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest

from weightguard.convert import convert

pytestmark = pytest.mark.torch

MAGIC = 0x1950A86A20F9469CFC6C


def _s(text: str) -> bytes:  # BINUNICODE
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _i(n: int) -> bytes:  # BININT
    return b"J" + struct.pack("<i", n)


def _tensor(view: bytes, offset: int, size: int) -> bytes:
    pid = b"(" + _s("storage") + b"ctorch\nFloatStorage\n" + _s("root") + _s("cpu") + _i(8)
    return (
        b"ctorch._utils\n_rebuild_tensor_v2\n("
        + pid
        + view
        + b"tQ"  # ('storage', FloatStorage, 'root', 'cpu', 8, view) BINPERSID
        + _i(offset)
        + b"("
        + _i(size)
        + b"t("
        + _i(1)
        + b"t\x89"
        + b"ccollections\nOrderedDict\n)Rt"
        + b"R"
    )


def test_legacy_storage_views_match_torch(tmp_path: Path, reference: object) -> None:
    import torch

    main = (
        b"\x80\x02}("
        + _s("whole")
        + _tensor(b"N", 0, 8)
        + _s("view")
        + _tensor(b"(" + _s("view-key") + _i(2) + _i(4) + b"t", 1, 3)
        + b"u."
    )
    data = struct.pack("<q", 8) + struct.pack("<8f", *range(8))
    raw = (
        pickle.dumps(MAGIC, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps(
            {
                "protocol_version": 1001,
                "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4},
            },
            protocol=2,
        )
        + main
        + pickle.dumps(["root"], protocol=2)
        + data
    )
    src = tmp_path / "old.pt"
    src.write_bytes(raw)
    loaded = torch.load(src, weights_only=True)
    assert loaded["view"].tolist() == [3.0, 4.0, 5.0]  # storage[2:6], then offset 1
    out = tmp_path / "old.safetensors"
    assert convert(src, out).accepted
    reference.assert_round_trip(src, out)  # type: ignore[attr-defined]
