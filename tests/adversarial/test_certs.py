"""Class 9: an end-entity signing certificate must not be a CA; odd certificates from a
trusted CA end as reason codes, never a traceback.

Attacker: holds a certificate chaining to a trusted root that is a CA (cA=TRUE or
keyCertSign), e.g. an intermediate's key leaked from a build system, and signs a model
with it directly. A CA key signs certificates; using it as a code-signing identity lets
whoever holds any CA in the chain mint "signers" at will, so the leaf must be an end
entity (RFC 5280 4.2.1.9 / 4.2.1.3; CA/B code-signing requirements 7.1.2.3).
Before the fix all three CA-leaf variants were ACCEPTED (seen on main e769f51).
"""

from __future__ import annotations

import base64
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from tests.adversarial import certkit as ck
from weightguard.bundle import encode_bundle, parse_bundle
from weightguard.errors import KeyLoadError, SignatureError, WeightguardError
from weightguard.signing.identity import IdentityPolicy, Matcher
from weightguard.signing.x509 import CertificateSigner, CertificateVerifier

PAYLOAD = b'{"_type": "https://in-toto.io/Statement/v1"}'
FULCIO_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SAN = x509.SubjectAlternativeName([x509.RFC822Name("signer@weightguard.test")])


@pytest.fixture(scope="module")
def root() -> tuple[x509.Certificate, object]:
    return ck.root_ca()


def _bundle(leaf_key: object, chain: list[bytes]) -> bytes:
    """A bundle signed by `leaf_key` carrying the DER `chain` (leaf first)."""
    from weightguard.bundle import PAYLOAD_TYPE, pae
    from weightguard.signing.ec import EcKeySigner

    sig = EcKeySigner(leaf_key).sign_pae(PAYLOAD)  # type: ignore[arg-type]
    assert pae(PAYLOAD_TYPE, PAYLOAD)
    material = {
        "x509CertificateChain": {
            "certificates": [{"rawBytes": base64.b64encode(d).decode()} for d in chain]
        },
        "tlogEntries": [],
    }
    return encode_bundle(material, PAYLOAD, sig)


def _verify(root: tuple[x509.Certificate, object], raw: bytes) -> object:
    return CertificateVerifier([root[0]]).verify_bundle(parse_bundle(raw))


def _leaf(root: tuple[x509.Certificate, object], **kw: object) -> tuple[object, bytes]:
    k = ck.new_key()
    cert = ck.issue("leaf", k, root, eku=ck.CODE_SIGNING, extra=[SAN], **kw)  # type: ignore[arg-type]
    return k, ck.der(cert)


def test_honest_end_entity_is_accepted(root: tuple[x509.Certificate, object]) -> None:
    k, d = _leaf(root, ca=False, usage=ck.key_usage())
    info = _verify(root, _bundle(k, [d]))
    assert info.identity == "signer@weightguard.test"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("ca", "cert_sign"),
    [(True, True), (True, False), (False, True), (None, True)],
    ids=["ca-and-keyCertSign", "ca-only", "keyCertSign-only", "no-basicConstraints-keyCertSign"],
)
def test_ca_leaf_is_rejected(
    root: tuple[x509.Certificate, object], ca: bool | None, cert_sign: bool
) -> None:
    k, d = _leaf(root, ca=ca, usage=ck.key_usage(cert_sign=cert_sign))
    with pytest.raises(SignatureError) as info:
        _verify(root, _bundle(k, [d]))
    assert info.value.code == "cert.leaf_is_ca"


def test_signer_refuses_a_ca_certificate(root: tuple[x509.Certificate, object]) -> None:
    k, d = _leaf(root, ca=True, usage=ck.key_usage(cert_sign=True))
    with pytest.raises(KeyLoadError) as info:
        CertificateSigner(k, [x509.load_der_x509_certificate(d)])  # type: ignore[arg-type]
    assert info.value.code == "cert.leaf_is_ca"


def _fulcio_like(root: tuple[x509.Certificate, object], *, ca: bool) -> x509.Certificate:
    issuer_ext = x509.UnrecognizedExtension(FULCIO_ISSUER_V2, b"\x0c\x0chttps://oidc")
    return ck.issue(
        "fulcio-leaf",
        ck.new_key(),
        root,  # type: ignore[arg-type]
        ca=ca,
        usage=ck.key_usage(cert_sign=ca),
        eku=ck.CODE_SIGNING,
        extra=[SAN, issuer_ext],
    )


