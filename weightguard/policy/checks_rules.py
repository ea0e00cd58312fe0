"""Check family: per rule, the model-level checks.

For every rule: its digest pins (always); and, only when the rule applies to some model
file, its smoke record, its model-level attestations and its in-toto layout outcome.
"""

from __future__ import annotations

from collections.abc import Iterator

from weightguard.policy.context import Context, record
from weightguard.policy.decision import Check, Status
from weightguard.policy.statements import SMOKE_PASSING, statement_check


def rules(ctx: Context) -> Iterator[Check]:
    """Every rule's digest pins; and, when the rule applies, smoke, model attestations
    and the in-toto layout."""
    by_path = {f.path: f for f in ctx.evidence.files}
    for rule in ctx.policy.rules:
        for path, pinned in rule.digests:
            f = by_path.get(path)
            if f is None:
                yield record(
                    ctx,
                    "digests",
                    Status.FAILED,
                    "digest.pin_missing",
                    "pinned file is not in the model",
                    rule=rule,
                    path=path,
                    expected=pinned,
                )
            elif f.sha256 is None:
                yield record(
                    ctx,
                    "digests",
                    Status.FAILED,
                    "digest.unreadable",
                    f"cannot hash: {f.error}",
                    rule=rule,
                    path=path,
                    incomplete=True,
                )
            elif f"sha256:{f.sha256}" != pinned:
                yield record(
                    ctx,
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
                yield record(
                    ctx,
                    "digests",
                    Status.PASSED,
                    "digest.pin_ok",
                    "matches the pinned digest",
                    rule=rule,
                    path=path,
                )
        if not any(rule.match(f.path) for f in ctx.evidence.files):
            continue  # model-level evidence is asked for only when the rule applies
        if rule.smoke is not None:
            yield statement_check(ctx, "smoke", "smoke", rule.smoke, rule, None, SMOKE_PASSING)
        for req in rule.attestations:
            if req.subject == "model":
                yield statement_check(ctx, "attestations", "attestation", req, rule, None)
        if rule.layout is not None:
            outcome = ctx.evidence.layouts.get(rule.name)
            if outcome is None:
                yield record(
                    ctx,
                    "layout",
                    Status.FAILED,
                    "layout.not_run",
                    "the layout was not verified",
                    rule=rule,
                    incomplete=True,
                )
            else:
                status = Status.PASSED if outcome.ok else Status.FAILED
                yield record(
                    ctx,
                    "layout",
                    status,
                    outcome.code,
                    outcome.message,
                    rule=rule,
                    incomplete=outcome.incomplete,
                )
