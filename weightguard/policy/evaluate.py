"""Deciding: a pure function from (policy, evidence) to a `Decision` listing every check.

Order (README, "Policy files"): deny lists first; then the evidence itself (bundles that
do not parse); then, for every file, each matching rule's checks (or the unmatched-file
check); then each rule's model-level checks (digest pins, smoke, model attestations,
in-toto layout); then rollback. Every check ends passed, failed, skipped or excepted,
with a stable reason code, the rule and the file.

Verdict: a failed check blocks when its mode is ``enforce``, or when it failed because
something could not be checked at all (`incomplete`: modes soften violations, never
blindness). Deny-list hits are always ``enforce`` and never excepted. Blocking
failures make the verdict ``rejected`` (or ``incomplete`` when all of them are
could-not-check); everything else is ``accepted``, with warnings where warn/audit
rules failed. Nothing here reads files or verifies signatures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from weightguard.policy.evidence import BundleFacts, Evidence, FileFacts, StatementFacts
from weightguard.policy.schema import (
    EvidenceRequirement,
    FieldConstraint,
    Policy,
    Rule,
    parse_version,
)
from weightguard.report import Reason, Verdict, worst_verdict
from weightguard.signing.identity import Matcher


class Status(str, Enum):
    """The outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    EXCEPTED = "excepted"