def test_keyless_policy_refuses_a_ca_leaf(root: tuple[x509.Certificate, object]) -> None:
    """The keyless path (sigstore-python calls our IdentityPolicy on the leaf) too."""
    policy = IdentityPolicy(Matcher.exact("signer@weightguard.test"), Matcher.exact("https://oidc"))
    assert policy.check_certificate(_fulcio_like(root, ca=False)).issuer == "https://oidc"
    with pytest.raises(SignatureError) as info:
        policy.check_certificate(_fulcio_like(root, ca=True))
    assert info.value.code == "cert.leaf_is_ca"


# --- odd certificates signed by the trusted CA: reason codes, never tracebacks --------

PLACEHOLDER = "2.5.29.99"  # encodes to the same length as every 2.5.29.N below


def _odd_leaf(
    root: tuple[x509.Certificate, object], as_oid: str, value: bytes, keep_san: bool = True
) -> tuple[object, bytes]:
    k = ck.new_key()
    extra: list[x509.ExtensionType] = [
        x509.UnrecognizedExtension(x509.ObjectIdentifier(PLACEHOLDER), value)
    ]
    if keep_san:
        extra.insert(0, SAN)
    cert = ck.issue(
        "odd", k, root, ca=False, usage=ck.key_usage(), eku=ck.CODE_SIGNING, extra=extra
    )  # type: ignore[arg-type]
    tbs, alg = ck.split(ck.der(cert))
    return k, ck.resign(ck.swap_oid(tbs, PLACEHOLDER, as_oid), alg, root[1])  # type: ignore[arg-type]


SAN_OID = ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string
ODD = {
    "duplicate-san": (SAN_OID, SAN.public_bytes(), True),
    "garbage-san": (SAN_OID, b"\x30\x03\xff\xff\xff", False),
    "san-not-der": (SAN_OID, b"\xff", False),
    "garbage-basic-constraints": (ExtensionOID.BASIC_CONSTRAINTS.dotted_string, b"\x30\x01", True),
    "duplicate-eku": (
        ExtensionOID.EXTENDED_KEY_USAGE.dotted_string,
        x509.ExtendedKeyUsage(ck.CODE_SIGNING).public_bytes(),
        True,
    ),
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_odd_certificate_from_trusted_ca_is_a_reason(
    root: tuple[x509.Certificate, object], case: str
) -> None:
    oid, value, keep_san = ODD[case]
    k, d = _odd_leaf(root, oid, value, keep_san)
    with pytest.raises(WeightguardError) as info:
        _verify(root, _bundle(k, [d]))
    assert int(info.value.exit_code) == 1, info.value.code


@pytest.mark.parametrize("case", sorted(ODD))
def test_odd_certificate_in_keyless_policy_is_a_reason(
    root: tuple[x509.Certificate, object], case: str
) -> None:
    oid, value, keep_san = ODD[case]
    _, d = _odd_leaf(root, oid, value, keep_san)
    policy = IdentityPolicy(Matcher.exact("signer@weightguard.test"), Matcher.exact("https://oidc"))
    with pytest.raises(WeightguardError) as info:
        policy.check_certificate(x509.load_der_x509_certificate(d))
    assert int(info.value.exit_code) == 1, info.value.code


def test_chain_of_a_thousand_certificates_ends_quickly(
    root: tuple[x509.Certificate, object],
) -> None:
    """1000 self-consistent intermediates (each a CA named like the next issuer): path
    building must stay bounded; the bundle is refused, fast, with a reason."""
    chain = []
    issuer = ck.root_ca("decoy")
    for i in range(60):  # a real chain, deeper than any verifier allows
        k = ck.new_key()
        c = ck.issue(f"ca{i}", k, issuer, ca=True, usage=ck.key_usage(sign=False, cert_sign=True))  # type: ignore[arg-type]
        chain.append(ck.der(c))
        issuer = (c, k)
    chain.reverse()
    chain = (chain * 17)[:1000]  # and repeats: 1000 candidates for the path builder
    k, d = _leaf((issuer[0], issuer[1]), ca=False, usage=ck.key_usage())
    start = time.monotonic()
    with pytest.raises(WeightguardError) as info:
        _verify(root, _bundle(k, [d, *chain]))
    assert time.monotonic() - start < 10
    assert int(info.value.exit_code) in (1, 2, 3)
