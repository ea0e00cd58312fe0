"""Sigstore keyless signing, and verification that needs no network and writes nothing.

Owns: `SigstoreSigner` (Fulcio certificate + Rekor entry over the exact OMS statement
bytes: the bundle model-signing's keyless method writes) and `SigstoreVerifier`
(sigstore-python's `verify_dsse` / `verify_artifact` against one pinned `TrustRoot`,
never `Verifier.production()`, which does TUF and writes ~/.cache; then our
`IdentityPolicy` and a verified signing time). Third-party errors become reason codes.
`verify_dsse` does not bind the statement to files: `weightguard.api.verify` does that
with the returned payload. sigstore is imported inside functions only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from weightguard.bundle import Bundle, parse_bundle, strict_json
from weightguard.errors import (
    BundleError,
    ConfigError,
    IncompleteError,
    InternalError,
    ModelReadError,
    SignatureError,
    UsageError,
    WeightguardError,
)
from weightguard.signing import SignerInfo
from weightguard.signing.identity import CertificateFacts, IdentityPolicy
from weightguard.signing.trust_root import TrustRoot, first_line
from weightguard.untrusted import read_regular

TOKEN_ENV = "WEIGHTGUARD_IDENTITY_TOKEN"  # noqa: S105 - a variable name


class _PolicyGuard:
    """sigstore-python `VerificationPolicy` that runs our IdentityPolicy and keeps its
    error (with its reason code) for the caller."""

    def __init__(self, policy: IdentityPolicy) -> None:
        self.policy = policy
        self.facts: CertificateFacts | None = None
        self.error: SignatureError | None = None

    def verify(self, cert: Any) -> None:
        try:
            self.facts = self.policy.check_certificate(cert)
        except SignatureError as err:
            from sigstore.errors import VerificationError

            self.error = err
            raise VerificationError(err.message) from err


# (substring of sigstore-python's message, reason code, our explanation); first match wins.
_FAILURES = (
    ("not valid at validation time", "cert.not_valid_at_signing_time",
     "the signing certificate was not valid at the verified signing time"),
    ("failed to build timestamp certificate chain", "signature.untrusted_root",
     "the signing certificate does not chain to the trusted root (another Sigstore "
     "instance, or a trusted root older than the signature)"),
    ("not enough sources of verified time", "signature.no_verified_time",
     "no verified signing time (transparency log or trusted RFC 3161 timestamp)"),
    ("Timestamp", "timestamp.invalid", "an RFC 3161 timestamp did not verify"),
    ("failed to verify SCT", "cert.sct_invalid",
     "the certificate's transparency (SCT) proof did not verify"),
    ("expired at time of signing", "cert.not_valid_at_signing_time",
     "the signing certificate was not valid at the verified signing time"),
    ("invalid log entry", "tlog.invalid", "the transparency log entry did not verify"),
    ("Integrated time only supported", "tlog.unsupported", "unsupported transparency log entry"),
    ("log entry", "tlog.mismatch", "the transparency log entry does not match the bundle"),
    ("inconsistent with other materials", "tlog.mismatch",
     "the transparency log entry does not match the bundle"),
)  # fmt: skip


def _rejection(exc: Exception) -> WeightguardError:
    from sigstore.errors import MetadataError
    from sigstore.models import InvalidBundle

    detail = first_line(exc)
    if isinstance(exc, InvalidBundle):
        return BundleError(f"not a valid Sigstore bundle: {detail}", code="bundle.invalid")
    if isinstance(exc, MetadataError):
        return ConfigError(f"unusable Sigstore trusted root: {detail}", code="trust.invalid")
    for needle, code, summary in _FAILURES:
        if needle in detail:
            return SignatureError(f"{summary}: {detail}", code=code)
    return SignatureError(f"the Sigstore signature did not verify: {detail}")


def _load_sigstore_bundle(raw: bytes) -> Any:
    from sigstore.errors import Error
    from sigstore.models import Bundle as SigstoreBundle

    try:
        return SigstoreBundle.from_json(raw)
    except (Error, ValueError) as exc:
        raise _rejection(exc) from None


def _small_int(value: object) -> int | None:
    # ASCII digits only, at most 18: int() also takes "١٢" and raises past 4300 digits.
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else None


def _iso(ts: object) -> str | None:
    seconds = _small_int(ts)
    if seconds is None or seconds <= 0:
        return None  # Rekor v2 entries carry no integrated time
    try:
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):  # past year 9999
        return None


def _log_entry_facts(material: Mapping[str, Any]) -> dict[str, Any]:
    entries = material.get("tlogEntries")
    entry = entries[0] if isinstance(entries, list) and entries else {}
    if not isinstance(entry, Mapping):
        entry = {}
    kv = entry.get("kindVersion")
    kv = kv if isinstance(kv, Mapping) else {}
    log = entry.get("logId")
    key_id = log.get("keyId") if isinstance(log, Mapping) else None
    try:
        log_id = base64.b64decode(key_id, validate=True).hex() if isinstance(key_id, str) else None
    except (binascii.Error, ValueError):
        log_id = None
    index = entry.get("logIndex")
    return {
        "log_index": _small_int(index),
        "log_id": log_id,
        "tlog_entry_kind": f"{kv.get('kind')}/{kv.get('version')}" if kv else None,
        "integrated_time": _iso(entry.get("integratedTime", 0)),
    }


class SigstoreVerifier:
    """Verifies keyless bundles offline against one pinned trusted root and a policy."""

    def __init__(self, policy: IdentityPolicy, trust: TrustRoot | None = None) -> None:
        try:
            from sigstore.errors import Error
            from sigstore.verify import Verifier
        except ImportError:
            raise ConfigError(
                "Sigstore support is not installed",
                hint="pip install './weightguard[sigstore]' from a checkout of this project",
            ) from None
        self.policy = policy
        self.trust = trust or TrustRoot.embedded("production")
        try:
            # Built here so a bad trust root is a configuration error before any hashing.
            self._verifier = Verifier(trusted_root=self.trust.sigstore_trusted_root())
        except Error as exc:
            raise ConfigError(
                f"unusable Sigstore trusted root: {first_line(exc)}",
                path=str(self.trust.path),
                code="trust.invalid",
            ) from None

    def verify_bundle(self, bundle: Bundle) -> SignerInfo:
        """Verify an OMS (DSSE) bundle: chain, SCT, tlog, signature, policy, time.

        Returns the signer; the caller binds the payload to files.

        Raises:
            SignatureError, BundleError: see the reason codes in `_FAILURES` and
                `IdentityPolicy.check_certificate`.
        """
        if bundle.kind != "sigstore":
            raise SignatureError(
                f"bundle is signed with a {bundle.kind} identity, but a Sigstore identity "
                "was required",
                code="signer.kind_mismatch",
            )
        sb = _load_sigstore_bundle(bundle.raw)
        guard = _PolicyGuard(self.policy)
        ptype, payload = self._run(guard, lambda: self._verifier.verify_dsse(sb, guard))
        if ptype != bundle.envelope.payload_type or payload != bundle.envelope.payload:
            # Two parsers read the same bytes differently: refuse rather than guess.
            raise BundleError(
                "sigstore-python and weightguard read different payloads from the bundle",
                code="bundle.ambiguous",
            )
        return self._signer_info(sb, guard, bundle.material)

    def verify_artifact(self, artifact: str | os.PathLike[str], bundle_bytes: bytes) -> SignerInfo:
        """Verify a plain (message-signature) Sigstore bundle over one file.

        Raises:
            SignatureError, BundleError as for `verify_bundle`; ModelReadError.
        """
        from sigstore.hashes import Hashed
        from sigstore_models.common.v1 import HashAlgorithm

        doc = strict_json(bundle_bytes, "signature bundle")
        material = doc.get("verificationMaterial") if isinstance(doc, dict) else None
        sb = _load_sigstore_bundle(bundle_bytes)
        digest = hashlib.sha256()
        try:
            with open(artifact, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise ModelReadError(f"cannot read: {exc.strerror}", path=str(artifact)) from exc
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest.digest())
        guard = _PolicyGuard(self.policy)
        self._run(guard, lambda: self._verifier.verify_artifact(hashed, sb, guard))
        return self._signer_info(sb, guard, material if isinstance(material, dict) else {})

    def _run(self, guard: _PolicyGuard, call: Any) -> Any:
        from sigstore.errors import Error

        try:
            return call()
        except (Error, ValueError) as exc:
            if guard.error is not None:
                raise guard.error from None
            raise _rejection(exc) from None

    def _signer_info(self, sb: Any, guard: _PolicyGuard, material: Mapping[str, Any]) -> SignerInfo:
        facts = guard.facts
        if facts is None:  # the verifier returned without consulting the policy
            raise InternalError("sigstore-python did not check the identity policy")
        establish = getattr(self._verifier, "_establish_time", None)
        if establish is None:
            raise InternalError("this sigstore-python version cannot report verified times")
        # The same verified times sigstore-python just validated the chain at.
        results = self._run(guard, lambda: establish(sb))
        times = sorted(r.time for r in results)
        self.policy.check_times(times)
        cert = sb.signing_certificate
        identity = next(s for s in facts.sans if self.policy.identity.matches(s))
        sources = {
            "TIMESTAMP_AUTHORITY": "timestamp_authority",
            "TRANSPARENCY_SERVICE": "transparency_log",
        }
        return SignerInfo(
            "sigstore",
            identity,
            {
                "issuer": facts.issuer,
                "san": list(facts.sans),
                "extensions": dict(facts.extensions),
                **_log_entry_facts(material),
                "verified_time": times[0].isoformat(),
                "verified_times": [
                    {
                        "source": sources.get(r.source.name, r.source.name),
                        "time": r.time.isoformat(),
                    }
                    for r in sorted(results, key=lambda r: r.time)
                ],
                "certificate": {
                    "not_before": cert.not_valid_before_utc.isoformat(),
                    "not_after": cert.not_valid_after_utc.isoformat(),
                },
                "policy": self.policy.to_json_dict(),
                "trusted_root": self.trust.describe(),
            },
        )


class SigstoreSigner:
    """Keyless signer: OIDC token → Fulcio certificate → DSSE signature → Rekor entry."""

    def __init__(
        self,
        *,
        identity_token: str | None = None,
        trust_config: str | os.PathLike[str] | None = None,
        staging: bool = False,
        ambient: bool = True,
    ) -> None:
        """Load the trust config and find an identity token now, so that a missing token
        fails before any hashing.

        Args:
            identity_token: an OIDC ID token (audience ``sigstore``); else ambient CI
                credentials (GitHub Actions, GitLab, Buildkite, CircleCI, GCP) if `ambient`.
            trust_config: a ClientTrustConfig file (private Sigstore instance). Without
                it, production (or staging) configuration is fetched through TUF (online).
        """
        if staging and trust_config:
            raise UsageError("give --staging or --trust-config, not both")
        try:
            from sigstore.errors import Error
            from sigstore.models import ClientTrustConfig
            from sigstore.sign import SigningContext
        except ImportError:
            raise ConfigError(
                "Sigstore support is not installed",
                hint="pip install './weightguard[sigstore]' from a checkout of this project",
            ) from None
        self._explicit = identity_token
        self._ambient = ambient
        try:
            if trust_config:
                text = read_regular(trust_config).decode("utf-8", "replace")
                config = ClientTrustConfig.from_json(text)
            else:
                config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
            self._context = SigningContext.from_trust_config(config)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the trust config: {exc.strerror}", path=str(trust_config)
            ) from None
        except (Error, ValueError) as exc:
            raise ConfigError(
                f"unusable Sigstore trust config: {first_line(exc)}",
                path=str(trust_config) if trust_config else None,
                code="trust.invalid",
            ) from None
        self._token()  # fail early; a fresh token is taken again when signing

    def _token(self) -> Any:
        from sigstore.oidc import IdentityError, IdentityToken, detect_credential

        try:
            raw = self._explicit
            if raw is None and self._ambient:
                raw = detect_credential()
            if raw is None:
                raise UsageError(
                    "no OIDC identity token: pass --identity-token (or set "
                    f"{TOKEN_ENV}), or run in CI with ambient OIDC credentials",
                    code="sigstore.no_identity_token",
                )
            return IdentityToken(raw.strip())
        except IdentityError as exc:
            raise ConfigError(
                f"unusable OIDC identity token: {first_line(exc)}",
                code="sigstore.identity_token",
            ) from None

    def sign_payload(self, payload: bytes) -> bytes:
        """Sign the exact statement bytes; return the bundle JSON (model-signing's shape).

        Raises:
            ConfigError: bad token. IncompleteError: Fulcio or Rekor unreachable or refusing.
        """
        from sigstore.dsse import Statement

        token = self._token()
        try:
            statement = Statement(payload)  # keeps these bytes: they are what gets signed
            # Keep sigstore's default cache=True: with cache=False, sigstore-python 4.5.1
            # makes a fresh key on every `_private_key` use, so the signature and the
            # certificate name different keys. A new signer per call keeps keys one-shot.
            with self._context.signer(token) as signer:
                bundle = signer.sign_dsse(statement)
        except Exception as exc:  # network, Fulcio and Rekor failures alike
            if isinstance(exc, WeightguardError):
                raise
            raise IncompleteError(
                f"Sigstore signing failed: {type(exc).__name__}: {first_line(exc)}",
                code="sigstore.signing_failed",
            ) from None
        data: bytes = bundle.to_json().encode()
        if parse_bundle(data).envelope.payload != payload:
            raise InternalError("the Sigstore bundle does not carry the statement we signed")
        return data
