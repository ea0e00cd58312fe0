"""Signers and verifiers of DSSE envelopes inside Sigstore bundles.

Owns: the `Signer` / `Verifier` protocols and the `SignerInfo` value every verifier
returns. Back ends: `ec` (bare EC keys), `x509` (certificate chains), and Sigstore
keyless (imported lazily, in its own module). Third-party exceptions are caught at
the back-end boundary and re-raised as weightguard errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from weightguard.bundle import Bundle


@dataclass(frozen=True)
class SignerInfo:
    """Who signed, as established by a verifier.

    Attributes:
        kind: ``key``, ``x509`` or ``sigstore``.
        identity: a key id (sha256 of the public key PEM), certificate subject/SAN, or
            the Sigstore identity.
        details: JSON-ready extra facts (issuer, chain subjects, log index, times...).
    """

    kind: str
    identity: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for reports."""
        return {"kind": self.kind, "identity": self.identity, **self.details}


class Signer(Protocol):
    """Signs an in-toto payload into a complete bundle file (bytes)."""

    def sign_payload(self, payload: bytes) -> bytes:
        """Return the serialized bundle for `payload` (an in-toto Statement)."""
        ...  # pragma: no cover


class Verifier(Protocol):
    """Checks a bundle's signature over its exact payload bytes."""

    def verify_bundle(self, bundle: Bundle) -> SignerInfo:
        """Return who signed, or raise SignatureError / BundleError."""
        ...  # pragma: no cover
