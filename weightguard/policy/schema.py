"""The policy file: `apiVersion: weightguard.dev/v1`, `kind: Policy`, as frozen values.

Owns: the policy's value types and `load_policy`, which reads a YAML file strictly into
them. Every problem (unknown key, wrong type, undefined signer, unreadable trust file,
bad glob...) is collected with its line and key path; any problem
makes `load_policy` raise `PolicyError` (a `ConfigError`, exit 2) listing them all.
Trust material (public keys, root certificates, trusted roots) is read and parsed at
load time, so a policy that loads can be evaluated without touching those files again.

The schema is documented field by field in `weightguard/policy/schema.json` (for
editors) and in the README, "Policy files".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightguard.policy._read import Ctx, PolicyError, PolicyProblem
from weightguard.policy._yaml import YamlProblem, load_yaml
from weightguard.policy.globs import PathPattern
from weightguard.signing.identity import IdentityPolicy, Matcher
from weightguard.signing.trust_root import TrustRoot
from weightguard.untrusted import read_regular

API_VERSION = "weightguard.dev/v1"
KIND = "Policy"
MODES = ("enforce", "warn", "audit")
_MODE_STRENGTH = {"audit": 0, "warn": 1, "enforce": 2}
if TYPE_CHECKING:
    from packaging.version import Version

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
# Versions longer than this are refused before parsing: `int()` raises past 4300 digits.
_MAX_VERSION_CHARS = 128


def mode_strength(mode: str) -> int:
    """enforce 2 > warn 1 > audit 0."""
    return _MODE_STRENGTH[mode]


def weakened_by(policy: Policy, mode: str) -> list[str]:
    """What a `--mode` override would weaken: the policy and every rule (by name) whose
    effective mode (its own, else the policy's) is stronger than `mode`."""
    out = ["the policy"] if mode_strength(mode) < mode_strength(policy.mode) else []
    out += [
        f"rule {r.name}"
        for r in policy.rules
        if mode_strength(mode) < mode_strength(r.mode or policy.mode)
    ]
    return out


def parse_version(text: str) -> Version | None:
    """A release version as `packaging` reads it (PEP 440: ``2.3``, ``v2.4.0``,
    ``2.5.0rc1``); None otherwise. ``2.3`` equals ``2.3.0``; a pre-release sorts below
    its release, so it never meets that release's floor. Only ASCII digits count
    (packaging's pattern is ASCII), and the length is bounded."""
    from packaging.version import InvalidVersion
    from packaging.version import Version as _Version

    if len(text) > _MAX_VERSION_CHARS or not text.isascii() or text.strip() != text:
        return None
    try:
        version = _Version(text)
    except (InvalidVersion, ValueError):
        return None
    # Bounded like every number we read: at most 32 parts of at most 18 digits.
    if len(version.release) > 32 or any(part >= 10**18 for part in version.release):
        return None
    return version


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
        from weightguard.scan.formats import FORMATS

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


def read_policy_bytes(path: str | os.PathLike[str]) -> bytes:
    """The policy file's bytes; an unreadable file is a PolicyError."""
    try:
        return read_regular(path)
    except OSError as exc:
        raise PolicyError(
            [
                PolicyProblem(
                    str(path), 0, "", f"cannot read policy: {exc.strerror}", "policy.unreadable"
                )
            ]
        ) from exc


def parse_policy(
    data: bytes, path: str, *, now: dt.datetime | None = None
) -> tuple[Policy | None, list[PolicyProblem]]:
    """Parse policy bytes; returns the policy (None if any problem) and every problem.

    Trust files named in the policy are read relative to the policy file's directory.
    `now` decides which exceptions have expired (default: the current UTC time).
    """
    from weightguard.policy._spec import read_document

    ctx = Ctx(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.add(0, "", f"the policy is not UTF-8 (byte {exc.start})", "policy.yaml_syntax")
        return None, ctx.problems
    try:
        doc = load_yaml(text)
    except YamlProblem as exc:
        ctx.add(exc.line, "", exc.message, "policy.yaml_syntax")
        return None, ctx.problems
    when = now or dt.datetime.now(dt.timezone.utc)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    policy = read_document(ctx, doc, path, digest, Path(path).parent, when)
    if ctx.problems:
        return None, ctx.problems
    return policy, []


def load_policy(path: str | os.PathLike[str], *, now: dt.datetime | None = None) -> Policy:
    """Read and validate a policy file.

    Raises:
        PolicyError: (exit 2) listing every problem, each with file, line and key path.
    """
    data = read_policy_bytes(path)
    policy, problems = parse_policy(data, str(path), now=now)
    if problems:
        raise PolicyError(problems)
    assert policy is not None
    return policy
