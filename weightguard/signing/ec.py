"""Bare EC key signing and verification of OMS bundles (`publicKey.hint` material).

Verification checks the key hint when present (oms-format.md 2.2), then the ECDSA
signature over the DSSE PAE of the exact payload bytes (2.3), falling back to the
v0.2-era PAE only for bundles that predate model-signing 1.0 (no hint).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from weightguard.bundle import PAYLOAD_TYPE, Bundle, encode_bundle, legacy_pae, pae
from weightguard.errors import SignatureError
from weightguard.signing import SignerInfo
from weightguard.signing.keys import hash_for, key_hint, load_private_key, load_public_key


class EcKeySigner:
    """Signs with an EC private key; the bundle carries only the key hint."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    @classmethod
    def from_file(cls, path: str | Path, password: bytes | None = None) -> EcKeySigner:
        """Load the key from a PEM file."""
        return cls(load_private_key(path, password))

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The signing key (for composing other signers)."""
        return self._key

    def sign_pae(self, payload: bytes) -> bytes:
        """DER ECDSA signature over the DSSE PAE of `payload`."""
        return self._key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hash_for(self._key)))

    def sign_payload(self, payload: bytes) -> bytes:
        """A complete bundle for `payload`."""
        material = {"publicKey": {"hint": key_hint(self._key.public_key())}, "tlogEntries": []}
        return encode_bundle(material, payload, self.sign_pae(payload))


def ecdsa_verifies(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    """True when `signature` is a valid DER ECDSA signature of `message` under `key`."""
    try:
        key.verify(signature, message, ec.ECDSA(hash_for(key)))
    except (InvalidSignature, ValueError):
        return False
    return True


class EcKeyVerifier:
    """Accepts bundles signed by any one of the given public keys."""

    def __init__(self, keys: Sequence[ec.EllipticCurvePublicKey]) -> None:
        if not keys:
            raise ValueError("at least one public key is required")
        self._keys = {key_hint(k): k for k in keys}

    @classmethod
    def from_files(cls, paths: Sequence[str | Path]) -> EcKeyVerifier:
        """Load public keys from PEM files."""
        return cls([load_public_key(p) for p in paths])

    def verify_bundle(self, bundle: Bundle) -> SignerInfo:
        """Check the hint and the signature; return the signing key's id.

        Raises:
            SignatureError: wrong material kind, unknown key, or bad signature.
        """
        if bundle.kind != "key":
            raise SignatureError(
                f"bundle is signed with a {bundle.kind} identity, but a public key was given",
                code="signer.kind_mismatch",
            )
        hint = bundle.key_hint
        if hint is not None:
            candidates = [(hint, self._keys[hint])] if hint in self._keys else []
            if not candidates:
                raise SignatureError(
                    "the bundle was signed by a different key than the ones trusted",
                    code="signer.untrusted_key",
                )
        else:
            candidates = list(self._keys.items())  # bundles before 1.1 carry no hint
        sig = bundle.envelope.signatures[0].sig
        payload = bundle.envelope.payload
        for kid, key in candidates:
            if ecdsa_verifies(key, sig, pae(PAYLOAD_TYPE, payload)):
                return SignerInfo("key", f"sha256:{kid}", {"hint_present": hint is not None})
            if hint is None and ecdsa_verifies(key, sig, legacy_pae(PAYLOAD_TYPE, payload)):
                return SignerInfo("key", f"sha256:{kid}", {"legacy_pae": True})
        raise SignatureError(
            "the signature does not verify over the payload", code="signature.invalid"
        )
