"""The library API: sign / verify / digest, result objects, default signature paths,
and fail-closed verdicts (never "accepted" for anything not fully checked)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import weightguard
from tests.models import colon_model, ordering_trap_model, single_file_model, write
from weightguard import digest as digest_mod
from weightguard.api import VerifyResult, default_signature_path, digest, sign, verify
from weightguard.errors import IncompleteError, RejectedError, UsageError
from weightguard.report import Verdict
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier
from weightguard.signing.keys import generate_private_key


@pytest.fixture(scope="module")
def key() -> object:
    return generate_private_key()


@pytest.fixture
def signer(key: object) -> EcKeySigner:
    return EcKeySigner(key)  # type: ignore[arg-type]


@pytest.fixture
def verifier(key: object) -> EcKeyVerifier:
    return EcKeyVerifier([key.public_key()])  # type: ignore[attr-defined]


def test_lazy_top_level_api() -> None:
    assert weightguard.sign is sign and weightguard.verify is verify
    with pytest.raises(AttributeError):
        weightguard.nope  # noqa: B018


def test_default_signature_paths(tmp_path: Path) -> None:
    assert (
        default_signature_path(ordering_trap_model(tmp_path / "m")) == tmp_path / "m" / "model.sig"
    )
    f = single_file_model(tmp_path)
    assert default_signature_path(f) == tmp_path / "model.safetensors.sig"


@pytest.mark.parametrize(
    ("hash_type", "shard_size"),
    [("sha256", None), ("blake2b", None), ("blake3", None), ("sha256", 64), ("blake2b", 100)],
)
def test_sign_verify_round_trip(
    tmp_path: Path,
    signer: EcKeySigner,
    verifier: EcKeyVerifier,
    hash_type: str,
    shard_size: int | None,
) -> None:
    m = ordering_trap_model(tmp_path / "m")
    signed = sign(m, signer, hash_type=hash_type, shard_size=shard_size)
    assert signed.signature_path == m / "model.sig"
    assert "model.sig" in signed.manifest.serialization.ignore_paths
    assert signed.root_digest == digest(m, hash_type=hash_type, shard_size=shard_size)
    result = verify(m, verifier)
    assert result.accepted, result.reasons
    assert result.verdict is Verdict.ACCEPTED and result.reasons == ()
    assert result.root_digest == signed.root_digest
    # nine files; in shards mode the empty one has no shard to hash
    assert result.files_checked == (8 if shard_size else 9)
    assert result.bytes_hashed == sum(
        p.stat().st_size for p in m.rglob("*") if p.is_file() and p.name != "model.sig"
    )
    result.raise_for_verdict()
    doc = result.to_json_dict()
    assert doc["manifest"]["hash_type"] == hash_type
    assert doc["manifest"]["method"] == ("shards" if shard_size else "files")
    assert doc["model"]["root_digest"] == f"sha256:{signed.root_digest}"
    json.dumps(doc)


def test_single_file_round_trip(
    tmp_path: Path, signer: EcKeySigner, verifier: EcKeyVerifier
) -> None:
    f = single_file_model(tmp_path)
    signed = sign(f, signer)
    assert signed.signature_path == tmp_path / "model.safetensors.sig"
    assert [r.name for r in signed.manifest.resources] == ["."]
    assert verify(f, verifier).accepted
    f.write_bytes(f.read_bytes() + b"\0")
    assert verify(f, verifier).verdict is Verdict.REJECTED


def test_blake3_with_shards_is_a_usage_error(tmp_path: Path, signer: EcKeySigner) -> None:
    with pytest.raises(UsageError):
        sign(colon_model(tmp_path / "c"), signer, hash_type="blake3", shard_size=10)


def test_sign_refuses_an_empty_model_and_writes_nothing(
    tmp_path: Path, signer: EcKeySigner
) -> None:
    (tmp_path / "e").mkdir()
    with pytest.raises(RejectedError) as info:
        sign(tmp_path / "e", signer)
    assert info.value.code == "manifest.empty"
    assert list((tmp_path / "e").iterdir()) == []


def test_missing_model_is_a_usage_error(tmp_path: Path, verifier: EcKeyVerifier) -> None:
    with pytest.raises(UsageError):
        verify(tmp_path / "absent", verifier)


def test_unsigned_model_is_rejected(tmp_path: Path, verifier: EcKeyVerifier) -> None:
    result = verify(ordering_trap_model(tmp_path / "m"), verifier)
    assert result.verdict is Verdict.REJECTED
    assert [r.code for r in result.reasons] == ["signature.missing"]
    with pytest.raises(RejectedError):
        result.raise_for_verdict()


def test_unsigned_files_tolerated_only_when_asked(
    tmp_path: Path, signer: EcKeySigner, verifier: EcKeyVerifier
) -> None:
    m = ordering_trap_model(tmp_path / "m")
    sign(m, signer)
    write(m / "extra.txt", b"x")
    assert verify(m, verifier).verdict is Verdict.REJECTED
    lenient = verify(m, verifier, allow_unsigned_files=True)
    assert lenient.accepted
    assert [(r.code, r.severity) for r in lenient.reasons] == [("file.unsigned", "warning")]


def test_verify_ignore_cannot_hide_a_signed_file(
    tmp_path: Path, signer: EcKeySigner, verifier: EcKeyVerifier
) -> None:
    m = ordering_trap_model(tmp_path / "m")
    sign(m, signer)
    write(m / "config.json", b"changed")
    result = verify(m, verifier, ignore_paths=["config.json"])
    assert [r.code for r in result.reasons] == ["file.digest_mismatch"]


def test_change_during_verification_is_incomplete(
    tmp_path: Path, signer: EcKeySigner, verifier: EcKeyVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = ordering_trap_model(tmp_path / "m")
    sign(m, signer, signature_path=tmp_path / "m.sig")
    real_readv = os.readv
    target = m / "weights" / "blob.bin"

    def readv(fd: int, bufs: list[memoryview]) -> int:
        if os.fstat(fd).st_ino == target.stat().st_ino:
            st = os.stat(target)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        return real_readv(fd, bufs)

    monkeypatch.setattr(digest_mod.os, "readv", readv)
    result = verify(m, verifier, signature_path=tmp_path / "m.sig")
    assert result.verdict is Verdict.INCOMPLETE and result.verdict.exit_code == 3
    assert [(r.code, r.path) for r in result.reasons] == [
        ("model.changed_during_hash", "weights/blob.bin")
    ]
    with pytest.raises(IncompleteError):
        result.raise_for_verdict()


def test_digest_matches_the_signed_subject(tmp_path: Path, signer: EcKeySigner) -> None:
    m = ordering_trap_model(tmp_path / "m")
    before = digest(m)
    signed = sign(m, signer)  # writes m/model.sig, which digest() also ignores
    assert digest(m) == before == signed.root_digest
    payload = json.loads(
        __import__("base64").b64decode(
            json.loads(signed.signature_path.read_bytes())["dsseEnvelope"]["payload"]
        )
    )
    assert payload["subject"][0]["digest"]["sha256"] == before
    assert payload["subject"][0]["name"] == "m"


def test_result_defaults_are_not_accepted(tmp_path: Path) -> None:
    r = VerifyResult(Verdict.ERROR, tmp_path, tmp_path / "s", ())
    assert not r.accepted and r.to_json_dict()["manifest"] is None
    with pytest.raises(Exception):
        r.raise_for_verdict()
