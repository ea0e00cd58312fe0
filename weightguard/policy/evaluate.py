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
from collections.abc import Iterable

from weightguard.policy._filechecks import FileChecks, max_matching
from weightguard.policy.decision import Check, Decision, Status
from weightguard.policy.evidence import BundleFacts, Evidence, StatementFacts
from weightguard.policy.schema import Policy, parse_version
from weightguard.report import Verdict, worst_verdict

__all__ = ["Check", "Decision", "Status", "evaluate", "max_matching"]


class _Evaluator(FileChecks):
    """Model-level checks: deny lists, evidence errors, missing files, rollback."""

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
        if item.key_hint and f"sha256:{item.key_hint.lower()}" in deny.key_ids:
            return f"key sha256:{item.key_hint}"
        # The verified signing key, bare or inside a certificate: a leaked key is revoked
        # by its key id however it is wrapped.
        revoked_key = next((k for k in item.signing_keys if k in deny.key_ids), None)
        if revoked_key:
            return f"key {revoked_key}"
        for info in item.infos:
            if info.kind == "key" and info.identity in deny.key_ids:
                return f"key {info.identity}"
            names = [info.identity, *[str(s) for s in info.details.get("san", ())]]
            # Deny matchers are lowercase (or case-insensitive regexes): see _spec.deny_identity.
            names = [n.lower() for n in names]
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
                        waivable=False,
                    )
                else:
                    self.add(
                        "evidence",
                        Status.SKIPPED,
                        "bundle.unverified",
                        f"{b.source}: no policy signer verifies it ({detail})",
                    )
        if not self.ev.files and not self.ev.errors:
            # An unpopulated volume is "could not check": warn/audit never soften it.
            self.add(
                "model",
                Status.FAILED,
                "model.empty",
                "the model has no files to check (an unpopulated volume?)",
                mode="enforce",
            )

    def expired_exceptions(self) -> None:
        """An expired exception stops waiving (its checks are enforced again); it is
        reported as a warning, never a policy error that would stop every deployment."""
        for exc in self.policy.exceptions:
            if exc.expires <= self.now:
                self.add(
                    "exceptions",
                    Status.FAILED,
                    "exception.expired",
                    f"exception {exc.index} ({exc.reason}) expired on "
                    f"{(exc.expires - dt.timedelta(microseconds=1)).date().isoformat()}; "
                    "it no longer waives anything: renew or remove it",
                    mode="warn",
                )

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
                        waivable=False,  # removing signed content is tampering
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
                f"signed version {text!r} is not a version (PEP 440)",
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
    ev.expired_exceptions()
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
