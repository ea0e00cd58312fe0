"""Per-file checks and per-rule model-level checks of a policy evaluation.

For every file, each matching rule's signatures (threshold by bipartite matching over
distinct bundles), formats, scan and file-level attestations, or the unmatched-file
check; for every rule that applies, digest pins, smoke record, model attestations and
the in-toto layout outcome. Signed statements are judged in one order everywhere:
present, then trusted signer, then about this content, then field constraints.
"""

from __future__ import annotations

from collections.abc import Sequence

from weightguard.policy._base import EvaluatorBase
from weightguard.policy.decision import Status
from weightguard.policy.evidence import FileFacts
from weightguard.policy.schema import EvidenceRequirement, FieldConstraint, Rule
from weightguard.policy.votes import votes
from weightguard.signing.identity import Matcher

SCAN_CLEAN = FieldConstraint("outcome", Matcher.exact("clean"))
SMOKE_PASSING = FieldConstraint("outcome", Matcher.regex("recorded|passed"))


def max_matching(required: Sequence[str], bundles: Sequence[tuple[str, ...]]) -> list[str]:
    """Signers of `required` matched to distinct votes (each vote counts once).

    `bundles` holds, per vote (`weightguard.policy.votes`), the signer names it
    satisfies. A vote that several signer definitions accept must not count as several
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


class FileChecks(EvaluatorBase):
    """The per-file and per-rule checks."""

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
                # Tampering, not a missing signature: no exception waives it.
                self.add(
                    "signatures",
                    Status.FAILED,
                    state,
                    f"{message} ({b.source})",
                    rule=rule,
                    path=f.path,
                    expected=diff.expected if diff else None,
                    actual=diff.actual if diff else None,
                    waivable=False,
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
        # One vote per signing key / certificate identity, however many bundles (copies,
        # malleated twins, re-signings) it made and however many definitions accept it.
        counted = [
            tuple(sorted({s for i in group for s in self.signers_of(covering[i])}))
            for group in votes(covering)
        ]
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
        if not scan.covers(f.format):
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
        outcome, summary = f.scans.get(scan.scanner_key, (None, ""))
        if outcome == "clean":
            self.add(
                "scan", Status.PASSED, "scan.clean", "scanned now: clean", rule=rule, path=f.path
            )
        elif outcome == "unsafe":
            self.add(
                "scan",
                Status.FAILED,
                "scan.unsafe",
                f"scanned now: unsafe: {summary}",
                rule=rule,
                path=f.path,
            )
        elif outcome == "incomplete":
            self.add(
                "scan",
                Status.FAILED,
                "scan.incomplete",
                f"scanned now: incomplete: {summary}",
                rule=rule,
                path=f.path,
                incomplete=True,
            )
        else:
            self.add(
                "scan",
                Status.FAILED,
                "scan.unavailable",
                f"no scan result: {summary or 'the scan did not run'}",
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
        if builtin is SMOKE_PASSING:
            # A failed check record outweighs any passing one: the deploy-time check on
            # these weights failed, whatever the release-time record says.
            failed = next((s for s in about if not builtin.check(s.predicate)[0]), None)
            if failed is not None:
                return (
                    Status.FAILED,
                    "smoke.failed",
                    f"{ptype} statement from {failed.source}: smoke check failed",
                    builtin.describe(),
                    str(failed.predicate.get("outcome")),
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
