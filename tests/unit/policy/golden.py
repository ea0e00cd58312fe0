"""Policy decisions as stable text, for golden records (`test_golden_decisions`, and the
`golden_record` plugin that compares whole test runs).

A gate report becomes a few lines: the verdict, every check in order (status, code,
rule, path, mode, message, expected/actual, exception), and the evidence it was decided
on (files, signatures, attestations). What differs between two honest runs is
normalised away: the test's directories and the checkout's path, times read from the
clock (certificate validity, verification times), and 64-hex values (fresh keys per
session make fresh key ids), numbered by first appearance so that a value moving
between places still shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = str(Path(__file__).resolve().parents[3])
_HEX = re.compile(r"[0-9a-f]{64}")
_TMP = re.compile(r"/tmp/pytest-of-[^/]+/pytest-\d+/")
_CLOCK_KEYS = ("not_before", "not_after", "verified_at")
# A time with a fraction of a second was read from the clock; policies write dates.
_CLOCK = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(\+00:00|Z)?")


def _unclock(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: "<clock>" if k in _CLOCK_KEYS else _unclock(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_unclock(v) for v in doc]
    return doc


def normalise(doc: Any, dirs: Iterable[tuple[str, str]] = ()) -> Any:
    """`doc` (JSON values) with run-specific text replaced; `dirs` maps paths to names."""
    text = json.dumps(_unclock(doc), default=str)
    for path, name in sorted(dirs, key=lambda d: -len(d[0])):
        text = text.replace(path, name)
    text = _CLOCK.sub("<clock>", _TMP.sub("<tmp>/", text.replace(REPO, "<repo>")))
    seen: dict[str, str] = {}
    text = _HEX.sub(lambda m: seen.setdefault(m.group(0), f"<hex{len(seen)}>"), text)
    return json.loads(text)


def _fields(*pairs: tuple[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in pairs if v not in (None, [], {}))


def report_lines(doc: dict[str, Any]) -> list[str]:
    """A `verify --policy` report (JSON form) as lines, in the report's order."""
    out = [_fields(("verdict", doc["verdict"]), ("exit", doc["exit_code"]))]
    policy = doc["policy"]
    out.append(_fields(("mode", policy["mode"]), ("overrides", policy["overrides"])))
    for c in policy["checks"]:
        head = _fields(*((k, c.get(k)) for k in ("status", "check", "code", "rule", "path")))
        tail = _fields(
            *((k, c.get(k)) for k in ("mode", "expected", "actual", "exception", "incomplete"))
        )
        out.append(f"check {head} | {c['message']} | {tail}")
    for f in doc["files"]:
        out.append(
            "file " + _fields(*((k, f.get(k)) for k in ("path", "format", "sha256", "scan")))
        )
    for s in doc["signatures"]:
        refused = [f"{r['signer']}:{r['code']}" for r in s["refused_by"]]
        keys = ("source", "signers", "root_digest", "version", "signed_at", "error")
        out.append("signature " + _fields(*((k, s.get(k)) for k in keys), ("refused", refused)))
    for a in doc["attestations"]:
        keys = ("source", "predicate_type", "signers", "subjects", "error")
        out.append("attestation " + _fields(*((k, a.get(k)) for k in keys)))
    return out
