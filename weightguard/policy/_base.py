"""The evaluator's plumbing: modes, exceptions, and how a check is recorded.

Shared by the per-file checks (`weightguard.policy._filechecks`) and the model-level
ones (`weightguard.policy.evaluate`); nothing here decides anything by itself.
"""

from __future__ import annotations

import datetime as dt

from weightguard.policy.decision import Check, Status
from weightguard.policy.evidence import BundleFacts, Evidence, StatementFacts
from weightguard.policy.schema import Policy, Rule


class EvaluatorBase:
    """State of one evaluation and the one way checks are added."""

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
        # "The model" that evidence must be about is the whole inventory the gate admits,
        # never a bundle's root over some of its files (threat model, class 1).
        self.model_digests = {ev.model_digest} if ev.model_digest else set()

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
        waivable: bool = True,
    ) -> None:
        """Record a check; a failure an active exception covers ends ``excepted``, unless
        it is not `waivable` (content contradicting a trusted signature)."""
        exception = None
        if status is Status.FAILED and not incomplete and waivable:
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
