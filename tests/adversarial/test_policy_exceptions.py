"""Class 8: exceptions waive what they say, nothing more.

An exception for unsigned files (`checks: [signatures]` or `[unsigned]`) exists for
files nobody signed yet. A file that a trusted signature lists with other content is
not unsigned: it is tampering, and it was waived too (the digest mismatch was recorded
under the `signatures` check). A signed file removed from the model likewise. And an
expired exception made the whole policy invalid (exit 2): an outage on the expiry
date; it now simply stops applying, with a warning.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.policy.kit import Kit, default_model, make_kit
from weightguard.cli import cli
from weightguard.policy.evaluate import Status
from weightguard.policy.load import load_policy


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("kit"))


RULES = (
    "  rules:\n  - name: all\n    paths: ['**']\n    signatures: {anyOf: [team-a]}\n"
    "    formats: {allow: [safetensors, json]}\n"
)


def _exception(checks: str, expires: str = "2099-12-31", paths: str = "['**']") -> str:
    return (
        f"  exceptions:\n  - {{paths: {paths}, checks: {checks}, reason: TICKET-1, "
        f"expires: '{expires}'}}\n"
    )


@pytest.mark.parametrize("checks", ["[signatures]", "[unsigned]", "[signatures, unsigned]"])
def test_unsigned_exception_never_waives_a_changed_signed_file(
    kit: Kit, tmp_path: Path, checks: str
) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    (model / "config.json").write_bytes(b'{"layers": 3, "backdoor": true}\n')
    result = kit.gate(model, kit.policy(tmp_path / "p", RULES + _exception(checks)))
    found = [c for c in result.decision.checks if c.code == "file.digest_mismatch"]
    # Before: status "excepted", exit 0.
    assert found and all(c.status is Status.FAILED for c in found)
    assert result.report().exit_code == 1


def test_unsigned_exception_never_waives_a_removed_signed_file(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model", **{"safety.json": b'{"filter": true}\n'})
    kit.sign(model, "team-a")
    (model / "safety.json").unlink()
    policy = kit.policy(tmp_path / "p", RULES + _exception("[signatures, unsigned]"))
    result = kit.gate(model, policy)
    found = [c for c in result.decision.checks if c.code == "file.missing"]
    assert found and all(c.status is Status.FAILED for c in found)
    assert result.report().exit_code == 1


def test_unsigned_exception_still_waives_an_unsigned_file(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    (model / "notes.json").write_bytes(b"{}\n")
    policy = kit.policy(tmp_path / "p", RULES + _exception("[unsigned]", paths="['notes.json']"))
    result = kit.gate(model, policy)
    assert (Status.EXCEPTED, "file.unsigned") in {
        (c.status, c.code) for c in result.decision.checks
    }
    assert result.report().exit_code == 0


def test_expired_exception_stops_applying_instead_of_failing_the_policy(
    kit: Kit, tmp_path: Path
) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    (model / "notes.json").write_bytes(b"{}\n")
    policy = kit.policy(
        tmp_path / "p",
        RULES + _exception("[unsigned]", expires="2020-01-01", paths="['notes.json']"),
    )
    # Before: PolicyError (exit 2) for every model, signed or not.
    loaded = load_policy(policy)
    result = kit.gate(model, policy)
    checks = {(c.status, c.code) for c in result.decision.checks}
    assert (Status.FAILED, "file.unsigned") in checks  # enforced again
    report = result.report()
    assert report.exit_code == 1
    expired = [r for r in report.reasons if r.code == "exception.expired"]
    assert expired and expired[0].severity == "warning"
    # A clean model under the same policy is accepted, with the warning.
    (model / "notes.json").unlink()
    clean = kit.gate(model, policy).report()
    assert clean.exit_code == 0
    assert [r.severity for r in clean.reasons if r.code == "exception.expired"] == ["warning"]
    assert loaded.exceptions


def test_lint_warns_ahead_of_expiry_and_after(kit: Kit, tmp_path: Path) -> None:
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).date().isoformat()
    for expires, word in ((soon, "expires"), ("2020-01-01", "expired")):
        policy = kit.policy(tmp_path / word, RULES + _exception("[unsigned]", expires=expires))
        result = CliRunner().invoke(cli, ["policy", "lint", str(policy), "--format", "json"])
        doc = json.loads(result.stdout)
        assert result.exit_code == 0, doc
        assert any(word in w for w in doc["warnings"]), doc["warnings"]
