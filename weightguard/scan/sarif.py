"""SARIF 2.1.0 rendering of a scan (OASIS SARIF v2.1.0, the subset GitHub code scanning reads).

One run, one rule per rule id that occurs, one result per finding. Locations point at the
scanned file (relative to the working directory when possible, as GitHub expects
repository-relative URIs) with a binary region at the finding's byte offset; container
members are named in the message and in ``properties``. Severity maps to SARIF ``level``
and GitHub's ``security-severity`` property.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from weightguard.scan.model import Finding, Outcome, ScanResult, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SCORE = {
    Severity.CRITICAL: "9.8",
    Severity.HIGH: "8.1",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.1",
    Severity.INFO: "0.0",
}
_RULE_TEXT = {
    "global.denied": "A known code-execution primitive is imported or called",
    "global.user_class": "A class outside the allowlist would be instantiated",
    "global.not_allowed": "A global outside the allowlist is imported",
    "global.role": "An allowlisted global is used in a role it is not allowed in",
    "global.condition": "An allowlisted global is used with disallowed arguments or state",
    "call.dynamic": "A computed value is called",
    "call.nested_loader": "A nested deserialiser is called",
    "torchscript.code": "TorchScript archive (code-bearing)",
    "format.unknown": "Unknown file format",
}


def _uri(path: str) -> tuple[str, str | None]:
    absolute = Path(path).resolve()
    try:
        rel = absolute.relative_to(Path(os.getcwd()).resolve())
    except ValueError:
        return absolute.as_uri(), None
    return quote(rel.as_posix()), "%SRCROOT%"


def _rule(rule_id: str, findings: list[Finding]) -> dict[str, Any]:
    worst = min((f.severity for f in findings), key=list(Severity).index)
    text = _RULE_TEXT.get(rule_id) or rule_id.replace(".", ": ").replace("_", " ")
    return {
        "id": rule_id,
        "name": "".join(p.capitalize() for p in rule_id.replace("_", ".").split(".")),
        "shortDescription": {"text": text},
        "fullDescription": {"text": f"{text} (weightguard rule {rule_id})."},
        "help": {"text": "See docs/scanning.md for what the rule means and how to fix it."},
        "defaultConfiguration": {"level": _LEVEL[worst]},
        "properties": {
            "tags": ["security", "supply-chain", "pickle"],
            "security-severity": _SCORE[worst],
        },
    }


def _result(f: Finding, index: int) -> dict[str, Any]:
    uri, base = _uri(f.file)
    artifact: dict[str, Any] = {"uri": uri}
    if base:
        artifact["uriBaseId"] = base
    region: dict[str, Any] = {"startLine": 1}
    if f.offset is not None and f.member is None:
        region["byteOffset"] = f.offset
        region["byteLength"] = 1
    where = f" [member {f.member}]" if f.member else ""
    at = f" at offset {f.offset}" if f.offset is not None else ""
    text = f"{f.message}{where}{at}."
    if f.hint:
        text += f" Fix: {f.hint}."
    key = "|".join(str(x) for x in (f.rule, f.file, f.member, f.global_name, f.offset))
    props = {k: v for k, v in f.to_json_dict().items() if k not in ("message", "file")}
    return {
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": "warning" if f.outcome is Outcome.INCOMPLETE else _LEVEL[f.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": {"artifactLocation": artifact, "region": region}}],
        "partialFingerprints": {"weightguardFinding/v1": hashlib.sha256(key.encode()).hexdigest()},
        "properties": props,
    }


def to_sarif(result: ScanResult, *, version: str) -> dict[str, Any]:
    """The SARIF log for a scan."""
    findings = list(result.findings)
    rule_ids = sorted({f.rule for f in findings})
    rules = [_rule(r, [f for f in findings if f.rule == r]) for r in rule_ids]
    index = {r: i for i, r in enumerate(rule_ids)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "weightguard",
                        "version": version,
                        "semanticVersion": version,
                        "informationUri": "https://github.com/weightguard/weightguard",
                        "rules": rules,
                    }
                },
                "results": [_result(f, index[f.rule]) for f in findings],
                "invocations": [
                    {
                        "executionSuccessful": not result.errors,
                        "toolExecutionNotifications": [
                            {"level": "error", "message": {"text": e}} for e in result.errors
                        ],
                    }
                ],
                "columnKind": "utf16CodeUnits",
            }
        ],
    }
