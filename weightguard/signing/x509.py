"""X.509 certificate-chain signing and verification (`x509CertificateChain` material).

Verification is real RFC 5280 path validation with `cryptography.x509.verification`:
explicit trust roots only (never the web PKI), the leaf valid at verification time
(model-signing 1.1.1 never checks expiry: oms-format.md 3, defect 7), KeyUsage
digitalSignature and EKU codeSigning required on the leaf, optional identity pins on
the leaf's SANs or subject. Then ECDSA over the DSSE PAE of the exact payload bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from weightguard.bundle import PAYLOAD_TYPE, Bundle, encode_bundle, pae
from weightguard.errors import KeyLoadError, SignatureError
from weightguard.signing import SignerInfo
from weightguard.signing.certcheck import extensions_of, require_end_entity
from weightguard.signing.ec import EcKeySigner, ecdsa_verifies
from weightguard.signing.keys import load_certificates, load_private_key


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class CertificateSigner:
    """Signs with a leaf certificate's key; the bundle carries leaf + chain."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]) -> None:
        if not chain:
            raise KeyLoadError("a signing certificate is required")
        leaf_key = chain[0].public_key()
        if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or leaf_key.public_numbers() != (
            key.public_key().public_numbers()
        ):
            raise KeyLoadError(
                "the private key does not match the signing certificate", code="key.mismatch"
            )
        try:
            require_end_entity(chain[0])
        except SignatureError as err:  # signing with it would only produce refused bundles
            raise KeyLoadError(err.message, code=err.code) from None
        self._signer = EcKeySigner(key)
        self._chain = list(chain)

    @classmethod
    def from_files(
        cls,
        key_path: str | Path,
        cert_path: str | Path,
        chain_paths: Sequence[str | Path] = (),
        password: bytes | None = None,
    ) -> CertificateSigner:
        """Load the key, the leaf certificate and any chain files (in order)."""
        chain = [load_certificates(cert_path)[0]]
        for p in chain_paths:
            chain.extend(load_certificates(p))
        return cls(load_private_key(key_path, password), chain)

    def sign_payload(self, payload: bytes) -> bytes:
        """A complete bundle for `payload` (oms-format.md 2.2, certificate method)."""
        material = {
            "x509CertificateChain": {
                "certificates": [
                    {"rawBytes": base64.b64encode(_der(c)).decode()} for c in self._chain
                ]
            },
            "tlogEntries": [],
        }
        return encode_bundle(material, payload, self._signer.sign_pae(payload))


@dataclass(frozen=True)
class CertIdentity:
    """Leaf identity pins: every field given must match exactly."""

    san: str | None = None  # any SAN value: email, URI or DNS name
    subject: str | None = None  # RFC 4514 string of the leaf subject


def leaf_names(cert: x509.Certificate) -> list[str]:
    """All SAN values (email, URI, DNS) of a certificate."""
    try:
        ext = extensions_of(cert).get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
        names.extend(str(v) for v in ext.get_values_for_type(kind))
    return names


def _require_digital_signature(_p: object, _c: object, ku: x509.KeyUsage | None) -> None:
    if ku is None or not ku.digital_signature:
        raise ValueError("leaf KeyUsage lacks digitalSignature")


def _require_code_signing(_p: object, _c: object, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ValueError("leaf ExtendedKeyUsage lacks codeSigning")


class CertificateVerifier:
    """Accepts bundles whose leaf chains to one of the given roots."""

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        *,
        identity: CertIdentity | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        if not roots:
            raise KeyLoadError("at least one trust root is required")
        self._roots = list(roots)
        self._identity = identity or CertIdentity()
        self._at = at

    @classmethod
    def from_files(
        cls, root_paths: Sequence[str | Path], *, identity: CertIdentity | None = None
    ) -> CertificateVerifier:
        """Load trust roots from PEM files (each file may hold several)."""
        roots = [c for p in root_paths for c in load_certificates(p)]
        return cls(roots, identity=identity)

    def verify_bundle(self, bundle: Bundle) -> SignerInfo:
        """Validate the chain, the leaf's usage and identity, then the signature.

        Raises:
            SignatureError: wrong material kind, untrusted or invalid chain, expired leaf,
                wrong key usage, identity mismatch, or a bad signature.
        """
        if bundle.kind != "x509":
            raise SignatureError(
                f"bundle is signed with a {bundle.kind} identity, but certificate roots were given",
                code="signer.kind_mismatch",
            )
        try:
            certs = [x509.load_der_x509_certificate(d) for d in bundle.chain_der()]
        except ValueError as exc:
            raise SignatureError(
                "a certificate in the bundle cannot be parsed", code="cert.malformed"
            ) from exc
        leaf, intermediates = certs[0], certs[1:]
        when = self._at or dt.datetime.now(dt.timezone.utc)
        self._validate_path(leaf, intermediates, when)
        require_end_entity(leaf)  # path validation alone lets a CA certificate sign
        names = leaf_names(leaf)
        subject = leaf.subject.rfc4514_string()
        if self._identity.san is not None and self._identity.san not in names:
            raise SignatureError(
                f"certificate identity {names or [subject]} does not match {self._identity.san!r}",
                code="signer.identity_mismatch",
            )
        if self._identity.subject is not None and self._identity.subject != subject:
            raise SignatureError(
                f"certificate subject {subject!r} does not match {self._identity.subject!r}",
                code="signer.identity_mismatch",
            )
        key = leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise SignatureError(
                "the signing certificate's key is not an EC key", code="cert.unsupported_key"
            )
        sig = bundle.envelope.signatures[0].sig
        if not ecdsa_verifies(key, sig, pae(PAYLOAD_TYPE, bundle.envelope.payload)):
            raise SignatureError(
                "the signature does not verify over the payload", code="signature.invalid"
            )
        return SignerInfo(
            "x509",
            names[0] if names else subject,
            {
                "subject": subject,
                "san": names,
                "issuer": leaf.issuer.rfc4514_string(),
                "not_after": leaf.not_valid_after_utc.isoformat(),
                "verified_at": when.isoformat(),
            },
        )

    def _validate_path(
        self, leaf: x509.Certificate, intermediates: list[x509.Certificate], when: dt.datetime
    ) -> None:
        if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
            raise SignatureError(
                f"the signing certificate is not valid now (valid "
                f"{leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d})",
                code="cert.expired",
            )
        ee = (
            ExtensionPolicy.permit_all()
            .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _require_digital_signature)
            .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_code_signing)
        )
        verifier = (
            PolicyBuilder()
            .store(Store(self._roots))
            .time(when)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            text = str(exc)
            if (
                "KeyUsage" in text
                or "ExtendedKeyUsage" in text
                or "2.5.29.15" in text
                or ("2.5.29.37" in text)
            ):
                code, msg = "cert.usage", "the signing certificate may not be used for code signing"
            else:
                code, msg = (
                    "cert.untrusted",
                    "the certificate chain does not lead to a trusted root",
                )
            raise SignatureError(f"{msg}: {text.split(' (encountered')[0]}", code=code) from exc
