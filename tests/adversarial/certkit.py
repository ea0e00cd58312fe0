"""A tiny real PKI for the adversarial certificate tests, and a DER re-signer.

`issue` builds a certificate with exactly the extensions a test asks for; `resign`
lets a test edit the TBS bytes of a certificate and sign them again with the issuer's
key, so that a *trusted* CA appears to have issued an odd certificate (duplicate
extensions, malformed SANs): whatever the bytes say, the gate must answer with a
reason code, never a traceback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)
CODE_SIGNING = [ExtendedKeyUsageOID.CODE_SIGNING]


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def key_usage(*, sign: bool = True, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(sign, False, False, False, False, cert_sign, cert_sign, False, False)


def issue(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool | None,
    usage: x509.KeyUsage | None,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    extra: Sequence[x509.ExtensionType] = (),
    serial: int | None = None,
) -> x509.Certificate:
    """One certificate; `ca=None` leaves BasicConstraints out, `usage=None` KeyUsage."""
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer[0].subject if issuer else name(cn))
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    if usage is not None:
        b = b.add_extension(usage, True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    if issuer:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), False
        )
    for ext in extra:
        b = b.add_extension(ext, False)
    return b.sign(issuer[1] if issuer else key, hashes.SHA256())


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def root_ca(cn: str = "root") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    k = new_key()
    return issue(cn, k, ca=True, usage=key_usage(sign=False, cert_sign=True)), k


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# --- minimal DER, only what re-signing needs -----------------------------------------


def _tlv(data: bytes, at: int) -> tuple[int, int]:
    """(start of value, end of element) of the DER element at `at`."""
    length, pos = data[at + 1], at + 2
    if length & 0x80:
        n = length & 0x7F
        length, pos = int.from_bytes(data[pos : pos + n], "big"), pos + n
    return pos, pos + length


def _encode(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + value


def split(cert_der: bytes) -> tuple[bytes, bytes]:
    """(TBSCertificate element, signatureAlgorithm element) of a certificate."""
    body, _ = _tlv(cert_der, 0)
    _, tbs_end = _tlv(cert_der, body)
    _, alg_end = _tlv(cert_der, tbs_end)
    return cert_der[body:tbs_end], cert_der[tbs_end:alg_end]


def resign(tbs: bytes, alg: bytes, issuer_key: ec.EllipticCurvePrivateKey) -> bytes:
    """A certificate from edited TBS bytes, signed again (ECDSA-SHA256) by `issuer_key`."""
    sig = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _encode(0x30, tbs + alg + _encode(0x03, b"\x00" + sig))


def swap_oid(tbs: bytes, old: str, new: str) -> bytes:
    """Rename one extension OID inside TBS bytes (both OIDs must encode to equal length)."""
    a, b = _oid_der(old), _oid_der(new)
    assert len(a) == len(b) and tbs.count(a) == 1, (old, new)
    return tbs.replace(a, b)


def _oid_der(dotted: str) -> bytes:
    first, second, *rest = (int(p) for p in dotted.split("."))
    out = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return _encode(0x06, bytes(out))
