"""What every check family of an evaluation reads, and the one way a check is made.

Owns: `Context`, the frozen inputs of one evaluation (policy, evidence, the time,
a command-line mode) with the indexes derived from them once, and `record`, which turns
an outcome into a `Check`: it applies the rule's mode (or the override) and, for a
failure an active exception covers, the exception. Nothing here decides anything by
itself; the families (`checks_*`) decide and `weightguard.policy.evaluate` folds them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from weightguard.policy.decision import Check, Status
from weightguard.policy.evidence import BundleFacts, Evidence, StatementFacts
from weightguard.policy.values import Policy, Rule


@dataclass(frozen=True)
class Context:
    """One evaluation's inputs.

    Attributes:
        mode_override: a mode that replaces every rule's (a checked command-line flag).
        revoked: the deny list's signer names.
        verified: bundles some policy signer verified.
        counted: verified bundles with a signer that is not revoked.
        model_digests: "the model" evidence must be about: the root digest of the whole
            inventory the gate admits, never a bundle's root over some of its files
            (threat model, class 1).
    """

    policy: Policy
    evidence: Evidence
    now: dt.datetime
    mode_override: str | None
    revoked: frozenset[str]
    verified: tuple[BundleFacts, ...]
    counted: tuple[BundleFacts, ...]
    model_digests: frozenset[str]

    @classmethod
    def of(cls, policy: Policy, evidence: Evidence, now: dt.datetime, mode: str | None) -> Context:
        """The context with its derived indexes."""
        revoked = frozenset(policy.deny.signers)
        verified = tuple(b for b in evidence.bundles if b.verified)
        counted = tuple(b for b in verified if set(b.signers) - revoked)
        digests = frozenset({evidence.model_digest} if evidence.model_digest else ())
        return cls(policy, evidence, now, mode, revoked, verified, counted, digests)

    def mode_of(self, rule: Rule | None) -> str:
        """The mode a check of `rule` runs under."""
        if self.mode_override is not None:
            return self.mode_override
        return rule.mode if rule is not None and rule.mode else self.policy.mode

    def signers_of(self, b: BundleFacts | StatementFacts) -> set[str]:
        """The policy signers that verified `b`, less revoked ones."""
        return set(b.signers) - self.revoked

    def exception_for(self, check: str, rule: Rule | None, path: str | None) -> str | None:
        """The first active exception waiving `check` of `rule` for `path`, described."""
        for exc in self.policy.exceptions:
            if exc.expires > self.now and exc.covers(check, rule.name if rule else None, path):
                return f"{exc.reason}; until {exc.expires.date().isoformat()}"
        return None


def record(
    ctx: Context,
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
) -> Check:
    """The check as the policy records it: under `mode` (default: the rule's), and
    ``excepted`` when it failed and an active exception covers it, unless it could not
    be checked (`incomplete`) or is not `waivable` (content contradicting a trusted
    signature)."""
    exception = None
    if status is Status.FAILED and not incomplete and waivable:
        exception = ctx.exception_for(check, rule, path)
        if exception is not None:
            status = Status.EXCEPTED
    return Check(
        check,
        status,
        code,
        message,
        mode or ctx.mode_of(rule),
        rule.name if rule else None,
        path,
        expected,
        actual,
        incomplete,
        exception,
    )
