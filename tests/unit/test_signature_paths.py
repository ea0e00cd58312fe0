"""Signature paths (model.sig, model.sig.d/) are never model content: sign, digest, verify."""

from __future__ import annotations

from pathlib import Path

from weightguard.api import digest, sign, verify
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier
from weightguard.signing.keys import generate_private_key


def test_cosignature_folder_is_not_hashed(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    before = digest(model)
    key = generate_private_key()
    (model / "model.sig.d").mkdir()
    first = sign(model, EcKeySigner(key))
    second = sign(model, EcKeySigner(key), signature_path=model / "model.sig.d" / "b.sig")
    # Neither bundle covers the other, and the digest is unchanged by both.
    assert first.root_digest == second.root_digest == before == digest(model)
    assert [r.name for r in second.manifest.resources] == ["w.bin"]
    assert "model.sig.d" in second.manifest.serialization.ignore_paths
    verifier = EcKeyVerifier([key.public_key()])
    assert verify(model, verifier).accepted
    assert verify(model, verifier, signature_path=model / "model.sig.d" / "b.sig").accepted


def test_signed_file_named_like_a_signature_path_is_still_checked(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    key = generate_private_key()
    sign(model, EcKeySigner(key), signature_path=tmp_path / "outside.sig")
    (model / "w.bin").write_bytes(b"changed")
    result = verify(
        model, EcKeyVerifier([key.public_key()]), signature_path=tmp_path / "outside.sig"
    )
    assert not result.accepted
    assert [r.code for r in result.reasons] == ["file.digest_mismatch"]