@dataclass(frozen=True)
class Check:
    """One evaluated check.

    Attributes:
        check: the check family (``deny``, ``evidence``, ``signatures``, ``unsigned``,
            ``formats``, ``digests``, ``scan``, ``smoke``, ``attestations``,
            ``layout``, ``unmatched``, ``rollback``, ``model``).
        status: passed, failed, skipped or excepted.
        code: stable reason code.
        message: one human line.
        mode: the mode the check ran under (enforce, warn, audit).
        rule / path: the rule and the model-relative file, when it has them.
        incomplete: failed because something could not be checked.
        exception: for excepted checks, the exception's reason and expiry.
    """

    check: str
    status: Status
    code: str
    message: str
    mode: str
    rule: str | None = None
    path: str | None = None
    expected: str | None = None
    actual: str | None = None
    incomplete: bool = False
    exception: str | None = None

    @property
    def blocking(self) -> bool:
        """A failure that decides the verdict."""
        return self.status is Status.FAILED and (self.mode == "enforce" or self.incomplete)

    def to_reason(self) -> Reason | None:
        """The report reason for this check (None for passed and routine skips)."""
        if self.status is Status.PASSED:
            return None
        if self.status is Status.SKIPPED and self.code.endswith(".not_required"):
            return None
        if self.blocking:
            severity = "error"
        elif self.status is Status.FAILED and self.mode == "warn":
            severity = "warning"
        else:
            severity = "info"
        message = self.message
        if self.status is Status.EXCEPTED:
            message = f"{message} (excepted: {self.exception})"
        if self.rule:
            message = f"rule {self.rule}: {message}"
        return Reason(self.code, message, self.path, self.expected, self.actual, severity)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for the report's ``policy.checks`` list."""
        out: dict[str, Any] = {
            "check": self.check,
            "status": self.status.value,
            "code": self.code,
            "rule": self.rule,
            "path": self.path,
            "mode": self.mode,
            "message": self.message,
        }
        for key in ("expected", "actual", "exception"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.incomplete:
            out["incomplete"] = True
        return out


@dataclass(frozen=True)
class Decision:
    """The verdict of a policy over a model, with every check that led to it."""

    verdict: Verdict
    checks: tuple[Check, ...]
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Report reasons: failures first (blocking ones first), then exceptions and notes."""
        pairs = [(c, c.to_reason()) for c in self.checks]
        found = [(c, r) for c, r in pairs if r is not None]
        order = {"error": 0, "warning": 1, "info": 2}
        found.sort(key=lambda cr: order[cr[1].severity])
        return tuple(r for _, r in found)

    def count(self, status: Status) -> int:
        """How many checks ended with `status`."""
        return sum(1 for c in self.checks if c.status is status)

    def to_json_dict(self) -> dict[str, Any]:
        """The report's ``policy`` object."""
        return {
            **self.policy,
            "summary": {s.value: self.count(s) for s in Status},
            "checks": [c.to_json_dict() for c in self.checks],
        }


SCAN_CLEAN = FieldConstraint("outcome", Matcher.exact("clean"))
SMOKE_PASSING = FieldConstraint("outcome", Matcher.regex("recorded|passed"))


def max_matching(required: Sequence[str], bundles: Sequence[tuple[str, ...]]) -> list[str]:
    """Signers of `required` matched to distinct bundles (each bundle counts once).

    A bundle that several signer definitions accept must not count as several
    signatures toward a threshold: this is a maximum bipartite matching (Kuhn).
    """
    owner: dict[int, str] = {}

    def assign(signer: str, seen: set[int]) -> bool:
        for index, names in enumerate(bundles):
            if signer in names and index not in seen:
                seen.add(index)
                if index not in owner or assign(owner[index], seen):
                    owner[index] = signer
                    return True
        return False

    return [s for s in required if assign(s, set())]


class _Evaluator:
    def __init__(self, policy: Policy, ev: Evidence, now: dt.datetime, mode: str | None) -> None:
        self.policy = policy
        self.ev = ev
        self.now = now
        self.mode_override = mode
        self.checks: list[Check] = []
        revoked = set(policy.deny.signers)
        self.revoked = revoked
        self.verified = [b for b in ev.bundles if b.verified]
        self.counted = [b for b in self.verified if set(b.signers) - revoked]
        digests = {b.root_digest for b in self.counted if b.intact and b.root_digest}
        if ev.model_digest:
            digests.add(ev.model_digest)
        self.model_digests = digests

    # -- plumbing -----------------------------------------------------------------
    def mode_of(self, rule: Rule | None) -> str:
        if self.mode_override is not None:
            return self.mode_override
        return rule.mode if rule is not None and rule.mode else self.policy.mode

    def add(
        self,
        check: str,
        status: Status,
        code: str,
        message: str,
        *,
        rule: Rule | None = None,
        path: str | None = None,
        mode: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
        incomplete: bool = False,
    ) -> None:
        exception = None
        if status is Status.FAILED and not incomplete:
            exception = self.exception_for(check, rule, path)
            if exception is not None:
                status = Status.EXCEPTED
        self.checks.append(
            Check(
                check,
                status,
                code,
                message,
                mode or self.mode_of(rule),
                rule.name if rule else None,
                path,
                expected,
                actual,
                incomplete,
                exception,
            )
        )

    def exception_for(self, check: str, rule: Rule | None, path: str | None) -> str | None:
        for exc in self.policy.exceptions:
            if exc.expires > self.now and exc.covers(check, rule.name if rule else None, path):
                return f"{exc.reason}; until {exc.expires.date().isoformat()}"
        return None

    def signers_of(self, b: BundleFacts | StatementFacts) -> set[str]:
        return set(b.signers) - self.revoked

    # -- model-level ----------------------------------------------------------------
    def deny(self) -> None:
        deny = self.policy.deny
        hits = 0
        signed: list[BundleFacts | StatementFacts] = [*self.ev.bundles, *self.ev.statements]
        for item in signed:
            who = self._denied_signer(item)
            if who:
                hits += 1
                self.add(
                    "deny",
                    Status.FAILED,
                    "deny.signer",
                    f"{item.source} is signed by revoked signer {who}",
                    mode="enforce",
                    path=None,
                )
        for b in self.verified:
            if b.root_digest and f"sha256:{b.root_digest}" in deny.digests:
                hits += 1
                self.add(
                    "deny",
                    Status.FAILED,
                    "deny.digest",
                    "the signed model's root digest is revoked",
                    mode="enforce",
                    actual=f"sha256:{b.root_digest}",
                )
        if self.ev.model_digest and f"sha256:{self.ev.model_digest}" in deny.digests:
            hits += 1
            self.add(
                "deny",
                Status.FAILED,
                "deny.digest",
                "the model's root digest is revoked",
                mode="enforce",
                actual=f"sha256:{self.ev.model_digest}",
            )
        for f in self.ev.files:
            if f.sha256 and f"sha256:{f.sha256}" in deny.digests:
                hits += 1
                self.add(
                    "deny",
                    Status.FAILED,
                    "deny.digest",
                    "file content is revoked",
                    path=f.path,
                    mode="enforce",
                    actual=f"sha256:{f.sha256}",
                )
        if deny.digests and any(f.sha256 is None for f in self.ev.files):
            hits += 1
            self.add(
                "deny",
                Status.FAILED,
                "deny.unchecked",
                "some files could not be hashed, so revoked digests cannot be ruled out",
                mode="enforce",
                incomplete=True,
            )
        if not hits:
            self.add(
                "deny", Status.PASSED, "deny.clear", "no revoked signer or digest", mode="enforce"
            )

    def _denied_signer(self, item: BundleFacts | StatementFacts) -> str | None:
        deny = self.policy.deny
        named = sorted(set(item.signers) & self.revoked)
        if named:
            return named[0]
        if item.key_hint and f"sha256:{item.key_hint}" in deny.key_ids:
            return f"key sha256:{item.key_hint}"
        for info in item.infos:
            if info.kind == "key" and info.identity in deny.key_ids:
                return f"key {info.identity}"
            names = [info.identity, *[str(s) for s in info.details.get("san", ())]]
            for matcher in deny.identities:
                hit = next((n for n in names if matcher.matches(n)), None)
                if hit:
                    return hit
        return None

    def evidence_errors(self) -> None:
        for problem in self.ev.errors:
            # The gate could not look at the model: never softened by warn/audit.
            r = problem.reason
            self.add(
                "model",
                Status.FAILED,
                r.code,
                r.message,
                path=r.path,
                mode="enforce",
                incomplete=problem.incomplete,
            )
        signed: list[BundleFacts | StatementFacts] = [*self.ev.bundles, *self.ev.statements]
        for item in signed:
            if item.error is not None:
                r = item.error.reason
                self.add(
                    "evidence",
                    Status.FAILED,
                    r.code,
                    f"{item.source}: {r.message}",
                    path=r.path,
                    incomplete=item.error.incomplete,
                )
        for b in self.ev.bundles:
            if b.error is None and not b.signers:
                tampered = [n for n, code in b.refusals if code == "signature.invalid"]
                detail = "; ".join(f"{n}: {c}" for n, c in b.refusals) or "no signers defined"
                if tampered:
                    self.add(
                        "signatures",
                        Status.FAILED,
                        "signature.invalid",
                        f"{b.source}: the signature does not verify with the key it names "
                        f"({tampered[0]})",
                    )
                else:
                    self.add(
                        "evidence",
                        Status.SKIPPED,
                        "bundle.unverified",
                        f"{b.source}: no policy signer verifies it ({detail})",
                    )
        if not self.ev.files and not self.ev.errors:
            self.add("model", Status.FAILED, "model.empty", "the model has no files to check")

    def missing_files(self) -> None:
        present = {f.path for f in self.ev.files}
        reported: set[str] = set()
        for b in self.verified:
            for path, state in sorted(b.files.items()):
                if state == "file.missing" and path not in present and path not in reported:
                    reported.add(path)
                    rule = next((r for r in self.policy.rules if r.match(path)), None)
                    self.add(
                        "signatures",
                        Status.FAILED,
                        "file.missing",
                        f"signed file is missing from the model ({b.source})",
                        rule=rule,
                        path=path,
                    )

    def rollback(self) -> None:
        rb = self.policy.rollback
        if rb is None:
            return
        if rb.min_version is not None:
            self._min_version(rb.min_version)
        if rb.not_signed_before is not None:
            floor = rb.not_signed_before
            times = [(b, b.signed_at) for b in self.counted]
            undated = [b for b, t in times if t is None]
            early = [(b, t) for b, t in times if t is not None and t < floor]
            if not times or undated:
                src = undated[0].source if undated else "no verified signature"
                self.add(
                    "rollback",
                    Status.FAILED,
                    "rollback.no_signing_time",
                    f"no signing time to compare with the floor ({src})",
                    expected=floor.isoformat(),
                )
            elif early:
                b, t = early[0]
                assert t is not None
                self.add(
                    "rollback",
                    Status.FAILED,
                    "rollback.signed_too_early",
                    f"{b.source} was signed before the policy's notSignedBefore",
                    expected=f">= {floor.isoformat()}",
                    actual=t.isoformat(),
                )
            else:
                self.add(
                    "rollback",
                    Status.PASSED,
                    "rollback.time_ok",
                    "every signature is newer than the floor",
                )

    def _min_version(self, floor_text: str) -> None:
        floor = parse_version(floor_text)
        assert floor is not None
        versions = {b.version for b in self.counted}
        if not self.counted or None in versions:
            self.add(
                "rollback",
                Status.FAILED,
                "rollback.no_version",
                "a verified signature carries no signed version",
                expected=f">= {floor_text}",
            )
            return
        if len(versions) > 1:
            self.add(
                "rollback",
                Status.FAILED,
                "rollback.version_conflict",
                "signatures disagree on the version: "
                + ", ".join(sorted(str(v) for v in versions)),
            )
            return
        text = str(next(iter(versions)))
        version = parse_version(text)
        if version is None:
            self.add(
                "rollback",
                Status.FAILED,
                "rollback.bad_version",
                f"signed version {text!r} is not a dotted number",
                actual=text,
            )
        elif version < floor:
            self.add(
                "rollback",
                Status.FAILED,
                "rollback.below_floor",
                "signed version is below the policy's minimum",
                expected=f">= {floor_text}",
                actual=text,
            )
        else:
            self.add(
                "rollback",
                Status.PASSED,
                "rollback.version_ok",
                f"signed version {text} >= {floor_text}",
                actual=text,
            )

    # -- per file -------------------------------------------------------------------
    def files(self) -> None:
        for f in self.ev.files:
            matched = [r for r in self.policy.rules if r.match(f.path)]
            if not matched:
                self._unmatched(f)
            for rule in matched:
                self._signatures(rule, f)
                self._formats(rule, f)
                if rule.scan is not None:
                    self._scan(rule, f)
                for req in rule.attestations:
                    if req.subject != "model":
                        self._statement("attestations", "attestation", req, rule, f)

    def _unmatched(self, f: FileFacts) -> None:
        setting = self.policy.unmatched_files
        message = "no rule matches this file"
        if setting == "allow":
            self.add(
                "unmatched",
                Status.SKIPPED,
                "file.unmatched_allowed",
                message + " (unmatchedFiles: allow)",
                path=f.path,
            )
        else:
            mode = self.mode_override or ("warn" if setting == "warn" else self.policy.mode)
            self.add("unmatched", Status.FAILED, "file.unmatched", message, path=f.path, mode=mode)

    def _signatures(self, rule: Rule, f: FileFacts) -> None:
        covering = [b for b in self.verified if f.path in b.files]
        for b in covering:
            state = b.files[f.path]
            if state != "ok":
                diff = next((d for d in b.differences if d.path == f.path), None)
                message = diff.message if diff else "content differs from the signed manifest"
                self.add(
                    "signatures",
                    Status.FAILED,
                    state,
                    f"{message} ({b.source})",
                    rule=rule,
                    path=f.path,
                    expected=diff.expected if diff else None,
                    actual=diff.actual if diff else None,
                )
                return
        req = rule.signatures
        if req is None:
            self.add(
                "signatures",
                Status.SKIPPED,
                "signature.not_required",
                "rule says signatures: none",
                rule=rule,
                path=f.path,
            )
            return
        counted = [tuple(sorted(self.signers_of(b))) for b in covering]
        counted = [c for c in counted if c]
        if not counted:
            self._unsigned(rule, f, revoked=bool(covering))
            return
        matched = max_matching(req.signers, counted)
        have = sorted({s for c in counted for s in c})
        if len(matched) >= req.threshold:
            self.add(
                "signatures",
                Status.PASSED,
                "signature.ok",
                f"signed by {', '.join(matched)} ({req.describe()})",
                rule=rule,
                path=f.path,
            )
        elif not matched:
            self.add(
                "signatures",
                Status.FAILED,
                "signature.signer_not_allowed",
                f"signed by {', '.join(have)}; the rule requires {req.describe()}",
                rule=rule,
                path=f.path,
                expected=req.describe(),
                actual=", ".join(have),
            )
        else:
            self.add(
                "signatures",
                Status.FAILED,
                "signature.threshold_not_met",
                f"{len(matched)} of the {req.threshold} required signatures "
                f"({req.describe()}); signed by {', '.join(have)}",
                rule=rule,
                path=f.path,
                expected=req.describe(),
                actual=", ".join(matched),
            )

    def _unsigned(self, rule: Rule, f: FileFacts, *, revoked: bool) -> None:
        if revoked:
            self.add(
                "signatures",
                Status.FAILED,
                "signature.revoked",
                "only revoked signers signed this file",
                rule=rule,
                path=f.path,
            )
        elif rule.unsigned_files == "allow":
            self.add(
                "unsigned",
                Status.SKIPPED,
                "file.unsigned_tolerated",
                "not in any verified signature (unsignedFiles: allow)",
                rule=rule,
                path=f.path,
            )
        elif not self.ev.bundles:
            self.add(
                "signatures",
                Status.FAILED,
                "signature.missing",
                "no signature found (the model is unsigned)",
                rule=rule,
                path=f.path,
            )
        elif not self.verified:
            self.add(
                "signatures",
                Status.FAILED,
                "signature.untrusted",
                "no signature is from a signer this policy trusts",
                rule=rule,
                path=f.path,
            )
        else:
            self.add(
                "unsigned",
                Status.FAILED,
                "file.unsigned",
                "file is not in any verified signature's manifest",
                rule=rule,
                path=f.path,
            )

    def _formats(self, rule: Rule, f: FileFacts) -> None:
        if rule.formats_allow is None and not rule.formats_deny:
            return
        if f.format is None:
            self.add(
                "formats",
                Status.FAILED,
                "format.unreadable",
                f"cannot detect the format: {f.error}",
                rule=rule,
                path=f.path,
                incomplete=True,
            )
        elif f.format in rule.formats_deny:
            self.add(
                "formats",
                Status.FAILED,
                "format.denied",
                f"format {f.format} is denied",
                rule=rule,
                path=f.path,
                actual=f.format,
            )
        elif rule.formats_allow is not None and f.format not in rule.formats_allow:
            allowed = ", ".join(sorted(rule.formats_allow))
            self.add(
                "formats",
                Status.FAILED,
                "format.not_allowed",
                f"format {f.format} is not among the allowed: {allowed}",
                rule=rule,
                path=f.path,
                expected=allowed,
                actual=f.format,
            )
        else:
            self.add(
                "formats",
                Status.PASSED,
                "format.ok",
                f"format {f.format}",
                rule=rule,
                path=f.path,
                actual=f.format,
            )

    def _scan(self, rule: Rule, f: FileFacts) -> None:
        scan = rule.scan
        assert scan is not None
        if f.format is not None and f.format not in scan.formats:
            self.add(
                "scan",
                Status.SKIPPED,
                "scan.not_required",
                f"format {f.format} is not scanned by this rule",
                rule=rule,
                path=f.path,
            )
            return
        if scan.attestation is not None:
            status, code, message, exp, act = self._find_statement(
                "scan", scan.attestation, f, SCAN_CLEAN
            )
            if status is Status.PASSED or scan.source == "attestation":
                self.add(
                    "scan", status, code, message, rule=rule, path=f.path, expected=exp, actual=act
                )
                return
        outcome = f.scan_outcome
        if outcome == "clean":
            self.add(
                "scan", Status.PASSED, "scan.clean", "scanned now: clean", rule=rule, path=f.path
            )
        elif outcome == "unsafe":
            self.add(
                "scan",
                Status.FAILED,
                "scan.unsafe",
                f"scanned now: unsafe: {f.scan_summary}",
                rule=rule,
                path=f.path,
            )
        elif outcome == "incomplete":
            self.add(
                "scan",
                Status.FAILED,
                "scan.incomplete",
                f"scanned now: incomplete: {f.scan_summary}",
                rule=rule,
                path=f.path,
                incomplete=True,
            )
        else:
            self.add(
                "scan",
                Status.FAILED,
                "scan.unavailable",
                f"no scan result: {f.scan_summary or 'the scan did not run'}",
                rule=rule,
                path=f.path,
                incomplete=True,
            )

    def _statement(
        self,
        check: str,
        prefix: str,
        req: EvidenceRequirement,
        rule: Rule,
        f: FileFacts | None,
        builtin: FieldConstraint | None = None,
    ) -> None:
        status, code, message, exp, act = self._find_statement(prefix, req, f, builtin)
        self.add(
            check,
            status,
            code,
            f"{req.name}: {message}" if check == "attestations" else message,
            rule=rule,
            path=f.path if f else None,
            expected=exp,
            actual=act,
        )

    def _find_statement(
        self,
        prefix: str,
        req: EvidenceRequirement,
        f: FileFacts | None,
        builtin: FieldConstraint | None,
    ) -> tuple[Status, str, str, str | None, str | None]:
        ptype = req.predicate_type
        found = [s for s in self.ev.statements if s.error is None and s.predicate_type == ptype]
        if not found:
            return Status.FAILED, f"{prefix}.missing", f"no {ptype} statement found", None, None
        trusted = [s for s in found if self.signers_of(s) & set(req.signers)]
        if not trusted:
            who = sorted({i.identity for s in found for i in s.infos}) or ["no trusted signer"]
            return (
                Status.FAILED,
                f"{prefix}.untrusted",
                f"{len(found)} {ptype} statement(s), none signed by {', '.join(req.signers)}",
                ", ".join(req.signers),
                ", ".join(who),
            )
        wanted = self._subject_digests(req.subject, f)
        about = [s for s in trusted if any(s.names_digest(d) for d in wanted)]
        if not about:
            got = sorted({d.get("sha256", "?") for s in trusted for _, d in s.subjects})
            return (
                Status.FAILED,
                f"{prefix}.subject_mismatch",
                f"trusted {ptype} statement(s) are about other content",
                ", ".join(sorted(wanted)) or "(no digest of this model)",
                ", ".join(got),
            )
        constraints = ((builtin,) if builtin else ()) + req.where
        first_failure: tuple[FieldConstraint, str] | None = None
        for s in about:
            failing = next(
                ((c, got) for c in constraints for ok, got in [c.check(s.predicate)] if not ok),
                None,
            )
            if failing is None:
                return (
                    Status.PASSED,
                    f"{prefix}.ok",
                    f"{ptype} statement from {s.source} holds",
                    None,
                    None,
                )
            first_failure = first_failure or failing
        assert first_failure is not None
        constraint, found_value = first_failure
        code = f"{prefix}.constraint_failed"
        if constraint is builtin:
            code = "scan.not_clean" if prefix == "scan" else f"{prefix}.failed"
        message = f"{ptype}: requires {constraint.describe()}"
        return Status.FAILED, code, message, constraint.describe(), found_value

    def _subject_digests(self, subject: str, f: FileFacts | None) -> set[str]:
        out: set[str] = set()
        if subject in ("model", "any"):
            out |= self.model_digests
        if subject in ("file", "any") and f is not None and f.sha256:
            out.add(f.sha256)
        return out

    # -- per rule -------------------------------------------------------------------
    def rules(self) -> None:
        by_path = {f.path: f for f in self.ev.files}
        for rule in self.policy.rules:
            for path, pinned in rule.digests:
                f = by_path.get(path)
                if f is None:
                    self.add(
                        "digests",
                        Status.FAILED,
                        "digest.pin_missing",
                        "pinned file is not in the model",
                        rule=rule,
                        path=path,
                        expected=pinned,
                    )
                elif f.sha256 is None:
                    self.add(
                        "digests",
                        Status.FAILED,
                        "digest.unreadable",
                        f"cannot hash: {f.error}",
                        rule=rule,
                        path=path,
                        incomplete=True,
                    )
                elif f"sha256:{f.sha256}" != pinned:
                    self.add(
                        "digests",
                        Status.FAILED,
                        "digest.pin_mismatch",
                        "content differs from the pinned digest",
                        rule=rule,
                        path=path,
                        expected=pinned,
                        actual=f"sha256:{f.sha256}",
                    )
                else:
                    self.add(
                        "digests",
                        Status.PASSED,
                        "digest.pin_ok",
                        "matches the pinned digest",
                        rule=rule,
                        path=path,
                    )
            if not any(rule.match(f.path) for f in self.ev.files):
                continue  # model-level evidence is asked for only when the rule applies
            if rule.smoke is not None:
                self._statement("smoke", "smoke", rule.smoke, rule, None, SMOKE_PASSING)
            for req in rule.attestations:
                if req.subject == "model":
                    self._statement("attestations", "attestation", req, rule, None)
            if rule.layout is not None:
                outcome = self.ev.layouts.get(rule.name)
                if outcome is None:
                    self.add(
                        "layout",
                        Status.FAILED,
                        "layout.not_run",
                        "the layout was not verified",
                        rule=rule,
                        incomplete=True,
                    )
                else:
                    status = Status.PASSED if outcome.ok else Status.FAILED
                    self.add(
                        "layout",
                        status,
                        outcome.code,
                        outcome.message,
                        rule=rule,
                        incomplete=outcome.incomplete,
                    )


def evaluate(
    policy: Policy,
    evidence: Evidence,
    *,
    now: dt.datetime | None = None,
    mode: str | None = None,
    overrides: Iterable[str] = (),
) -> Decision:
    """Judge `evidence` by `policy`.

    Args:
        now: the time exceptions are checked against (default: now, UTC).
        mode: a mode that replaces every rule's mode (a command-line override the
            caller has already checked against ``allowOverrides``).
        overrides: descriptions of applied command-line overrides, for the report.
    """
    ev = _Evaluator(policy, evidence, now or dt.datetime.now(dt.timezone.utc), mode)
    ev.deny()
    ev.evidence_errors()
    ev.missing_files()
    ev.files()
    ev.rules()
    ev.rollback()
    checks = tuple(ev.checks)
    blocking = [c for c in checks if c.blocking]
    verdict = worst_verdict(
        Verdict.INCOMPLETE if c.incomplete else Verdict.REJECTED for c in blocking
    )
    info = {
        "name": policy.name,
        "path": policy.path,
        "digest": policy.digest,
        "mode": mode or policy.mode,
        "overrides": list(overrides),
    }
    return Decision(verdict, checks, info)
