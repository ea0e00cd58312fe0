"""A policy (`apiVersion: weightguard.dev/v1`, `kind: Policy`) as frozen values.

Owns: the value types of a loaded policy (signers, rules and their requirements, deny
lists, rollback floors, exceptions) and the constants that give them meaning. Nothing
here reads a file: loading is `weightguard.policy.load`, which builds these values, and
deciding is `weightguard.policy.evaluate`, which reads them. A `Policy` carries its trust
material already parsed, so evaluating one never touches the trust files again.

The schema is documented field by field in `weightguard/policy/schema.json` (for
editors) and in the README, "Policy files".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from weightguard.policy.globs import PathPattern
from weightguard.signing.identity import IdentityPolicy, Matcher
from weightguard.signing.trust_root import TrustRoot

API_VERSION = "weightguard.dev/v1"
KIND = "Policy"
MODES = ("enforce", "warn", "audit")

# What an exception may waive, by check name. Deny lists and rollback never are.
EXCEPTABLE_CHECKS = (
    "signatures",
    "unsigned",
    "formats",
    "digests",
    "scan",
    "smoke",
    "attestations",
    "layout",
    "unmatched",
)
SCAN_PREDICATE = "https://weightguard.dev/scan/v1"
SMOKE_PREDICATE = "https://weightguard.dev/smoke/v1"
# Formats that hold data only: scanning them for code is meaningless, so a rule's scan
# requirement covers every other format unless the rule lists formats itself.
DATA_ONLY_FORMATS = frozenset(
    {"safetensors", "gguf", "onnx", "sentencepiece", "flax-msgpack", "json", "text", "empty"}
)
# Detector answers that say "could not tell": never allowed by accident, always scanned.
UNDETERMINED = frozenset({"unknown"})


@dataclass(frozen=True)
class KeySigner:
    """An EC public key pinned by its key id (sha256 of the PEM, the OMS key hint)."""

    name: str
    key_id: str  # "sha256:<hex>"
    public_key_pem: bytes
    source: str
    kind: str = "key"


@dataclass(frozen=True)
class X509Signer:
    """Certificate chains to these roots, with the leaf pinned by SAN and/or subject."""

    name: str
    roots_pem: tuple[bytes, ...]
    san: str | None
    subject: str | None
    sources: tuple[str, ...]
    kind: str = "x509"


@dataclass(frozen=True)
class SigstoreSigner:
    """A keyless identity (weightguard.signing.identity) checked against a trusted root."""

    name: str
    identity: IdentityPolicy
    trust: TrustRoot | None  # None: the production root shipped inside sigstore
    kind: str = "sigstore"


SignerSpec = KeySigner | X509Signer | SigstoreSigner


@dataclass(frozen=True)
class SignatureRequirement:
    """Which signers must have signed a file: `threshold` distinct ones out of `signers`."""

    combinator: str  # anyOf | allOf | threshold
    signers: tuple[str, ...]
    threshold: int

    def describe(self) -> str:
        """``any of [a, b]``, ``all of [a, b]`` or ``2 of [a, b, c]``."""
        names = ", ".join(self.signers)
        if self.combinator == "anyOf":
            return f"any of [{names}]"
        if self.combinator == "allOf":
            return f"all of [{names}]"
        return f"{self.threshold} of [{names}]"


@dataclass(frozen=True)
class FieldConstraint:
    """A constraint on one dotted path of a statement's predicate."""

    path: str
    matcher: Matcher | None  # for strings
    equals: Any = None  # for booleans and numbers (when matcher is None)

    def check(self, predicate: Mapping[str, Any]) -> tuple[bool, str]:
        """(satisfied, what was found) for `predicate`."""
        value: Any = predicate
        for part in self.path.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            # ASCII only: "²".isdigit() is true, but int("²") raises.
            elif (
                isinstance(value, list)
                and part.isascii()
                and part.isdigit()
                and int(part) < len(value)
            ):
                value = value[int(part)]
            else:
                return False, "absent"
        if self.matcher is not None:
            ok = isinstance(value, str) and self.matcher.matches(value)
        else:
            ok = type(value) is type(self.equals) and value == self.equals
        return ok, repr(value)

    def describe(self) -> str:
        """``path = value`` for messages."""
        want = self.matcher.describe() if self.matcher else repr(self.equals)
        return f"{self.path} = {want}"


