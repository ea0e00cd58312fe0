"""Signed in-toto attestations other than the OMS signature: provenance, scan, smoke.

Owns: signing an arbitrary in-toto Statement v1 into the same Sigstore bundle + DSSE
form as OMS signatures (so every signer and verifier works for both), and verifying one
back into a `VerifiedAttestation`. Binding a statement to files (subject digests) is the
caller's job: `subject_matches` helps with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weightguard.bundle import (
    STATEMENT_TYPE,
    Statement,
    encode_statement,
    parse_bundle,
    parse_statement,
)
from weightguard.errors import BundleError, ModelReadError
from weightguard.signing import Signer, SignerInfo, Verifier
from weightguard.untrusted import MAX_BUNDLE_BYTES, read_regular


def make_statement(
    subjects: list[tuple[str, Mapping[str, str]]],
    predicate_type: str,
    predicate: Mapping[str, Any],
) -> dict[str, Any]:
    """An in-toto Statement v1 dict (subjects as (name, {alg: hex}))."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": n, "digest": dict(d)} for n, d in subjects],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def sign_statement(statement: Mapping[str, Any], signer: Signer) -> bytes:
    """Serialize and sign a statement; returns the bundle bytes to write."""
    return signer.sign_payload(encode_statement(statement))


@dataclass(frozen=True)
class VerifiedAttestation:
    """A statement whose signature verified, with who signed it."""

    statement: Statement
    signer: SignerInfo
    payload: bytes

    def subject_matches(self, algorithm: str, hex_digest: str) -> bool:
        """True when some subject carries exactly this digest."""
        want = hex_digest.lower()
        return any(d.get(algorithm, "").lower() == want for _, d in self.statement.subjects)


def verify_attestation_bytes(data: bytes, verifier: Verifier) -> VerifiedAttestation:
    """Verify a bundle's signature and parse its statement.

    Raises:
        BundleError, SignatureError: malformed bundle or statement, bad or untrusted signature.
    """
    bundle = parse_bundle(data)
    signer = verifier.verify_bundle(bundle)
    return VerifiedAttestation(
        parse_statement(bundle.envelope.payload), signer, bundle.envelope.payload
    )


def verify_attestation(path: str | os.PathLike[str], verifier: Verifier) -> VerifiedAttestation:
    """Read and verify an attestation bundle file.

    Raises:
        ModelReadError: unreadable file. BundleError, SignatureError: see above.
    """
    try:
        data = read_regular(path, limit=MAX_BUNDLE_BYTES)
    except OSError as exc:
        raise ModelReadError(f"cannot read attestation: {exc.strerror}", path=str(path)) from exc
    try:
        return verify_attestation_bytes(data, verifier)
    except BundleError as err:
        err.path = err.path or str(path)
        raise
