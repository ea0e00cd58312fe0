"""Report values shared by every command: verdicts, reasons, and the JSON document shape.

Every command's `--format json` output is one document built by `Report.to_json_dict`:
`schema`, `tool`, `command`, `verdict` (accepted|rejected|incomplete|error), `exit_code`,
`reasons` (each with a stable `code`, `path`, `message`), plus command-specific fields.
Library code builds these values; only the CLI renders them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from weightguard.errors import ExitCode, WeightguardError

REPORT_SCHEMA = "https://weightguard.dev/report/v1"


class Verdict(str, Enum):
    """The outcome of a command, one-to-one with exit codes 0, 1, 3 and 4."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    INCOMPLETE = "incomplete"
    ERROR = "error"

    @property
    def exit_code(self) -> ExitCode:
        """The process exit code for this verdict."""
        return _EXIT[self]


_EXIT = {
    Verdict.ACCEPTED: ExitCode.OK,
    Verdict.REJECTED: ExitCode.REJECTED,
    Verdict.INCOMPLETE: ExitCode.INCOMPLETE,
    Verdict.ERROR: ExitCode.INTERNAL,
}


@dataclass(frozen=True)
class Reason:
    """One explained finding: why something passed, failed, or could not be checked.

    Attributes:
        code: stable dotted reason code, e.g. ``file.digest_mismatch``.
        message: one human line.
        path: the model-relative file (or other input) the reason is about.
        expected / actual: digests or values, when the reason compares two.
        severity: ``error`` (decides the verdict), ``warning`` or ``info`` (explains only).
    """

    code: str
    message: str
    path: str | None = None
    expected: str | None = None
    actual: str | None = None
    severity: str = "error"

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form; optional fields are omitted when unset."""
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
        }
        if self.expected is not None:
            out["expected"] = self.expected
        if self.actual is not None:
            out["actual"] = self.actual
        return out


def reason_from_error(err: WeightguardError) -> Reason:
    """The Reason a caught weightguard error becomes in a report."""
    return Reason(code=err.code, message=" ".join(err.message.split()), path=err.path)


def verdict_for_error(err: WeightguardError) -> Verdict:
    """Map an error's exit code to a verdict (usage errors never become a verdict)."""
    if err.exit_code == ExitCode.REJECTED:
        return Verdict.REJECTED
    if err.exit_code == ExitCode.INCOMPLETE:
        return Verdict.INCOMPLETE
    return Verdict.ERROR


@dataclass(frozen=True)
class Report:
    """A command's result, ready to render as text or JSON.

    Attributes:
        command: the command name (``verify``, ``scan``, ...).
        verdict: the overall outcome.
        reasons: every reason, failing ones first is not required; renderers sort.
        details: command-specific JSON-ready fields (model, signer, files...).
        exit_status: the exit code when it is not the verdict's own: a usage or
            configuration error (2) and an interrupt (130) have verdict ``error`` too.
    """

    command: str
    verdict: Verdict
    reasons: tuple[Reason, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    exit_status: int | None = None

    @property
    def exit_code(self) -> int:
        """The process exit code: `exit_status` when set, else the verdict's."""
        return self.exit_status if self.exit_status is not None else int(self.verdict.exit_code)

    def to_json_dict(self) -> dict[str, Any]:
        """The versioned JSON document for this report."""
        from weightguard import __version__

        out: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "tool": {"name": "weightguard", "version": __version__},
            "command": self.command,
            "verdict": self.verdict.value,
            "exit_code": int(self.exit_code),
        }
        out.update(self.details)
        out["reasons"] = [r.to_json_dict() for r in self.reasons]
        return out


def worst_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """Combine verdicts: error > rejected > incomplete > accepted (fail closed).

    A definite rejection outranks "could not check" because it is the more useful answer;
    both fail the gate.
    """
    order = [Verdict.ACCEPTED, Verdict.INCOMPLETE, Verdict.REJECTED, Verdict.ERROR]
    worst = Verdict.ACCEPTED
    for v in verdicts:
        if order.index(v) > order.index(worst):
            worst = v
    return worst