@dataclass(frozen=True)
class EvidenceRequirement:
    """A signed in-toto statement that must exist: type, signers, subject, field values.

    `subject` says which digest the statement must name: ``model`` (the OMS root digest
    of a verified signature), ``file`` (the file's sha256) or ``any`` (either).
    """

    predicate_type: str
    signers: tuple[str, ...]
    subject: str = "any"
    where: tuple[FieldConstraint, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class ScanRequirement:
    """A clean scan for the rule's files whose detected format is in `formats`.

    `profiles` and `allow` configure the local scanner (`weightguard.scan`): allowlist
    profiles (None: the scanner's defaults) and extra ``module.qualname`` entries, each
    with the justification the policy gives for it.
    """

    source: str  # local | attestation | any
    formats: frozenset[str]
    attestation: EvidenceRequirement | None
    profiles: tuple[str, ...] | None = None
    allow: tuple[tuple[str, str], ...] = ()  # (module.qualname, reason)

    def covers(self, fmt: str | None) -> bool:
        """Whether a file whose detector answer is `fmt` must be scanned.

        A listed format is scanned; so is anything the detector could not pin down
        (unreadable, ``unknown``, or an answer outside `weightguard.scan.FORMATS`): an
        undetermined format is never a reason to skip a scan (threat model, class 14).
        """
        from weightguard.scan import FORMATS

        return fmt is None or fmt in self.formats or fmt in UNDETERMINED or fmt not in FORMATS

    @property
    def scanner_key(self) -> str:
        """Identifies the scanner settings: files scanned once per distinct setting."""
        profiles = ",".join(self.profiles) if self.profiles is not None else "default"
        return f"profiles={profiles};allow={','.join(n for n, _ in self.allow)}"


@dataclass(frozen=True)
class LayoutRequirement:
    """An in-toto layout that must verify over links found with the model."""

    file: str
    layout_bytes: bytes = field(repr=False)
    signers: tuple[str, ...]
    links: str  # directory relative to the model's evidence folder


@dataclass(frozen=True)
class Rule:
    """A per-path rule. Every rule matching a file must pass for that file."""

    name: str
    paths: tuple[PathPattern, ...]
    line: int
    mode: str | None = None
    signatures: SignatureRequirement | None = None  # None: `signatures: none`
    unsigned_files: str = "deny"  # deny | allow
    formats_allow: frozenset[str] | None = None
    formats_deny: frozenset[str] = frozenset()
    digests: tuple[tuple[str, str], ...] = ()  # (path, "sha256:<hex>")
    scan: ScanRequirement | None = None
    smoke: EvidenceRequirement | None = None
    attestations: tuple[EvidenceRequirement, ...] = ()
    layout: LayoutRequirement | None = None

    def match(self, rel_path: str) -> PathPattern | None:
        """The first pattern of this rule matching `rel_path`, if any."""
        return next((p for p in self.paths if p.matches(rel_path)), None)


@dataclass(frozen=True)
class PolicyException:
    """A time-limited waiver of named checks for some paths and/or rules."""

    index: int
    checks: frozenset[str]
    reason: str
    expires: dt.datetime
    line: int
    paths: tuple[PathPattern, ...] = ()
    rules: tuple[str, ...] = ()

    def covers(self, check: str, rule: str | None, path: str | None) -> bool:
        """True when this exception waives `check` of `rule` for `path`.

        With `paths`, only file-level checks of matching files are covered; without,
        every check of the listed rules (including model-level ones) is.
        """
        if check not in self.checks:
            return False
        if self.rules and rule not in self.rules:
            return False
        if self.paths:
            return path is not None and any(p.matches(path) for p in self.paths)
        return True


@dataclass(frozen=True)
class DenyList:
    """Revocations, checked before anything else and never waived."""

    digests: frozenset[str] = frozenset()  # "sha256:<hex>": a root digest or a file's sha256
    signers: tuple[str, ...] = ()  # names of defined signers
    key_ids: frozenset[str] = frozenset()  # "sha256:<hex>" key ids
    identities: tuple[Matcher, ...] = ()  # certificate or keyless identities


@dataclass(frozen=True)
class Rollback:
    """Floors taken from the verified signed statement (README, "Rollback protection")."""

    min_version: str | None = None
    not_signed_before: dt.datetime | None = None


@dataclass(frozen=True)
class Policy:
    """A validated policy, with its trust material loaded."""

    path: str
    digest: str  # "sha256:<hex>" of the file bytes
    name: str
    mode: str
    allow_overrides: bool
    unmatched_files: str  # deny | warn | allow
    allow_symlinks: bool
    signers: Mapping[str, SignerSpec]
    deny: DenyList
    rollback: Rollback | None
    rules: tuple[Rule, ...]
    exceptions: tuple[PolicyException, ...] = ()
    description: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        """What reports say about the policy."""
        return {
            "name": self.name,
            "path": self.path,
            "digest": self.digest,
            "api_version": API_VERSION,
            "mode": self.mode,
            "rules": [r.name for r in self.rules],
            "signers": {n: s.kind for n, s in self.signers.items()},
        }
