"""Smoke records: statement shape, signing, `load_record` for the policy engine, tampering."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from weightguard.api import digest
from weightguard.errors import BundleError, ExitCode, RejectedError, SignatureError
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier
from weightguard.signing.keys import generate_private_key
from weightguard.smoke import PREDICATE_TYPE, load_record, parse_record, record_smoke

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def recorded(
    weights: dict[str, Path], ec_keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """An unsigned and a signed record of the MLP."""
    d = tmp_path_factory.mktemp("records")
    common: dict[str, Any] = {
        "input_factory": "examples.models.mlp:example_input",
        "device": "cpu",
    }
    plain = record_smoke(weights["mlp"], "examples.models.mlp:build", **common)
    signed = record_smoke(
        weights["mlp"],
        "examples.models.mlp:build",
        signer=EcKeySigner.from_file(ec_keys[0]),
        **common,
    )
    (d / "plain.json").write_bytes(plain.data)
    (d / "signed.json").write_bytes(signed.data)
    return {"plain": d / "plain.json", "signed": d / "signed.json"}


def test_statement_binds_the_root_digest(
    recorded: dict[str, Path], weights: dict[str, Path]
) -> None:
    doc = json.loads(recorded["plain"].read_text())
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == PREDICATE_TYPE
    assert doc["subject"] == [
        {"name": "mlp.safetensors", "digest": {"sha256": digest(weights["mlp"])}}
    ]
    p = doc["predicate"]
    assert p["outcome"] == "recorded"
    assert p["run"]["device"]["used"] == "cpu" and p["run"]["dtype"] == "float32"
    assert p["run"]["numerics"]["tf32"] is False
    assert {"load_seconds", "run_seconds"} <= set(p["run"])
    assert {"torch", "safetensors", "weightguard", "python"} <= set(p["environment"])
    assert p["tolerance"] == {"rtol": 1e-4, "atol": 1e-4, "atol_unit": "rms"}
    assert p["input"]["factory"] == "examples.models.mlp:example_input" and p["input"]["seed"] == 0
    assert [o["name"] for o in p["outputs"]] == ["output"]


def test_load_unsigned_record(recorded: dict[str, Path], weights: dict[str, Path]) -> None:
    rec = load_record(recorded["plain"])
    assert rec.matches(digest(weights["mlp"])) and rec.matches("sha256:" + rec.root_digest.upper())
    assert (rec.signed, rec.verified, rec.signer, rec.outcome) == (False, False, None, "recorded")
    assert rec.factory == "examples.models.mlp:build" and rec.input_shape is None


def test_load_signed_record_with_and_without_verifier(
    recorded: dict[str, Path], ec_keys: tuple[Path, Path]
) -> None:
    rec = load_record(recorded["signed"], EcKeyVerifier.from_files([ec_keys[1]]))
    assert rec.verified and rec.signer is not None and rec.signer.kind == "key"
    assert rec.signer.identity.startswith("sha256:")
    unverified = load_record(recorded["signed"])
    assert unverified.signed and not unverified.verified
    assert unverified.root_digest == rec.root_digest


def test_unsigned_record_is_rejected_when_a_key_is_required(
    recorded: dict[str, Path], ec_keys: tuple[Path, Path]
) -> None:
    with pytest.raises(RejectedError, match="not signed") as info:
        load_record(recorded["plain"], EcKeyVerifier.from_files([ec_keys[1]]))
    assert info.value.code == "smoke.record_unsigned" and info.value.path == str(recorded["plain"])


def test_record_signed_by_another_key_is_rejected(recorded: dict[str, Path]) -> None:
    other = EcKeyVerifier([generate_private_key("p256").public_key()])
    with pytest.raises(SignatureError, match="different key"):
        load_record(recorded["signed"], other)


def _tamper(bundle: bytes, change: Any) -> bytes:
    doc = json.loads(bundle)
    stmt = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    change(stmt)
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(stmt, indent=2).encode()).decode()
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["subject"][0]["digest"].update(sha256="0" * 64),
        lambda s: s["predicate"]["outputs"][0]["values"].__setitem__(0, 0.5),
        lambda s: s["predicate"]["tolerance"].update(rtol=1.0),
    ],
    ids=["digest", "value", "tolerance"],
)
def test_tampered_signed_record_fails_its_signature(
    recorded: dict[str, Path], ec_keys: tuple[Path, Path], change: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "tampered.json"
    bad.write_bytes(_tamper(recorded["signed"].read_bytes(), change))
    with pytest.raises(SignatureError) as info:
        load_record(bad, EcKeyVerifier.from_files([ec_keys[1]]))
    assert info.value.exit_code == ExitCode.REJECTED


def _plain(recorded: dict[str, Path]) -> dict[str, Any]:
    return json.loads(recorded["plain"].read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(predicateType="https://example.com/other"), "not a smoke record"),
        (lambda d: d["subject"].append(d["subject"][0]), "exactly one subject"),
        (lambda d: d["subject"][0]["digest"].update(sha256="ABC"), "lower-case hex"),
        (lambda d: d["predicate"].update(outcome="great"), "outcome 'great'"),
        (lambda d: d["predicate"]["outputs"][0]["values"].pop(), "does not match its shape"),
        (lambda d: d["predicate"]["outputs"][0].update(encoding="zip"), "encoding 'zip'"),
        (lambda d: d["predicate"]["outputs"].clear(), "outputs is empty"),
        (lambda d: d["predicate"]["tolerance"].update(rtol=-1), "non-negative"),
        (lambda d: d["predicate"]["tolerance"].update(atol="1"), "finite numbers"),
        (lambda d: d["predicate"]["input"].update(seed=True), "seed"),
        (lambda d: d["predicate"].pop("run"), "run is missing"),
        (lambda d: d["predicate"]["run"].update(cast="int8"), "run.cast 'int8'"),
        (lambda d: d["predicate"]["input"].update(shape=[2, -1]), "input.shape"),
        (lambda d: d["predicate"]["outputs"].append(d["predicate"]["outputs"][0]), "names repeat"),
    ],
)
def test_malformed_records_are_rejected(
    recorded: dict[str, Path], change: Any, message: str
) -> None:
    doc = _plain(recorded)
    change(doc)
    with pytest.raises(BundleError, match=message) as info:
        parse_record(json.dumps(doc).encode())
    assert info.value.exit_code == ExitCode.REJECTED


def test_not_json_or_not_a_statement(tmp_path: Path) -> None:
    for data, message in ((b"\xff", "not UTF-8"), (b"[1]", "neither"), (b'{"a": NaN}', "NaN")):
        with pytest.raises(BundleError, match=message):
            parse_record(data)
    with pytest.raises(Exception, match="cannot read smoke record"):
        load_record(tmp_path / "absent.json")


def test_projection_records_validate(weights: dict[str, Path]) -> None:
    result = record_smoke(
        weights["cnn"],
        "examples.models.cnn:build",
        input_factory="examples.models.cnn:example_input",
        device="cpu",
    )
    rec = parse_record(result.data)
    assert {o["name"]: o["encoding"] for o in rec.outputs} == {
        "output.logits": "full",
        "output.features": "projection",
    }
