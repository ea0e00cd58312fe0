"""X.509 chains: real path validation, explicit roots, leaf validity now, KeyUsage /
EKU codeSigning, identity pins, then ECDSA over the exact payload (oms-format.md 2.8)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.models import Pki, make_pki
from weightguard.bundle import encode_bundle, parse_bundle
from weightguard.errors import KeyLoadError, SignatureError
from weightguard.signing.keys import load_certificates, load_private_key
from weightguard.signing.x509 import (
    CertIdentity,
    CertificateSigner,
    CertificateVerifier,
    leaf_names,
)

PAYLOAD = b'{"_type": "https://in-toto.io/Statement/v1"}'


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _sign(pki: Pki, cert: Path, key: Path, chain: list[Path] | None = None) -> bytes:
    chain = [pki.intermediate] if chain is None else chain
    return CertificateSigner.from_files(key, cert, chain).sign_payload(PAYLOAD)


def _verify(raw: bytes, *roots: Path, **kwargs: object) -> object:
    verifier = CertificateVerifier.from_files(list(roots), **kwargs)  # type: ignore[arg-type]
    return verifier.verify_bundle(parse_bundle(raw))


def test_chain_verifies_and_reports_identity(pki: Pki) -> None:
    raw = _sign(pki, pki.leaf_cert, pki.leaf_key)
    doc = json.loads(raw)
    certs = doc["verificationMaterial"]["x509CertificateChain"]["certificates"]
    assert len(certs) == 2 and doc["verificationMaterial"]["tlogEntries"] == []
    info = _verify(raw, pki.root)
    assert info.kind == "x509" and info.identity == pki.san  # type: ignore[attr-defined]
    assert info.details["issuer"] == "CN=int"  # type: ignore[attr-defined]


def test_root_inside_the_bundle_is_fine_but_never_trusted_by_itself(pki: Pki) -> None:
    raw = _sign(pki, pki.leaf_cert, pki.leaf_key, [pki.intermediate, pki.root])
    _verify(raw, pki.root)
    with pytest.raises(SignatureError) as info:
        _verify(raw, pki.other_root)
    assert info.value.code == "cert.untrusted"


def test_missing_intermediate_is_untrusted(pki: Pki) -> None:
    with pytest.raises(SignatureError) as info:
        _verify(_sign(pki, pki.leaf_cert, pki.leaf_key, []), pki.root)
    assert info.value.code == "cert.untrusted"


def test_other_ca_is_untrusted(pki: Pki) -> None:
    with pytest.raises(SignatureError) as info:
        _verify(_sign(pki, pki.other_leaf_cert, pki.other_leaf_key, []), pki.root)
    assert info.value.code == "cert.untrusted"


def test_expired_leaf_is_rejected(pki: Pki) -> None:
    """model-signing 1.1.1 accepts expired leaves (defect 7); we enforce validity now."""
    raw = _sign(pki, pki.expired_cert, pki.expired_key)
    with pytest.raises(SignatureError) as info:
        _verify(raw, pki.root)
    assert info.value.code == "cert.expired"
    # ...and it did verify while it was valid: only the time decides.
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    verifier = CertificateVerifier(load_certificates(pki.root), at=past)
    assert verifier.verify_bundle(parse_bundle(raw)).kind == "x509"


def test_not_yet_valid_leaf_is_rejected(pki: Pki) -> None:
    raw = _sign(pki, pki.leaf_cert, pki.leaf_key)
    early = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    with pytest.raises(SignatureError) as info:
        CertificateVerifier(load_certificates(pki.root), at=early).verify_bundle(parse_bundle(raw))
    assert info.value.code == "cert.expired"


def test_tls_leaf_cannot_sign_code(pki: Pki) -> None:
    with pytest.raises(SignatureError) as info:
        _verify(_sign(pki, pki.tls_cert, pki.tls_key), pki.root)
    assert info.value.code == "cert.usage"


def test_leaf_without_usage_extensions_is_refused(pki: Pki, tmp_path: Path) -> None:
    int_key = load_private_key(pki.intermediate.parent / "int.priv.pem")
    issuer = load_certificates(pki.intermediate)[0]
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "noext")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(int_key.public_key()), False
        )
        .sign(int_key, hashes.SHA256())
    )
    signer = CertificateSigner(key, [cert, issuer])
    with pytest.raises(SignatureError) as info:
        _verify(signer.sign_payload(PAYLOAD), pki.root)
    assert info.value.code == "cert.usage"


def test_identity_pins(pki: Pki) -> None:
    raw = _sign(pki, pki.leaf_cert, pki.leaf_key)
    _verify(raw, pki.root, identity=CertIdentity(san=pki.san))
    _verify(raw, pki.root, identity=CertIdentity(subject="CN=leaf"))
    for wrong in (CertIdentity(san="mallory@example.com"), CertIdentity(subject="CN=other")):
        with pytest.raises(SignatureError) as info:
            _verify(raw, pki.root, identity=wrong)
        assert info.value.code == "signer.identity_mismatch"


def test_signature_by_another_key_fails(pki: Pki) -> None:
    """A valid chain does not vouch for a signature its leaf key did not make."""
    good = json.loads(_sign(pki, pki.leaf_cert, pki.leaf_key))
    other = json.loads(_sign(pki, pki.expired_cert, pki.expired_key))
    good["dsseEnvelope"]["signatures"] = other["dsseEnvelope"]["signatures"]
    with pytest.raises(SignatureError) as info:
        _verify(json.dumps(good).encode(), pki.root)
    assert info.value.code == "signature.invalid"


def test_malformed_certificate_in_bundle(pki: Pki) -> None:
    material = {
        "x509CertificateChain": {"certificates": [{"rawBytes": base64.b64encode(b"junk").decode()}]}
    }
    with pytest.raises(SignatureError) as info:
        _verify(encode_bundle(material, PAYLOAD, b"s"), pki.root)
    assert info.value.code == "cert.malformed"


def test_key_bundle_given_to_certificate_verifier(pki: Pki) -> None:
    with pytest.raises(SignatureError) as info:
        _verify(encode_bundle({"publicKey": {"hint": "00"}}, PAYLOAD, b"s"), pki.root)
    assert info.value.code == "signer.kind_mismatch"


def test_rsa_leaf_is_refused(pki: Pki) -> None:
    int_key = load_private_key(pki.intermediate.parent / "int.priv.pem")
    issuer = load_certificates(pki.intermediate)[0]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa")]))
        .issuer_name(issuer.subject)
        .public_key(rsa_key.public_key())
        .serial_number(8)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(int_key.public_key()), False
        )
        .sign(int_key, hashes.SHA256())
    )
    der = [c.public_bytes(serialization.Encoding.DER) for c in (cert, issuer)]
    material = {
        "x509CertificateChain": {
            "certificates": [{"rawBytes": base64.b64encode(d).decode()} for d in der]
        }
    }
    with pytest.raises(SignatureError) as info:
        _verify(encode_bundle(material, PAYLOAD, b"s"), pki.root)
    assert info.value.code == "cert.unsupported_key"


def test_signer_refuses_a_key_that_is_not_the_leafs(pki: Pki) -> None:
    with pytest.raises(KeyLoadError) as info:
        CertificateSigner.from_files(pki.tls_key, pki.leaf_cert)
    assert info.value.code == "key.mismatch"
    with pytest.raises(KeyLoadError):
        CertificateSigner(load_private_key(pki.leaf_key), [])


def test_verifier_needs_roots() -> None:
    with pytest.raises(KeyLoadError):
        CertificateVerifier([])


def test_leaf_names(pki: Pki) -> None:
    assert leaf_names(load_certificates(pki.leaf_cert)[0]) == [pki.san]
    assert leaf_names(load_certificates(pki.root)[0]) == []
