"""Check family: per file, each matching rule's checks, or the unmatched-file check.

For every model file: with no matching rule, ``unmatched`` (by `unmatchedFiles`);
otherwise, for each matching rule, signatures (a threshold counts distinct votes by
bipartite matching), unsigned files, formats, scan (a trusted clean scan statement, or
the local scan) and the rule's file-level attestations.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from weightguard.policy.context import Context, record
from weightguard.policy.decision import Check, Status
from weightguard.policy.evidence import FileFacts
from weightguard.policy.statements import SCAN_CLEAN, find_statement, statement_check
from weightguard.policy.values import Rule
from weightguard.policy.votes import votes


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


def files(ctx: Context) -> Iterator[Check]:
    """Every file: the unmatched-file check, or each matching rule's file checks."""
    for f in ctx.evidence.files:
        matched = [r for r in ctx.policy.rules if r.match(f.path)]
        if not matched:
            yield from _unmatched(ctx, f)
        for rule in matched:
            yield from _signatures(ctx, rule, f)
            yield from _formats(ctx, rule, f)
            if rule.scan is not None:
                yield from _scan(ctx, rule, f)
            for req in rule.attestations:
                if req.subject != "model":
                    yield statement_check(ctx, "attestations", "attestation", req, rule, f)


def _unmatched(ctx: Context, f: FileFacts) -> Iterator[Check]:
    setting = ctx.policy.unmatched_files
    message = "no rule matches this file"
    if setting == "allow":
        yield record(
            ctx,
            "unmatched",
            Status.SKIPPED,
            "file.unmatched_allowed",
            message + " (unmatchedFiles: allow)",
            path=f.path,
        )
    else:
        mode = ctx.mode_override or ("warn" if setting == "warn" else ctx.policy.mode)
        yield record(
            ctx, "unmatched", Status.FAILED, "file.unmatched", message, path=f.path, mode=mode
        )


def _signatures(ctx: Context, rule: Rule, f: FileFacts) -> Iterator[Check]:
    covering = [b for b in ctx.verified if f.path in b.files]
    for b in covering:
        state = b.files[f.path]
        if state != "ok":
            diff = next((d for d in b.differences if d.path == f.path), None)
            message = diff.message if diff else "content differs from the signed manifest"
            # Tampering, not a missing signature: no exception waives it.
            yield record(
                ctx,
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
        yield record(
            ctx,
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
        tuple(sorted({s for i in group for s in ctx.signers_of(covering[i])}))
        for group in votes(covering)
    ]
    counted = [c for c in counted if c]
    if not counted:
        yield from _unsigned(ctx, rule, f, revoked=bool(covering))
        return
    matched = max_matching(req.signers, counted)
    have = sorted({s for c in counted for s in c})
    if len(matched) >= req.threshold:
        yield record(
            ctx,
            "signatures",
            Status.PASSED,
            "signature.ok",
            f"signed by {', '.join(matched)} ({req.describe()})",
            rule=rule,
            path=f.path,
        )
    elif not matched:
        yield record(
            ctx,
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
        yield record(
            ctx,
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


def _unsigned(ctx: Context, rule: Rule, f: FileFacts, *, revoked: bool) -> Iterator[Check]:
    if revoked:
        yield record(
            ctx,
            "signatures",
            Status.FAILED,
            "signature.revoked",
            "only revoked signers signed this file",
            rule=rule,
            path=f.path,
        )
    elif rule.unsigned_files == "allow":
        yield record(
            ctx,
            "unsigned",
            Status.SKIPPED,
            "file.unsigned_tolerated",
            "not in any verified signature (unsignedFiles: allow)",
            rule=rule,
            path=f.path,
        )
    elif not ctx.evidence.bundles:
        yield record(
            ctx,
            "signatures",
            Status.FAILED,
            "signature.missing",
            "no signature found (the model is unsigned)",
            rule=rule,
            path=f.path,
        )
    elif not ctx.verified:
        yield record(
            ctx,
            "signatures",
            Status.FAILED,
            "signature.untrusted",
            "no signature is from a signer this policy trusts",
            rule=rule,
            path=f.path,
        )
    else:
        yield record(
            ctx,
            "unsigned",
            Status.FAILED,
            "file.unsigned",
            "file is not in any verified signature's manifest",
            rule=rule,
            path=f.path,
        )


def _formats(ctx: Context, rule: Rule, f: FileFacts) -> Iterator[Check]:
    if rule.formats_allow is None and not rule.formats_deny:
        return
    if f.format is None:
        yield record(
            ctx,
            "formats",
            Status.FAILED,
            "format.unreadable",
            f"cannot detect the format: {f.error}",
            rule=rule,
            path=f.path,
            incomplete=True,
        )
    elif f.format in rule.formats_deny:
        yield record(
            ctx,
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
        yield record(
            ctx,
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
        yield record(
            ctx,
            "formats",
            Status.PASSED,
            "format.ok",
            f"format {f.format}",
            rule=rule,
            path=f.path,
            actual=f.format,
        )


def _scan(ctx: Context, rule: Rule, f: FileFacts) -> Iterator[Check]:
    scan = rule.scan
    assert scan is not None
    if not scan.covers(f.format):
        yield record(
            ctx,
            "scan",
            Status.SKIPPED,
            "scan.not_required",
            f"format {f.format} is not scanned by this rule",
            rule=rule,
            path=f.path,
        )
        return
    if scan.attestation is not None:
        status, code, message, exp, act = find_statement(
            ctx, "scan", scan.attestation, f, SCAN_CLEAN
        )
        if status is Status.PASSED or scan.source == "attestation":
            yield record(
                ctx, "scan", status, code, message, rule=rule, path=f.path, expected=exp, actual=act
            )
            return
    outcome, summary = f.scans.get(scan.scanner_key, (None, ""))
    if outcome == "clean":
        yield record(
            ctx, "scan", Status.PASSED, "scan.clean", "scanned now: clean", rule=rule, path=f.path
        )
    elif outcome == "unsafe":
        yield record(
            ctx,
            "scan",
            Status.FAILED,
            "scan.unsafe",
            f"scanned now: unsafe: {summary}",
            rule=rule,
            path=f.path,
        )
    elif outcome == "incomplete":
        yield record(
            ctx,
            "scan",
            Status.FAILED,
            "scan.incomplete",
            f"scanned now: incomplete: {summary}",
            rule=rule,
            path=f.path,
            incomplete=True,
        )
    else:
        yield record(
            ctx,
            "scan",
            Status.FAILED,
            "scan.unavailable",
            f"no scan result: {summary or 'the scan did not run'}",
            rule=rule,
            path=f.path,
            incomplete=True,
        )
