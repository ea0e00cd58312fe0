"""Text output that attacker-chosen strings cannot forge.

Owns: escaping control and other non-printable characters (newline, CR, ESC, C1
controls, Unicode line separators, bidi overrides, lone surrogates from non-UTF-8 file
names) in every string a text renderer receives. Anyone who can name a file in the
model volume can otherwise print `\\n  ACCEPTED: ...` or repaint the terminal with ANSI
sequences. Escaping the report once, before any renderer sees it, covers every command
and renderer; JSON output keeps the exact names (JSON escapes them itself).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from weightguard.report import Reason, Report

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _code(ch: str) -> str:
    o = ord(ch)
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def escape(text: str) -> str:
    """`text` with every non-printable character written as a backslash escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _NAMED.get(ch) or _code(ch) for ch in text)


def _deep(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Mapping):
        return {_deep(k): _deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_deep(v) for v in value)
    return value


def _reason(r: Reason) -> Reason:
    return dataclasses.replace(
        r,
        message=escape(r.message),
        path=None if r.path is None else escape(r.path),
        expected=None if r.expected is None else escape(r.expected),
        actual=None if r.actual is None else escape(r.actual),
    )


def escaped_report(report: Report) -> Report:
    """A copy of `report` whose strings are all safe to print as text."""
    return dataclasses.replace(
        report,
        reasons=tuple(_reason(r) for r in report.reasons),
        details=_deep(report.details),
    )
