"""Check family: rollback floors, taken from the verified signed statements.

`minVersion` compares the signed ``weightguard_version`` of every counted signature (all
must carry the same one) with the floor; `notSignedBefore` compares each counted
signature's signing time (README, "Rollback protection"). Never waived.
"""

from __future__ import annotations

from collections.abc import Iterator

from weightguard.policy.context import Context, record
from weightguard.policy.decision import Check, Status
from weightguard.release import parse_version


def rollback(ctx: Context) -> Iterator[Check]:
    """The ``rollback`` checks of the policy's floors (none without ``rollback:``)."""
    rb = ctx.policy.rollback
    if rb is None:
        return
    if rb.min_version is not None:
        yield from _min_version(ctx, rb.min_version)
    if rb.not_signed_before is not None:
        floor = rb.not_signed_before
        times = [(b, b.signed_at) for b in ctx.counted]
        undated = [b for b, t in times if t is None]
        early = [(b, t) for b, t in times if t is not None and t < floor]
        if not times or undated:
            src = undated[0].source if undated else "no verified signature"
            yield record(
                ctx,
                "rollback",
                Status.FAILED,
                "rollback.no_signing_time",
                f"no signing time to compare with the floor ({src})",
                expected=floor.isoformat(),
            )
        elif early:
            b, t = early[0]
            assert t is not None
            yield record(
                ctx,
                "rollback",
                Status.FAILED,
                "rollback.signed_too_early",
                f"{b.source} was signed before the policy's notSignedBefore",
                expected=f">= {floor.isoformat()}",
                actual=t.isoformat(),
            )
        else:
            yield record(
                ctx,
                "rollback",
                Status.PASSED,
                "rollback.time_ok",
                "every signature is newer than the floor",
            )


def _min_version(ctx: Context, floor_text: str) -> Iterator[Check]:
    floor = parse_version(floor_text)
    assert floor is not None
    versions = {b.version for b in ctx.counted}
    if not ctx.counted or None in versions:
        yield record(
            ctx,
            "rollback",
            Status.FAILED,
            "rollback.no_version",
            "a verified signature carries no signed version",
            expected=f">= {floor_text}",
        )
        return
    if len(versions) > 1:
        yield record(
            ctx,
            "rollback",
            Status.FAILED,
            "rollback.version_conflict",
            "signatures disagree on the version: " + ", ".join(sorted(str(v) for v in versions)),
        )
        return
    text = str(next(iter(versions)))
    version = parse_version(text)
    if version is None:
        yield record(
            ctx,
            "rollback",
            Status.FAILED,
            "rollback.bad_version",
            f"signed version {text!r} is not a version (PEP 440)",
            actual=text,
        )
    elif version < floor:
        yield record(
            ctx,
            "rollback",
            Status.FAILED,
            "rollback.below_floor",
            "signed version is below the policy's minimum",
            expected=f">= {floor_text}",
            actual=text,
        )
    else:
        yield record(
            ctx,
            "rollback",
            Status.PASSED,
            "rollback.version_ok",
            f"signed version {text} >= {floor_text}",
            actual=text,
        )
