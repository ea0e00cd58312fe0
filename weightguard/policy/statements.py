"""Judging signed statements (scan, smoke, SLSA...) against an evidence requirement.

Shared by the per-file and per-rule families. A statement is judged in one order
everywhere: present, then signed by a trusted signer, then about this content (the
file's sha256 or the model's root digest), then its field constraints; a failed smoke
record outweighs any passing one.
"""

from __future__ import annotations

from weightguard.policy.context import Context, record
from weightguard.policy.decision import Check, Status
from weightguard.policy.evidence import FileFacts
from weightguard.policy.values import EvidenceRequirement, FieldConstraint, Rule
from weightguard.signing.identity import Matcher

SCAN_CLEAN = FieldConstraint("outcome", Matcher.exact("clean"))
SMOKE_PASSING = FieldConstraint("outcome", Matcher.regex("recorded|passed"))


def statement_check(
    ctx: Context,
    check: str,
    prefix: str,
    req: EvidenceRequirement,
    rule: Rule,
    f: FileFacts | None,
    builtin: FieldConstraint | None = None,
) -> Check:
    """The check a statement requirement ends in (``attestations`` name theirs)."""
    status, code, message, exp, act = find_statement(ctx, prefix, req, f, builtin)
    return record(
        ctx,
        check,
        status,
        code,
        f"{req.name}: {message}" if check == "attestations" else message,
        rule=rule,
        path=f.path if f else None,
        expected=exp,
        actual=act,
    )


def find_statement(
    ctx: Context,
    prefix: str,
    req: EvidenceRequirement,
    f: FileFacts | None,
    builtin: FieldConstraint | None,
) -> tuple[Status, str, str, str | None, str | None]:
    """(status, code, message, expected, actual) of the first statement satisfying `req`
    for file `f` (None: the model), or of why none does; codes are `prefix`.*."""
    ptype = req.predicate_type
    found = [s for s in ctx.evidence.statements if s.error is None and s.predicate_type == ptype]
    if not found:
        return Status.FAILED, f"{prefix}.missing", f"no {ptype} statement found", None, None
    trusted = [s for s in found if ctx.signers_of(s) & set(req.signers)]
    if not trusted:
        who = sorted({i.identity for s in found for i in s.infos}) or ["no trusted signer"]
        return (
            Status.FAILED,
            f"{prefix}.untrusted",
            f"{len(found)} {ptype} statement(s), none signed by {', '.join(req.signers)}",
            ", ".join(req.signers),
            ", ".join(who),
        )
    wanted = _subject_digests(ctx, req.subject, f)
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


def _subject_digests(ctx: Context, subject: str, f: FileFacts | None) -> set[str]:
    out: set[str] = set()
    if subject in ("model", "any"):
        out |= ctx.model_digests
    if subject in ("file", "any") and f is not None and f.sha256:
        out.add(f.sha256)
    return out
