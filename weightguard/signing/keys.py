"""Loading EC keys and certificates from PEM, with clear errors for what we refuse.

OMS keys are ECDSA on P-256, P-384 or P-521 with the hash tied to the curve
(oms-format.md 2.3): SHA-256, SHA-384, SHA-512. RSA, Ed25519 and other curves are refused.
Passwords come from the caller (the CLI reads an environment variable or prompts);
they are never command-line arguments.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from weightguard.errors import KeyLoadError
from weightguard.untrusted import read_regular

if TYPE_CHECKING:  # x509 costs ~25 ms to import; the bare-key path never needs it
    from cryptography import x509

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "p256": ec.SECP256R1,
    "p384": ec.SECP384R1,
    "p521": ec.SECP521R1,
}
_HASH_FOR_CURVE: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def _read(path: str | Path, what: str) -> bytes:
    try:
        return read_regular(path)
    except OSError as exc:
        raise KeyLoadError(f"cannot read {what}: {exc.strerror}", path=str(path)) from exc


def hash_for(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> hashes.HashAlgorithm:
    """The signature hash for a key's curve."""
    return _HASH_FOR_CURVE[key.curve.name]()


def _check_curve(key: object, path: str) -> None:
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        kind = type(key).__name__.lstrip("_").replace("PrivateKey", "").replace("PublicKey", "")
        raise KeyLoadError(
            f"unsupported key type {kind or 'unknown'}; OMS signing uses ECDSA P-256/P-384/P-521",
            path=path,
            code="key.unsupported",
        )
    if key.curve.name not in _HASH_FOR_CURVE:
        raise KeyLoadError(
            f"unsupported curve {key.curve.name}; use P-256, P-384 or P-521",
            path=path,
            code="key.unsupported",
        )


def load_private_key(path: str | Path, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Load an EC private key (SEC1 or PKCS#8 PEM, optionally encrypted).

    Raises:
        KeyLoadError: unreadable, wrong/missing password, or not a supported EC key.
    """
    data = _read(path, "private key")
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise KeyLoadError(
            "this is a public key, but signing needs the private key",
            path=str(path),
            code="key.public_given",
            hint="give the private key (the public key is for verify --key)",
        )
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        msg = (
            "the key is encrypted; set WEIGHTGUARD_KEY_PASSWORD or answer the prompt"
            if password is None
            else "the key is not encrypted but a password was given"
        )
        raise KeyLoadError(msg, path=str(path), code="key.password") from exc
    except ValueError as exc:
        text = str(exc).lower()
        if password is not None and ("password" in text or "decrypt" in text or "bad" in text):
            raise KeyLoadError(
                "wrong password for the private key", path=str(path), code="key.password"
            ) from exc
        raise KeyLoadError("not a PEM private key we can read", path=str(path)) from exc
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for odd keys
        raise KeyLoadError(f"cannot load private key: {exc}", path=str(path)) from exc
    _check_curve(key, str(path))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def load_public_key(path: str | Path) -> ec.EllipticCurvePublicKey:
    """Load an EC public key (SubjectPublicKeyInfo PEM).

    Raises:
        KeyLoadError: unreadable, not a public key, or not a supported EC key.
    """
    return parse_public_key(_read(path, "public key"), str(path))


def parse_public_key(data: bytes, path: str) -> ec.EllipticCurvePublicKey:
    """`load_public_key` over bytes already read (and pinned) by the caller."""
    if b"PRIVATE KEY-----" in data:  # a common slip: the wrong half of a key pair
        raise KeyLoadError(
            "this is a private key, but a public key is expected here",
            path=str(path),
            code="key.private_given",
            hint="give the public key (keygen wrote it beside the private one as *.pub.pem)",
        )
    try:
        key = serialization.load_pem_public_key(data)
    except Exception as exc:
        raise KeyLoadError("not a PEM public key we can read", path=str(path)) from exc
    _check_curve(key, str(path))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, as OpenSSL/cryptography write it (64-column lines)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """OMS `publicKey.hint`: lowercase hex SHA-256 of the PEM text, not the DER (2.2)."""
    return hashlib.sha256(public_pem(key)).hexdigest()


def load_certificates(path: str | Path) -> list[x509.Certificate]:
    """Load one or more PEM certificates from a file.

    Raises:
        KeyLoadError: unreadable or no certificate in the file.
    """
    from cryptography import x509

    data = _read(path, "certificate file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise KeyLoadError("no PEM certificate could be read", path=str(path)) from exc
    if not certs:
        raise KeyLoadError("the file holds no certificate", path=str(path))
    return certs


def generate_private_key(curve: str = "p256") -> ec.EllipticCurvePrivateKey:
    """A new EC private key on the named curve."""
    try:
        return ec.generate_private_key(CURVES[curve]())
    except KeyError:
        raise KeyLoadError(
            f"unknown curve {curve!r}; use p256, p384 or p521", code="key.unsupported"
        ) from None


def private_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of a private key, encrypted when a password is given."""
    algo: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algo)
