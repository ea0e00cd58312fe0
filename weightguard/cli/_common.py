"""Shared rendering helpers of the CLI (the exit point itself is `weightguard.cli.run`)."""

from __future__ import annotations

from weightguard.report import Reason, Report, Verdict


def report_json(report: Report) -> str:
    """The report as one JSON document (with a trailing newline)."""
    import json  # only when JSON is asked for: `weightguard scan` text output never needs it

    return json.dumps(report.to_json_dict(), indent=2, sort_keys=False) + "\n"


def render_reason(reason: Reason) -> str:
    """One text line for a reason, with expected/actual digests when present."""
    where = f"{reason.path}: " if reason.path else ""
    line = f"  [{reason.code}] {where}{reason.message}"
    if reason.expected is not None or reason.actual is not None:
        line += f"\n      expected {reason.expected}\n      actual   {reason.actual}"
    return line


def verdict_word(verdict: Verdict) -> str:
    """Upper-case verdict for text output."""
    return verdict.value.upper()
