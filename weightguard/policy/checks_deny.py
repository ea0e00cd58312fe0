"""Check family: deny lists, checked before anything else and never waived.

A signer the policy revokes (by name, key id or certificate identity, however the key
is wrapped), a revoked root digest (of a verified signature or of the model on disk)
or revoked file content fails the ``deny`` check under ``enforce``; files that could not
be hashed leave revoked digests unruled-out (incomplete).
"""

from __future__ import annotations

from collections.abc import Iterator

from weightguard.policy.context import Context, record
from weightguard.policy.decision import Check, Status
from weightguard.policy.evidence import BundleFacts, StatementFacts


def deny(ctx: Context) -> Iterator[Check]:
    """The ``deny`` checks: one failure per revocation hit, else one pass (``enforce``)."""
    deny = ctx.policy.deny
    hits = 0
    signed: list[BundleFacts | StatementFacts] = [*ctx.evidence.bundles, *ctx.evidence.statements]
    for item in signed:
        who = _denied_signer(ctx, item)
        if who:
            hits += 1
            yield record(
                ctx,
                "deny",
                Status.FAILED,
                "deny.signer",
                f"{item.source} is signed by revoked signer {who}",
                mode="enforce",
                path=None,
            )
    for b in ctx.verified:
        if b.root_digest and f"sha256:{b.root_digest}" in deny.digests:
            hits += 1
            yield record(
                ctx,
                "deny",
                Status.FAILED,
                "deny.digest",
                "the signed model's root digest is revoked",
                mode="enforce",
                actual=f"sha256:{b.root_digest}",
            )
    if ctx.evidence.model_digest and f"sha256:{ctx.evidence.model_digest}" in deny.digests:
        hits += 1
        yield record(
            ctx,
            "deny",
            Status.FAILED,
            "deny.digest",
            "the model's root digest is revoked",
            mode="enforce",
            actual=f"sha256:{ctx.evidence.model_digest}",
        )
    for f in ctx.evidence.files:
        if f.sha256 and f"sha256:{f.sha256}" in deny.digests:
            hits += 1
            yield record(
                ctx,
                "deny",
                Status.FAILED,
                "deny.digest",
                "file content is revoked",
                path=f.path,
                mode="enforce",
                actual=f"sha256:{f.sha256}",
            )
    if deny.digests and any(f.sha256 is None for f in ctx.evidence.files):
        hits += 1
        yield record(
            ctx,
            "deny",
            Status.FAILED,
            "deny.unchecked",
            "some files could not be hashed, so revoked digests cannot be ruled out",
            mode="enforce",
            incomplete=True,
        )
    if not hits:
        yield record(
            ctx, "deny", Status.PASSED, "deny.clear", "no revoked signer or digest", mode="enforce"
        )


def _denied_signer(ctx: Context, item: BundleFacts | StatementFacts) -> str | None:
    deny = ctx.policy.deny
    named = sorted(set(item.signers) & ctx.revoked)
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
