"""Verifiers for a policy's named signers, built from the trust material the policy loaded.

Owns: turning each `SignerSpec` into a `weightguard.signing.Verifier` (EC key, X.509
chain, Sigstore identity), and trying a bundle against every signer, keeping who
accepted it and why the others refused. A verifier that cannot be built (Sigstore not
installed, unusable trusted root) raises its ConfigError before anything is hashed: a
missing verifier is never a silent pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from weightguard.bundle import Bundle
from weightguard.errors import IncompleteError, UsageError, WeightguardError
from weightguard.policy.values import KeySigner, SignerSpec, SigstoreSigner, X509Signer
from weightguard.signing import SignerInfo, Verifier


def build_verifier(spec: SignerSpec, *, at: dt.datetime | None = None) -> Verifier:
    """The verifier for one signer; `at` fixes the X.509 validation time (tests).

    Raises:
        ConfigError: the Sigstore verifier cannot be built.
    """
    if isinstance(spec, KeySigner):
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        from weightguard.signing.ec import EcKeyVerifier

        key = load_pem_public_key(spec.public_key_pem)
        assert isinstance(key, ec.EllipticCurvePublicKey)  # checked at policy load
        return EcKeyVerifier([key])
    if isinstance(spec, X509Signer):
        from cryptography import x509

        from weightguard.signing.x509 import CertIdentity, CertificateVerifier

        roots = [c for pem in spec.roots_pem for c in x509.load_pem_x509_certificates(pem)]
        identity = CertIdentity(san=spec.san, subject=spec.subject)
        return CertificateVerifier(roots, identity=identity, at=at)
    assert isinstance(spec, SigstoreSigner)
    from weightguard.signing.sigstore import SigstoreVerifier

    return SigstoreVerifier(spec.identity, spec.trust)


@dataclass(frozen=True)
class Verification:
    """Which signers accepted a bundle, and why the others refused."""

    signers: tuple[str, ...]
    infos: tuple[SignerInfo, ...]
    refusals: tuple[tuple[str, str], ...]
    incomplete: tuple[str, ...]  # signers that could not check at all
    keys: tuple[str, ...] = ()  # key ids of the key that signed (weightguard.policy.votes)


class TrustSet:
    """The policy's verifiers, built once, tried in policy order."""

    def __init__(self, signers: Mapping[str, SignerSpec], *, at: dt.datetime | None = None) -> None:
        self._specs = dict(signers)
        self._verifiers = {name: build_verifier(spec, at=at) for name, spec in signers.items()}

    def verify(self, bundle: Bundle) -> Verification:
        """Try every signer; a verifier error is a refusal, anything else propagates."""
        accepted: list[str] = []
        infos: list[SignerInfo] = []
        refusals: list[tuple[str, str]] = []
        incomplete: list[str] = []
        for name, verifier in self._verifiers.items():
            try:
                infos.append(verifier.verify_bundle(bundle))
                accepted.append(name)
            except UsageError:
                raise  # configuration, not a refusal
            except IncompleteError as err:
                refusals.append((name, err.code))
                incomplete.append(name)
            except WeightguardError as err:
                refusals.append((name, err.code))
        from weightguard.policy.votes import signing_key_id

        keys = {signing_key_id(bundle, self._specs[name]) for name in accepted}
        return Verification(
            tuple(accepted),
            tuple(infos),
            tuple(refusals),
            tuple(incomplete),
            tuple(sorted(k for k in keys if k)),
        )
