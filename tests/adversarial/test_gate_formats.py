"""Class 14: the gate judges formats with the scanner's own detector.

A file any pickle loader (pickle, joblib, numpy with allow_pickle) would unpickle must
never satisfy `formats: {allow: [safetensors]}` nor skip a scan; an undetermined format
(`unknown`) is never allowed by accident and never a reason to skip a scan.
"""

from __future__ import annotations

import io
import json
import os
import pickletools
import struct
from pathlib import Path

import pytest

from tests.adversarial._g1kit import C, W, failed, rule, rules
from tests.unit.policy.kit import Kit, make_kit, write_model
from weightguard.scan import detect_format


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("g1-formats-kit"))


def polyglot(lead: bytes, name: str) -> bytes:
    """A file that is a valid safetensors file and a valid pickle, both from byte 0.

    The 8 bytes of the safetensors header length are pickle opcodes too; a BINFLOAT
    (``G``) swallows 8 bytes that run into the JSON header, and the first tensor's name
    holds the rest of the pickle (ending in STOP). The JSON is padded with spaces (as
    safetensors' own writer pads) up to the length the opcodes spell.
    """
    (n,) = struct.unpack("<Q", lead)
    body = json.dumps(
        {name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, separators=(",", ":")
    ).encode()
    assert len(body) <= n
    return lead + body.ljust(n, b" ") + bytes(4)


# '(' MARK, 'G' BINFLOAT over bytes 2..9; then the name "t." is TUPLE, STOP.
# Length 0x4728: 18 KiB of header. Nothing in the first bytes says "pickle".
P0 = polyglot(b"(G" + bytes(6), "t.")
# PROTO 2, 'G' BINFLOAT over bytes 3..10; then the name "x." ends in STOP. 4.4 MiB header.
P2 = polyglot(b"\x80\x02G" + bytes(5), "x.")


@pytest.mark.parametrize("data", [P0, P2], ids=["protocol-0", "protocol-2"])
def test_the_polyglot_is_both(data: bytes, tmp_path: Path) -> None:
    """The premise, with the real libraries: safetensors opens it, and the pickle
    disassembler walks a complete, well-formed pickle (nothing is unpickled)."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = safetensors_numpy.load(data)
    assert list(tensors) and all(t.shape == (1,) for t in tensors.values())
    pickletools.dis(data, out=io.StringIO())  # raises on a malformed or unfinished pickle


def _gate(kit: Kit, tmp_path: Path, data: bytes, *extra: str) -> tuple[int, list[str]]:
    model = write_model(tmp_path / "m", {"weights.safetensors": data, "config.json": C})
    kit.sign(model, "team-a")
    spec = rules(
        rule("weights", '["*.safetensors"]', "{anyOf: [team-a]}", *extra),
        rule("config", '["*.json"]', "{anyOf: [team-a]}"),
    )
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    codes = [c.code for c in result.decision.checks if c.path == "weights.safetensors"]
    return int(result.report().exit_code), codes


def test_protocol_2_polyglot_is_not_safetensors(kit: Kit, tmp_path: Path) -> None:
    rc, codes = _gate(kit, tmp_path, P2, "formats: {allow: [safetensors]}")
    assert rc == 1 and "format.not_allowed" in codes


@pytest.mark.xfail(strict=True, reason="needs loader-equivalent detector (issue 12)")
def test_protocol_0_polyglot_is_not_safetensors(kit: Kit, tmp_path: Path) -> None:
    rc, codes = _gate(kit, tmp_path, P0, "formats: {allow: [safetensors]}")
    assert rc == 1 and "format.not_allowed" in codes


@pytest.mark.xfail(strict=True, reason="needs loader-equivalent detector (issue 12)")
def test_protocol_0_polyglot_is_scanned(kit: Kit, tmp_path: Path) -> None:
    rc, codes = _gate(kit, tmp_path, P0, "scan: {source: local}")
    assert "scan.not_required" not in codes and any(c.startswith("scan.") for c in codes)


def test_unknown_format_is_scanned_even_when_the_rule_lists_formats(
    kit: Kit, tmp_path: Path
) -> None:
    """A blob the detector cannot name was skipped by `scan: {formats: [pickle]}` and
    accepted; now it is scanned (and the scanner cannot clear it)."""
    blob = b"\x00\x17wg" + os.urandom(64)
    model = write_model(tmp_path / "m", {"weights.bin": blob, "config.json": C})
    assert detect_format(model / "weights.bin") == "unknown"
    kit.sign(model, "team-a")
    spec = rules(
        rule(
            "weights", '["*.bin"]', "{anyOf: [team-a]}", "scan: {source: local, formats: [pickle]}"
        ),
        rule("config", '["*.json"]', "{anyOf: [team-a]}"),
    )
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert result.report().exit_code != 0
    assert any(code.startswith("scan.") for code, path in failed(result) if path == "weights.bin")


def test_unknown_format_is_not_allowed(kit: Kit, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m", {"weights.safetensors": b"\x00\x01" * 40, "x.json": C})
    kit.sign(model, "team-a")
    spec = rules(
        rule("all", '["**"]', "{anyOf: [team-a]}", "formats: {allow: [safetensors, json]}")
    )
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert ("format.not_allowed", "weights.safetensors") in failed(result)


def test_honest_safetensors_passes(kit: Kit, tmp_path: Path) -> None:
    rc, codes = _gate(kit, tmp_path, W, "formats: {allow: [safetensors]}", "scan: {source: local}")
    assert rc == 0 and "format.ok" in codes and "scan.not_required" in codes
