"""weightguard/report.schema.json describes what `Report.to_json_dict` writes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from weightguard.report import REPORT_SCHEMA, Reason, Report, Verdict

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "weightguard" / "report.schema.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_schema_is_valid_and_names_the_report_id() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == REPORT_SCHEMA
    assert set(SCHEMA["properties"]["verdict"]["enum"]) == {v.value for v in Verdict}


@pytest.mark.parametrize("verdict", list(Verdict))
def test_every_verdict_validates(verdict: Verdict) -> None:
    reason = Reason("file.digest_mismatch", "content differs", "a.bin", "aa", "bb")
    report = Report("verify", verdict, (reason,), {"model": {"path": "m"}})
    VALIDATOR.validate(report.to_json_dict())


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(verdict="ok"),
        lambda d: d.update(exit_code=0, verdict="rejected"),
        lambda d: d["reasons"][0].update(severity="fatal"),
        lambda d: d["reasons"][0].pop("code"),
        lambda d: d.pop("tool"),
    ],
)
def test_malformed_reports_do_not_validate(change: object) -> None:
    doc = Report(
        "verify", Verdict.REJECTED, (Reason("signature.missing", "unsigned"),), {}
    ).to_json_dict()
    change(doc)  # type: ignore[operator]
    assert not VALIDATOR.is_valid(doc)
