"""The decision values: every check a policy evaluation made, and the verdict.

A `Check` ends passed, failed, skipped or excepted, with a stable reason code, the rule
and the file; a `Decision` holds them all plus the verdict, and turns them into report
reasons (failures first) and the report's ``policy`` object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from weightguard.report import Reason, Verdict


class Status(str, Enum):
    """The outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    EXCEPTED = "excepted"


@dataclass(frozen=True)
class Check:
    """One evaluated check.

    Attributes:
        check: the check family (``deny``, ``evidence``, ``signatures``, ``unsigned``,
            ``formats``, ``digests``, ``scan``, ``smoke``, ``attestations``,
            ``layout``, ``unmatched``, ``rollback``, ``model``).
        status: passed, failed, skipped or excepted.
        code: stable reason code.
        message: one human line.
        mode: the mode the check ran under (enforce, warn, audit).
        rule / path: the rule and the model-relative file, when it has them.
        incomplete: failed because something could not be checked.
        exception: for excepted checks, the exception's reason and expiry.
    """

    check: str
    status: Status
    code: str
    message: str
    mode: str
    rule: str | None = None
    path: str | None = None
    expected: str | None = None
    actual: str | None = None
    incomplete: bool = False
    exception: str | None = None

    @property
    def blocking(self) -> bool:
        """A failure that decides the verdict."""
        return self.status is Status.FAILED and (self.mode == "enforce" or self.incomplete)

    def to_reason(self) -> Reason | None:
        """The report reason for this check (None for passed and routine skips)."""
        if self.status is Status.PASSED:
            return None
        if self.status is Status.SKIPPED and self.code.endswith(".not_required"):
            return None
        if self.blocking:
            severity = "error"
        elif self.status is Status.FAILED and self.mode == "warn":
            severity = "warning"
        else:
            severity = "info"
        message = self.message
        if self.status is Status.EXCEPTED:
            message = f"{message} (excepted: {self.exception})"
        if self.rule:
            message = f"rule {self.rule}: {message}"
        return Reason(self.code, message, self.path, self.expected, self.actual, severity)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for the report's ``policy.checks`` list."""
        out: dict[str, Any] = {
            "check": self.check,
            "status": self.status.value,
            "code": self.code,
            "rule": self.rule,
            "path": self.path,
            "mode": self.mode,
            "message": self.message,
        }
        for key in ("expected", "actual", "exception"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.incomplete:
            out["incomplete"] = True
        return out


@dataclass(frozen=True)
class Decision:
    """The verdict of a policy over a model, with every check that led to it."""

    verdict: Verdict
    checks: tuple[Check, ...]
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Report reasons: failures first (blocking ones first), then exceptions and notes."""
        pairs = [(c, c.to_reason()) for c in self.checks]
        found = [(c, r) for c, r in pairs if r is not None]
        order = {"error": 0, "warning": 1, "info": 2}
        found.sort(key=lambda cr: order[cr[1].severity])
        return tuple(r for _, r in found)

    def count(self, status: Status) -> int:
        """How many checks ended with `status`."""
        return sum(1 for c in self.checks if c.status is status)

    def to_json_dict(self) -> dict[str, Any]:
        """The report's ``policy`` object."""
        return {
            **self.policy,
            "summary": {s.value: self.count(s) for s in Status},
            "checks": [c.to_json_dict() for c in self.checks],
        }
