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

Each family is a function from a frozen `Context` to its checks, in its own module:
`checks_deny`, `checks_evidence` (expired exceptions, evidence errors, missing files),
`checks_files`, `checks_rules`, `checks_rollback`; `evaluate` folds them in `FAMILIES`
order and computes the verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from itertools import chain

from weightguard.policy.checks_deny import deny
from weightguard.policy.checks_evidence import evidence_errors, expired_exceptions, missing_files
from weightguard.policy.checks_files import files, max_matching
from weightguard.policy.checks_rollback import rollback
from weightguard.policy.checks_rules import rules
from weightguard.policy.context import Context
from weightguard.policy.decision import Check, Decision, Status
from weightguard.policy.evidence import Evidence
from weightguard.policy.overrides import Overrides, check_overrides
from weightguard.policy.values import Policy
from weightguard.report import Verdict, worst_verdict

__all__ = ["FAMILIES", "Check", "Decision", "Status", "evaluate", "max_matching"]

# The check families, in the documented order (README, "Policy files").
FAMILIES: tuple[Callable[[Context], Iterable[Check]], ...] = (
    deny,
    expired_exceptions,
    evidence_errors,
    missing_files,
    files,
    rules,
    rollback,
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
        mode: a mode that replaces every rule's mode (``--mode``); one weaker than any
            rule's is refused unless the policy allows overrides (checked here too, so a
            library caller cannot skip the check `run_gate` makes).
        overrides: descriptions of applied command-line overrides, for the report.

    Raises:
        UsageError: `mode` loosens a policy without ``allowOverrides``
            (``policy.override_refused``).
    """
    if mode is not None:
        check_overrides(policy, Overrides(mode=mode))
    ctx = Context.of(policy, evidence, now or dt.datetime.now(dt.timezone.utc), mode)
    checks = tuple(chain.from_iterable(family(ctx) for family in FAMILIES))
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
