"""EC key signing and verification of OMS bundles (oms-format.md 2.2, 2.3)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from weightguard.bundle import PAYLOAD_TYPE, encode_bundle, legacy_pae, parse_bundle
from weightguard.errors import SignatureError
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier, ecdsa_verifies
from weightguard.signing.keys import generate_private_key, hash_for, key_hint, public_pem

PAYLOAD = b'{"_type": "https://in-toto.io/Statement/v1"}'


@pytest.mark.parametrize(
    ("curve", "hash_name"), [("p256", "sha256"), ("p384", "sha384"), ("p521", "sha512")]
)
def test_round_trip_each_curve(curve: str, hash_name: str) -> None:
    key = generate_private_key(curve)
    assert hash_for(key).name == hash_name  # hash tied to the curve
    bundle = parse_bundle(EcKeySigner(key).sign_payload(PAYLOAD))
    assert bundle.key_hint == hashlib.sha256(public_pem(key.public_key())).hexdigest()
    info = EcKeyVerifier([key.public_key()]).verify_bundle(bundle)
    assert info.kind == "key"
    assert info.identity == f"sha256:{key_hint(key.public_key())}"
    assert info.details == {"hint_present": True}
    assert json.loads(bundle.raw)["verificationMaterial"] == {
        "publicKey": {"hint": key_hint(key.public_key())},
        "tlogEntries": [],
    }


def test_any_of_several_keys() -> None:
    a, b = generate_private_key(), generate_private_key("p384")
    bundle = parse_bundle(EcKeySigner(b).sign_payload(PAYLOAD))
    info = EcKeyVerifier([a.public_key(), b.public_key()]).verify_bundle(bundle)
    assert info.identity == f"sha256:{key_hint(b.public_key())}"


def test_other_key_is_untrusted() -> None:
    bundle = parse_bundle(EcKeySigner(generate_private_key()).sign_payload(PAYLOAD))
    with pytest.raises(SignatureError) as info:
        EcKeyVerifier([generate_private_key().public_key()]).verify_bundle(bundle)
    assert info.value.code == "signer.untrusted_key"


def _tampered(
    raw: bytes, *, payload: bytes | None = None, sig: bytes | None = None, hint: object = ...
) -> bytes:
    doc = json.loads(raw)
    import base64

    if payload is not None:
        doc["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    if sig is not None:
        doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    if hint is None:
        del doc["verificationMaterial"]["publicKey"]["hint"]
    elif hint is not ...:
        doc["verificationMaterial"]["publicKey"]["hint"] = hint
    return json.dumps(doc).encode()


def test_edited_payload_and_corrupted_signature_fail() -> None:
    key = generate_private_key()
    raw = EcKeySigner(key).sign_payload(PAYLOAD)
    verifier = EcKeyVerifier([key.public_key()])
    sig = parse_bundle(raw).envelope.signatures[0].sig
    for bad in (
        _tampered(raw, payload=PAYLOAD + b" "),
        _tampered(raw, sig=sig[:-1] + bytes([sig[-1] ^ 1])),
        _tampered(raw, sig=b"\x30\x00"),  # not a valid DER signature at all
        _tampered(raw, sig=b""),
    ):
        with pytest.raises(SignatureError) as info:
            verifier.verify_bundle(parse_bundle(bad))
        assert info.value.code == "signature.invalid"


def test_missing_hint_tries_every_trusted_key() -> None:
    """Bundles before 1.1 carry no hint (2.2): each trusted key is tried."""
    key, other = generate_private_key(), generate_private_key()
    raw = _tampered(EcKeySigner(key).sign_payload(PAYLOAD), hint=None)
    info = EcKeyVerifier([other.public_key(), key.public_key()]).verify_bundle(parse_bundle(raw))
    assert info.details == {"hint_present": False}
    with pytest.raises(SignatureError) as err:
        EcKeyVerifier([other.public_key()]).verify_bundle(parse_bundle(raw))
    assert err.value.code == "signature.invalid"


def test_legacy_pae_only_without_hint() -> None:
    """The v0.2-era PAE bug (2.3) is accepted only for hint-less (pre-1.0) bundles."""
    key = generate_private_key()
    old_sig = key.sign(legacy_pae(PAYLOAD_TYPE, PAYLOAD), ec.ECDSA(hash_for(key)))
    legacy = parse_bundle(encode_bundle({"publicKey": {}}, PAYLOAD, old_sig))
    info = EcKeyVerifier([key.public_key()]).verify_bundle(legacy)
    assert info.details == {"legacy_pae": True}
    hinted = parse_bundle(
        encode_bundle({"publicKey": {"hint": key_hint(key.public_key())}}, PAYLOAD, old_sig)
    )
    with pytest.raises(SignatureError):
        EcKeyVerifier([key.public_key()]).verify_bundle(hinted)


def test_certificate_bundle_with_key_verifier_is_kind_mismatch() -> None:
    bundle = parse_bundle(
        encode_bundle({"x509CertificateChain": {"certificates": []}}, PAYLOAD, b"s")
    )
    with pytest.raises(SignatureError) as info:
        EcKeyVerifier([generate_private_key().public_key()]).verify_bundle(bundle)
    assert info.value.code == "signer.kind_mismatch"


def test_verifier_needs_a_key() -> None:
    with pytest.raises(ValueError):
        EcKeyVerifier([])


def test_ecdsa_verifies_rejects_garbage() -> None:
    key = generate_private_key()
    assert not ecdsa_verifies(key.public_key(), b"junk", b"m")


def test_shared_key_hint_is_sha256_of_pem(oms_dir: Path) -> None:
    """The hint is the SHA-256 of the PEM text, not of the DER (2.2), as model-signing
    1.1.1 wrote it into its own bundle."""
    import hashlib

    from weightguard.signing.keys import load_public_key

    pem = (oms_dir / "keys" / "p256.pub.pem").read_bytes()
    key = load_public_key(oms_dir / "keys" / "p256.pub.pem")
    assert key_hint(key) == hashlib.sha256(pem).hexdigest()
    bundle = parse_bundle((oms_dir / "bundles" / "key-p256.sig").read_bytes())
    assert bundle.key_hint == key_hint(key)
