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


def code_running_polyglot() -> bytes:
    """A safetensors file the crate loads whose bytes, from byte 0, are also a pickle
    that imports and calls: the header length starts with 'V' (UNICODE up to the first
    newline, which is JSON whitespace), then '}' and the U8 tensor data carry the rest."""
    payload = b"00cos\nsystem\n(S'true'\ntR."  # POP the text and the dict; os.system
    tensor = {"t": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}
    body = json.dumps(tensor).encode()[:-1]
    n = 0x56 + 256 * ((len(body) + 2) // 256 + 1)
    header = body + b" " * (n - len(body) - 2) + b"\n}"
    return struct.pack("<Q", n) + header + payload


def test_the_code_running_polyglot_is_both(tmp_path: Path) -> None:
    """The premise: safetensors opens it, and the disassembler reads a pickle that
    imports `os.system` (nothing is unpickled)."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    assert list(safetensors_numpy.load(code_running_polyglot()))
    listing = io.StringIO()
    pickletools.dis(code_running_polyglot(), out=listing)
    assert "GLOBAL     'os system'" in listing.getvalue()


def test_code_running_polyglot_is_not_safetensors(kit: Kit, tmp_path: Path) -> None:
    rc, codes = _gate(kit, tmp_path, code_running_polyglot(), "formats: {allow: [safetensors]}")
    assert rc == 1 and "format.not_allowed" in codes


def test_code_running_polyglot_is_scanned(kit: Kit, tmp_path: Path) -> None:
    rc, codes = _gate(kit, tmp_path, code_running_polyglot(), "scan: {source: local}")
    assert rc == 1
    assert "scan.not_required" not in codes and any(c.startswith("scan.") for c in codes)


@pytest.mark.parametrize("data", [P0, P2], ids=["protocol-0", "protocol-2"])
def test_a_harmless_pickle_reading_is_parsed_and_cleared(data: bytes, tmp_path: Path) -> None:
    """P0/P2 are complete pickles too, but unpickling them imports and calls nothing
    (a tuple holding a float): every loader gets data, so they stay safetensors. Honest
    files are like this by accident (a header of 11912 bytes starts NEWTRUE, STOP), so
    "a complete pickle" alone cannot be what refuses a file: what the pickle reading
    would run decides, and the detector parses that reading in full."""
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    assert detect_format(path) == "safetensors"
    from weightguard.scan import scan

    assert scan([path]).files[0].outcome.value == "clean"


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
