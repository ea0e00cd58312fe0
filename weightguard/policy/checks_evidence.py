"""Check families about the evidence as a whole: expired exceptions, evidence that could
not be read or verified, and signed files missing from the model.

What the gate could not look at is never softened by warn/audit (``enforce``); an
expired exception is a warning, never a policy error that would stop every deployment;
removing signed content is tampering, which no exception waives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from weightguard.policy.context import Context, record
from weightguard.policy.decision import Check, Status
from weightguard.policy.evidence import BundleFacts, StatementFacts


def expired_exceptions(ctx: Context) -> Iterator[Check]:
    """An expired exception stops waiving (its checks are enforced again); it is
    reported as a warning, never a policy error that would stop every deployment."""
    for exc in ctx.policy.exceptions:
        if exc.expires <= ctx.now:
            yield record(
                ctx,
                "exceptions",
                Status.FAILED,
                "exception.expired",
                f"exception {exc.index} ({exc.reason}) expired on "
                f"{(exc.expires - dt.timedelta(microseconds=1)).date().isoformat()}; "
                "it no longer waives anything: renew or remove it",
                mode="warn",
            )


def evidence_errors(ctx: Context) -> Iterator[Check]:
    """What stopped the gate from looking, evidence that could not be read, bundles no
    policy signer verifies (a tampered signature fails ``signatures``), an empty model."""
    for problem in ctx.evidence.errors:
        # The gate could not look at the model: never softened by warn/audit.
        r = problem.reason
        yield record(
            ctx,
            "model",
            Status.FAILED,
            r.code,
            r.message,
            path=r.path,
            mode="enforce",
            incomplete=problem.incomplete,
        )
    signed: list[BundleFacts | StatementFacts] = [*ctx.evidence.bundles, *ctx.evidence.statements]
    for item in signed:
        if item.error is not None:
            r = item.error.reason
            yield record(
                ctx,
                "evidence",
                Status.FAILED,
                r.code,
                f"{item.source}: {r.message}",
                path=r.path,
                incomplete=item.error.incomplete,
            )
    for b in ctx.evidence.bundles:
        if b.error is None and not b.signers:
            tampered = [n for n, code in b.refusals if code == "signature.invalid"]
            detail = "; ".join(f"{n}: {c}" for n, c in b.refusals) or "no signers defined"
            if tampered:
                yield record(
                    ctx,
                    "signatures",
                    Status.FAILED,
                    "signature.invalid",
                    f"{b.source}: the signature does not verify with the key it names "
                    f"({tampered[0]})",
                    waivable=False,
                )
            else:
                yield record(
                    ctx,
                    "evidence",
                    Status.SKIPPED,
                    "bundle.unverified",
                    f"{b.source}: no policy signer verifies it ({detail})",
                )
    if not ctx.evidence.files and not ctx.evidence.errors:
        # An unpopulated volume is "could not check": warn/audit never soften it.
        yield record(
            ctx,
            "model",
            Status.FAILED,
            "model.empty",
            "the model has no files to check (an unpopulated volume?)",
            mode="enforce",
        )


def missing_files(ctx: Context) -> Iterator[Check]:
    """A file a verified signature lists that is not in the model, once per path."""
    present = {f.path for f in ctx.evidence.files}
    reported: set[str] = set()
    for b in ctx.verified:
        for path, state in sorted(b.files.items()):
            if state == "file.missing" and path not in present and path not in reported:
                reported.add(path)
                rule = next((r for r in ctx.policy.rules if r.match(path)), None)
                yield record(
                    ctx,
                    "signatures",
                    Status.FAILED,
                    "file.missing",
                    f"signed file is missing from the model ({b.source})",
                    rule=rule,
                    path=path,
                    waivable=False,  # removing signed content is tampering
                )
