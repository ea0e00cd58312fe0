"""SARIF 2.1.0 rendering of a verify report (the subset GitHub code scanning reads).

One run; one rule per reason code that occurs; one result per reason. A reason about a
model file points at that file (relative to the working directory when it lies below
it, as GitHub wants repository-relative URIs); a model-level reason points at the model
path itself. Severity maps to ``level``: error -> error, warning -> warning, info -> note.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from weightguard.report import Reason, Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _location(model: Path, reason: Reason) -> dict[str, Any]:
    target = model if not reason.path or not model.is_dir() else model / reason.path
    absolute = Path(os.path.abspath(target))
    try:
        rel = absolute.relative_to(Path(os.getcwd()).resolve())
        artifact: dict[str, Any] = {"uri": quote(rel.as_posix()), "uriBaseId": "%SRCROOT%"}
    except ValueError:
        artifact = {"uri": absolute.as_uri()}
    return {"physicalLocation": {"artifactLocation": artifact}}


def report_to_sarif(report: Report, model: str | os.PathLike[str]) -> dict[str, Any]:
    """The SARIF log for `report` (a verify report, with or without a policy)."""
    from weightguard import __version__

    model_path = Path(model)
    codes = sorted({r.code for r in report.reasons})
    rules = [
        {
            "id": code,
            "name": code.replace(".", "_"),
            "shortDescription": {"text": code.replace(".", ": ").replace("_", " ")},
            "helpUri": "https://weightguard.dev/reasons#" + code,
        }
        for code in codes
    ]
    results = []
    for reason in report.reasons:
        message = reason.message
        if reason.expected is not None or reason.actual is not None:
            message += f" (expected {reason.expected}, actual {reason.actual})"
        results.append(
            {
                "ruleId": reason.code,
                "ruleIndex": codes.index(reason.code),
                "level": _LEVEL.get(reason.severity, "note"),
                "message": {"text": message},
                "locations": [_location(model_path, reason)],
                "properties": {"path": reason.path, "severity": reason.severity},
            }
        )
    policy = report.details.get("policy")
    properties: dict[str, Any] = {"verdict": report.verdict.value}
    if isinstance(policy, dict):
        properties["policy"] = {k: policy.get(k) for k in ("name", "digest", "mode")}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "weightguard",
                        "version": __version__,
                        "informationUri": "https://weightguard.dev",
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "exitCode": int(report.exit_code),
                        "properties": properties,
                    }
                ],
                "results": results,
            }
        ],
    }
