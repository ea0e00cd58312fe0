"""Who may have signed a keyless (Sigstore/Fulcio) signature: the identity policy.

Owns: matching a Fulcio certificate's SAN (exact, glob or anchored regex), its OIDC
issuer (always required), optional Fulcio extension constraints, and the verified
signing-time requirements. `IdentityPolicy.from_dict` reads the same object from policy
files, so every bad value is a `ConfigError` naming its key path.

Facts about Fulcio certificates come from Fulcio's `docs/oid-info.md`: the issuer is
extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String), or the deprecated 1.1 (raw bytes);
1.2-1.6 are raw bytes, 1.8 and later DER UTF8Strings. This module does not import
sigstore: it works on `cryptography` certificates and datetimes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from cryptography import x509

from weightguard.errors import ConfigError, SignatureError
from weightguard.signing.certcheck import extensions_of, require_end_entity

_FULCIO = "1.3.6.1.4.1.57264.1."
_ISSUER_V1 = x509.ObjectIdentifier(_FULCIO + "1")
_ISSUER_V2 = x509.ObjectIdentifier(_FULCIO + "8")
_OTHERNAME_SAN = x509.ObjectIdentifier(_FULCIO + "7")  # Fulcio "username" identities

# Policy-file name -> OID suffix, names as in Fulcio's certificate Extensions struct.
# Suffixes 2-6 are the deprecated GitHub extensions (raw bytes); 9 and up are DER strings.
EXTENSIONS: Mapping[str, int] = {
    "githubWorkflowTrigger": 2,
    "githubWorkflowSHA": 3,
    "githubWorkflowName": 4,
    "githubWorkflowRepository": 5,
    "githubWorkflowRef": 6,
    "buildSignerURI": 9,
    "buildSignerDigest": 10,
    "runnerEnvironment": 11,
    "sourceRepositoryURI": 12,
    "sourceRepositoryDigest": 13,
    "sourceRepositoryRef": 14,
    "sourceRepositoryIdentifier": 15,
    "sourceRepositoryOwnerURI": 16,
    "sourceRepositoryOwnerIdentifier": 17,
    "buildConfigURI": 18,
    "buildConfigDigest": 19,
    "buildTrigger": 20,
    "runInvocationURI": 21,
    "sourceRepositoryVisibilityAtSigning": 22,
}
_MATCH_KINDS = ("exact", "glob", "regex")
T = TypeVar("T")


@dataclass(frozen=True)
class Matcher:
    """A string constraint: ``exact``, ``glob`` (only ``*`` is special, and it never
    matches ``/``) or ``regex`` (Python syntax, always anchored at both ends)."""

    kind: str
    pattern: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in _MATCH_KINDS:
            raise ConfigError(f"unknown match kind {self.kind!r}; use exact, glob or regex")
        if not isinstance(self.pattern, str) or not self.pattern:
            raise ConfigError(f"the {self.kind} pattern must be a non-empty string")
        if self.kind == "glob":
            if "**" in self.pattern:
                # `*` never crosses `/`, so `**` would silently mean `*`: refuse the surprise.
                raise ConfigError(f"glob {self.pattern!r}: `**` is not supported; use a regex")
            text = "".join("[^/]*" if c == "*" else re.escape(c) for c in self.pattern)
            object.__setattr__(self, "_regex", re.compile(text, re.DOTALL))
        elif self.kind == "regex":
            try:
                object.__setattr__(self, "_regex", re.compile(self.pattern))
            except re.error as exc:
                raise ConfigError(f"invalid regex {self.pattern!r}: {exc}") from None

    @classmethod
    def exact(cls, value: str) -> Matcher:
        return cls("exact", value)

    @classmethod
    def glob(cls, pattern: str) -> Matcher:
        return cls("glob", pattern)

    @classmethod
    def regex(cls, pattern: str) -> Matcher:
        return cls("regex", pattern)

    @classmethod
    def from_value(cls, raw: object, where: str) -> Matcher:
        """A plain string (exact) or a mapping with exactly one of exact/glob/regex."""
        if isinstance(raw, str):
            return _at(where, lambda: cls.exact(raw))
        if isinstance(raw, Mapping):
            keys = list(raw)
            if len(keys) != 1 or keys[0] not in _MATCH_KINDS:
                raise ConfigError(f"{where}: give exactly one of exact, glob or regex")
            kind = str(keys[0])
            value = raw[kind]
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{kind}: must be a string")
            return _at(f"{where}.{kind}", lambda: cls(kind, value))
        raise ConfigError(f"{where}: must be a string or a mapping with exact/glob/regex")

    def matches(self, value: str) -> bool:
        """True when `value` satisfies the constraint (whole-string match)."""
        if self._regex is None:
            return value == self.pattern
        return self._regex.fullmatch(value) is not None

    def describe(self) -> str:
        """``exact:…``, ``glob:…`` or ``regex:…`` for messages and reports."""
        return f"{self.kind}:{self.pattern}"


def _at(where: str, build: Callable[[], T]) -> T:
    # Prefix a ConfigError raised while building a value with the key path it came from.
    try:
        return build()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", code=exc.code) from None


@dataclass(frozen=True)
class CertificateFacts:
    """What a Fulcio certificate says about its subject (all strings decoded)."""

    sans: tuple[str, ...]
    issuer: str | None
    extensions: Mapping[str, str]

    def to_json_dict(self) -> dict[str, Any]:
        return {"san": list(self.sans), "issuer": self.issuer, "extensions": dict(self.extensions)}


def _der_utf8(value: bytes) -> str | None:
    # One DER UTF8String (tag 0x0C), short or long form length; None when it is not one.
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, offset = value[1], 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or len(value) < 2 + n:
            return None
        length, offset = int.from_bytes(value[2 : 2 + n], "big"), 2 + n
    if offset + length != len(value):
        return None
    try:
        return value[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _raw_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        value = extensions_of(cert).get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    raw = getattr(value, "value", None)
    return raw if isinstance(raw, bytes) else None


def _decode(raw: bytes, der: bool) -> str:
    text = _der_utf8(raw) if der else raw.decode("utf-8", errors="strict")
    if text is None:
        raise SignatureError(
            "a Fulcio extension of the signing certificate is malformed", code="cert.malformed"
        )
    return text


def certificate_facts(cert: x509.Certificate) -> CertificateFacts:
    """SANs (email, URI, Fulcio username), OIDC issuer and known Fulcio extensions.

    Raises:
        SignatureError: malformed extension values, or the v1 and v2 issuer disagree.
    """
    sans: list[str] = []
    try:
        ext = extensions_of(cert).get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        ext = None
    if ext is not None:
        sans.extend(ext.get_values_for_type(x509.RFC822Name))
        sans.extend(ext.get_values_for_type(x509.UniformResourceIdentifier))
        for other in ext.get_values_for_type(x509.OtherName):
            if other.type_id == _OTHERNAME_SAN:
                sans.append(_decode(other.value, der=True))
    try:
        issuer_v1 = _raw_extension(cert, _ISSUER_V1)
        issuer_v2 = _raw_extension(cert, _ISSUER_V2)
        v1 = _decode(issuer_v1, der=False) if issuer_v1 is not None else None
        v2 = _decode(issuer_v2, der=True) if issuer_v2 is not None else None
    except UnicodeDecodeError:
        raise SignatureError(
            "the certificate's issuer extension is not UTF-8", code="cert.malformed"
        ) from None
    if v1 is not None and v2 is not None and v1 != v2:
        raise SignatureError(
            f"the certificate names two OIDC issuers ({v1!r} and {v2!r})",
            code="cert.inconsistent_issuer",
        )
    extensions: dict[str, str] = {}
    for name, suffix in EXTENSIONS.items():
        raw = _raw_extension(cert, x509.ObjectIdentifier(f"{_FULCIO}{suffix}"))
        if raw is not None:
            try:
                extensions[name] = _decode(raw, der=suffix >= 8)
            except UnicodeDecodeError:
                raise SignatureError(
                    f"the certificate's {name} extension is not UTF-8", code="cert.malformed"
                ) from None
    return CertificateFacts(tuple(sans), v2 if v2 is not None else v1, extensions)


def _parse_time(raw: object, where: str) -> dt.datetime:
    # YAML gives datetimes (naive = UTC, per the YAML timestamp spec) or dates; JSON strings.
    if isinstance(raw, dt.datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=dt.timezone.utc)
    if isinstance(raw, dt.date):
        return dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.timezone.utc)
    if isinstance(raw, str):
        try:
            if len(raw) == 10:  # date-only, as everywhere else in a policy: 00:00 UTC
                day = dt.date.fromisoformat(raw)
                return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{where}: {raw!r} is not an ISO 8601 date (YYYY-MM-DD) or time"
            ) from None
        if parsed.tzinfo is None:
            raise ConfigError(f"{where}: {raw!r} needs a time zone (e.g. a trailing Z)")
        return parsed
    raise ConfigError(f"{where}: must be an ISO 8601 time")


def extension_name(name: str) -> str:
    """Canonical extension name for a policy name or a Fulcio OID; ConfigError if unknown."""
    if name in EXTENSIONS:
        return name
    for known, suffix in EXTENSIONS.items():
        if name == f"{_FULCIO}{suffix}":
            return known
    raise ConfigError(f"unknown Fulcio extension {name!r}; known: {', '.join(sorted(EXTENSIONS))}")


@dataclass(frozen=True)
class IdentityPolicy:
    """Whose keyless signature to accept, and when it must have been made.

    Attributes:
        identity: constraint on the certificate SAN (any SAN may satisfy it).
        issuer: constraint on the OIDC issuer extension; always required.
        extensions: (canonical extension name, constraint) pairs; every one must hold,
            and a missing extension fails.
        min_verified_times: verified signing times required (tlog integrated time and/or
            RFC 3161 timestamps); at least 1.
        signed_after / signed_before: every verified signing time must lie in this window.
    """

    identity: Matcher
    issuer: Matcher
    extensions: tuple[tuple[str, Matcher], ...] = ()
    min_verified_times: int = 1
    signed_after: dt.datetime | None = None
    signed_before: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.identity, Matcher) or not isinstance(self.issuer, Matcher):
            raise ConfigError("an identity and an issuer are both required")
        if isinstance(self.min_verified_times, bool) or self.min_verified_times < 1:
            raise ConfigError("at least one verified signing time is always required")
        names = [extension_name(name) for name, _ in self.extensions]
        if len(set(names)) != len(names):
            raise ConfigError("an extension is constrained twice")
        if not all(isinstance(m, Matcher) for _, m in self.extensions):
            raise ConfigError("every extension constraint needs a matcher")
        for when in (self.signed_after, self.signed_before):
            if when is not None and when.tzinfo is None:
                raise ConfigError("signing-time bounds need a time zone")
        canonical = sorted(zip(names, (m for _, m in self.extensions)), key=lambda p: p[0])
        object.__setattr__(self, "extensions", tuple(canonical))

    @classmethod
    def create(
        cls,
        identity: Matcher | str,
        issuer: Matcher | str,
        *,
        extensions: Mapping[str, Matcher | str] | Iterable[tuple[str, Matcher | str]] = (),
        min_verified_times: int = 1,
        signed_after: dt.datetime | None = None,
        signed_before: dt.datetime | None = None,
    ) -> IdentityPolicy:
        """Convenience constructor: plain strings are exact matches."""

        def m(v: Matcher | str) -> Matcher:
            return v if isinstance(v, Matcher) else Matcher.exact(v)

        pairs = extensions.items() if isinstance(extensions, Mapping) else extensions
        return cls(
            m(identity),
            m(issuer),
            tuple((extension_name(k), m(v)) for k, v in pairs),
            min_verified_times,
            signed_after,
            signed_before,
        )

    @classmethod
    def from_dict(
        cls, raw: object, where: str = "sigstore", *, extra_keys: Collection[str] = ()
    ) -> IdentityPolicy:
        """Read a policy from a mapping (e.g. YAML), keys in camelCase.

        Keys: ``identity`` and ``issuer`` (string = exact, or ``{exact|glob|regex: …}``),
        ``extensions`` (name → string or matcher), ``minTimestamps`` (int ≥ 1),
        ``signedAfter`` / ``signedBefore`` (ISO 8601 with zone), ``requireTlog`` (only
        ``true``). `extra_keys` are keys the caller handles and this method ignores.

        Raises:
            ConfigError: naming the key path (``where.key``) and what is wrong.
        """
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: must be a mapping")
        known = {
            "identity",
            "issuer",
            "extensions",
            "minTimestamps",
            "signedAfter",
            "signedBefore",
            "requireTlog",
        }
        unknown = sorted(str(k) for k in raw if k not in known and k not in extra_keys)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        for key in ("identity", "issuer"):
            if raw.get(key) is None:
                raise ConfigError(f"{where}.{key}: is required")
        identity = Matcher.from_value(raw["identity"], f"{where}.identity")
        issuer = Matcher.from_value(raw["issuer"], f"{where}.issuer")
        ext_raw = raw.get("extensions", {})
        if not isinstance(ext_raw, Mapping):
            raise ConfigError(f"{where}.extensions: must be a mapping of name to value")
        extensions = []
        for name, value in ext_raw.items():
            key = f"{where}.extensions.{name}"
            canonical = _at(key, partial(extension_name, str(name)))
            extensions.append((canonical, Matcher.from_value(value, key)))
        if len({n for n, _ in extensions}) != len(extensions):
            raise ConfigError(f"{where}.extensions: an extension is named twice")
        minimum = raw.get("minTimestamps", 1)
        if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
            raise ConfigError(f"{where}.minTimestamps: must be an integer >= 1")
        if raw.get("requireTlog", True) is not True:
            raise ConfigError(
                f"{where}.requireTlog: only true is supported (Sigstore bundles are "
                "always checked against their transparency-log entry)"
            )
        after = raw.get("signedAfter")
        before = raw.get("signedBefore")
        return cls(
            identity,
            issuer,
            tuple(extensions),
            minimum,
            _parse_time(after, f"{where}.signedAfter") if after is not None else None,
            _parse_time(before, f"{where}.signedBefore") if before is not None else None,
        )

    def check_certificate(self, cert: x509.Certificate) -> CertificateFacts:
        """Check the certificate's issuer, identity and extensions; return its facts.

        Raises:
            SignatureError: ``signer.issuer_mismatch``, ``signer.identity_mismatch`` or
                ``signer.extension_mismatch`` (checked in that order), ``cert.*``.
        """
        require_end_entity(cert)
        facts = certificate_facts(cert)
        if facts.issuer is None or not self.issuer.matches(facts.issuer):
            raise SignatureError(
                f"signed through OIDC issuer {facts.issuer!r}, "
                f"policy requires {self.issuer.describe()}",
                code="signer.issuer_mismatch",
            )
        if not any(self.identity.matches(s) for s in facts.sans):
            raise SignatureError(
                f"signed by {', '.join(facts.sans) or 'no identity'}, "
                f"policy requires {self.identity.describe()}",
                code="signer.identity_mismatch",
            )
        for name, matcher in self.extensions:
            value = facts.extensions.get(name)
            if value is None or not matcher.matches(value):
                got = "absent" if value is None else repr(value)
                raise SignatureError(
                    f"certificate extension {name} is {got}, policy requires {matcher.describe()}",
                    code="signer.extension_mismatch",
                )
        return facts

    def check_times(self, verified: Sequence[dt.datetime]) -> None:
        """Require enough verified signing times, each inside the policy window.

        Raises:
            SignatureError: ``signature.no_verified_time`` or ``signer.signing_time``.
        """
        if len(verified) < self.min_verified_times:
            raise SignatureError(
                f"{len(verified)} verified signing time(s); the policy requires "
                f"{self.min_verified_times} (transparency log or RFC 3161 timestamp)",
                code="signature.no_verified_time",
            )
        for when in verified:
            if self.signed_after is not None and when < self.signed_after:
                raise SignatureError(
                    f"signed at {when.isoformat()}, before {self.signed_after.isoformat()}",
                    code="signer.signing_time",
                )
            if self.signed_before is not None and when > self.signed_before:
                raise SignatureError(
                    f"signed at {when.isoformat()}, after {self.signed_before.isoformat()}",
                    code="signer.signing_time",
                )

    def to_json_dict(self) -> dict[str, Any]:
        """The policy as reports show it."""
        out: dict[str, Any] = {
            "identity": self.identity.describe(),
            "issuer": self.issuer.describe(),
        }
        if self.extensions:
            out["extensions"] = {n: m.describe() for n, m in self.extensions}
        out["min_verified_times"] = self.min_verified_times
        if self.signed_after:
            out["signed_after"] = self.signed_after.isoformat()
        if self.signed_before:
            out["signed_before"] = self.signed_before.isoformat()
        return out
