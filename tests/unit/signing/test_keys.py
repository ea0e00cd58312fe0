"""Key and certificate loading: EC P-256/384/521 only, encrypted PEM, clear refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.models import make_pki, write
from weightguard.errors import KeyLoadError
from weightguard.signing.keys import (
    generate_private_key,
    key_hint,
    load_certificates,
    load_private_key,
    load_public_key,
    private_pem,
    public_pem,
)


def _pkcs8(key: object, password: bytes | None = None) -> bytes:
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
    )


@pytest.mark.parametrize("curve", ["p256", "p384", "p521"])
def test_generate_write_and_load(tmp_path: Path, curve: str) -> None:
    key = generate_private_key(curve)
    priv = write(tmp_path / "k.pem", private_pem(key))
    pub = write(tmp_path / "k.pub.pem", public_pem(key.public_key()))
    assert load_private_key(priv).private_numbers() == key.private_numbers()
    assert load_public_key(pub).public_numbers() == key.public_key().public_numbers()
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert key_hint(key.public_key()) == hashlib.sha256(pub.read_bytes()).hexdigest()


def test_sec1_private_key(tmp_path: Path) -> None:
    key = generate_private_key()
    sec1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert load_private_key(write(tmp_path / "k.pem", sec1)).curve.name == "secp256r1"


def test_encrypted_key_passwords(tmp_path: Path) -> None:
    key = generate_private_key()
    path = write(tmp_path / "enc.pem", private_pem(key, b"s3cret"))
    assert b"ENCRYPTED" in path.read_bytes()
    assert load_private_key(path, b"s3cret").private_numbers() == key.private_numbers()
    for password, fragment in ((None, "encrypted"), (b"wrong", "wrong password")):
        with pytest.raises(KeyLoadError) as info:
            load_private_key(path, password)
        assert info.value.code == "key.password"
        assert fragment in info.value.message
    plain = write(tmp_path / "plain.pem", private_pem(key))
    with pytest.raises(KeyLoadError) as info:
        load_private_key(plain, b"unneeded")
    assert info.value.code == "key.password"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RSA"),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "secp256k1"),
    ],
)
def test_unsupported_keys_get_a_clear_message(tmp_path: Path, make: object, fragment: str) -> None:
    key = make()  # type: ignore[operator]
    priv = write(tmp_path / "k.pem", _pkcs8(key))
    pub = write(
        tmp_path / "k.pub.pem",
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    for loader, path in ((load_private_key, priv), (load_public_key, pub)):
        with pytest.raises(KeyLoadError) as info:
            loader(path)  # type: ignore[operator]
        assert info.value.code == "key.unsupported"
        assert fragment.lower() in info.value.message.lower()
        assert info.value.path == str(path)


def test_unreadable_and_garbage_files(tmp_path: Path) -> None:
    for loader in (load_private_key, load_public_key, load_certificates):
        with pytest.raises(KeyLoadError, match="cannot read"):
            loader(tmp_path / "missing.pem")  # type: ignore[operator]
        with pytest.raises(KeyLoadError):
            loader(write(tmp_path / "junk.pem", b"not a pem"))  # type: ignore[operator]
    # A private key where a public key is expected, and vice versa.
    key = generate_private_key()
    with pytest.raises(KeyLoadError):
        load_public_key(write(tmp_path / "priv.pem", private_pem(key)))
    with pytest.raises(KeyLoadError):
        load_private_key(write(tmp_path / "pub.pem", public_pem(key.public_key())))


def test_unknown_curve_name() -> None:
    with pytest.raises(KeyLoadError) as info:
        generate_private_key("p224")
    assert info.value.code == "key.unsupported"


def test_certificate_bundles(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    both = write(tmp_path / "chain.pem", pki.intermediate.read_bytes() + pki.root.read_bytes())
    assert [c.subject.rfc4514_string() for c in load_certificates(both)] == ["CN=int", "CN=root"]


def test_shared_keys_load(oms_dir: Path) -> None:
    keys = oms_dir / "keys"
    for curve in ("p256", "p384", "p521"):
        load_private_key(keys / f"{curve}.priv.pem")  # SEC1, from openssl ecparam
        load_public_key(keys / f"{curve}.pub.pem")
    load_private_key(keys / "p256-encrypted.priv.pem", b"interop-password")
    for unsupported in ("k256", "ed25519", "rsa2048"):
        with pytest.raises(KeyLoadError) as info:
            load_private_key(keys / f"{unsupported}.priv.pem")
        assert info.value.code == "key.unsupported"
