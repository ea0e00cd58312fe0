"""`weightguard policy lint|explain` and `weightguard verify --policy` through the CLI.

Exit codes and reason codes are the contract: 0 accepted, 1 rejected, 2 usage or
configuration (a bad policy, a flag that would loosen it), 3 incomplete.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.models import run_cli
from tests.unit.policy.kit import Kit, clean_pickle, default_model, make_kit
from weightguard.cli import cli

REPO = Path(__file__).resolve().parents[2]
RULES = (
    "  rules:\n"
    "  - name: weights\n    paths: ['**/*.safetensors']\n    signatures: {anyOf: [team-a]}\n"
    "    formats: {allow: [safetensors]}\n"
    "  - name: metadata\n    paths: ['**/*.json']\n    signatures: {anyOf: [team-a]}\n"
    "    formats: {allow: [json]}\n"
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("cli-kit"))


@pytest.fixture
def setup(kit: Kit, tmp_path: Path) -> tuple[Path, Path]:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    return model, kit.policy(tmp_path / "policy", RULES)


def invoke(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", ["default", "strict-prod", "migration", "k8s-init"])
def test_lint_shipped_examples(name: str) -> None:
    rc, out, _ = invoke("policy", "lint", REPO / "policies" / f"{name}.yaml")
    assert rc == 0 and out.startswith("OK: ")


def test_lint_lists_every_problem_with_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: weightguard.dev/v1\nkind: Policy\nmetadata: {name: x}\nspec:\n"
        "  mode: strict\n  rules:\n  - {name: r, paths: ['/abs'], signatures: {anyOf: [nobody]}}\n"
        "  exceptions:\n  - {paths: [a], checks: [formats], reason: old, expires: '2001-13-01'}\n"
    )
    rc, out, err = invoke("policy", "lint", bad)
    assert rc == 2
    lines = out.splitlines()
    assert any(f"{bad}:5: spec.mode:" in line for line in lines)
    assert any("[policy.bad_glob]" in line and f"{bad}:7:" in line for line in lines)
    assert any("[policy.undefined_signer]" in line for line in lines)
    assert any("[policy.bad_value]" in line and f"{bad}:9:" in line for line in lines)
    assert "4 problem(s)" in err
    rc, out, _ = invoke("policy", "lint", bad, "--format", "json")
    doc = json.loads(out)
    assert rc == 2 and not doc["valid"] and len(doc["problems"]) == 4
    assert {p["code"] for p in doc["problems"]} >= {"policy.bad_value", "policy.bad_glob"}


def test_lint_missing_file(tmp_path: Path) -> None:
    rc, out, _ = invoke("policy", "lint", tmp_path / "absent.yaml")
    assert rc == 2 and "[policy.unreadable]" in out


def test_explain(setup: tuple[Path, Path]) -> None:
    model, policy = setup
    (model / "notes.md").write_text("hi")
    rc, out, _ = invoke("policy", "explain", policy, model)
    assert rc == 0
    assert "weights.safetensors  [safetensors]" in out
    assert "rule weights: matched by '**/*.safetensors'" in out
    assert "notes.md  [text]" in out and "no rule matches: fails (unmatchedFiles: deny)" in out
    rc, out, _ = invoke("policy", "explain", policy, model, "--format", "json")
    files = {f["path"]: f for f in json.loads(out)["files"]}
    assert files["config.json"]["rules"] == [{"rule": "metadata", "pattern": "**/*.json"}]
    assert files["notes.md"]["unmatched"] == "deny"


def test_verify_policy_accepted_json_and_report(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model, policy = setup
    report = tmp_path / "report.json"
    rc, out, _ = invoke("verify", model, "--policy", policy, "--format", "json", "--report", report)
    doc = json.loads(out)
    assert rc == 0 and doc["verdict"] == "accepted" and doc["exit_code"] == 0
    digest = "sha256:" + hashlib.sha256(policy.read_bytes()).hexdigest()
    assert doc["policy"]["digest"] == digest
    assert doc["policy"]["summary"]["failed"] == 0
    assert {c["code"] for c in doc["policy"]["checks"]} >= {"signature.ok", "format.ok"}
    assert json.loads(report.read_text()) == doc


def test_verify_policy_rejected_text_and_sarif(kit: Kit, setup: tuple[Path, Path]) -> None:
    model, policy = setup
    (model / "weights.safetensors").write_bytes(clean_pickle())
    kit.sign(model, "team-a")
    rc, out, _ = invoke("verify", model, "--policy", policy)
    assert rc == 1 and out.startswith("REJECTED:")
    assert "[format.not_allowed] weights.safetensors: rule weights:" in out
    rc, out, _ = invoke("verify", model, "--policy", policy, "--format", "sarif")
    sarif = json.loads(out)
    assert rc == 1 and sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["format.not_allowed"]
    assert results[0]["level"] == "error"
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
        "weights.safetensors"
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--key", "x.pub"], "trust comes from the policy"),
        (["--mode", "warn"], "would loosen policy"),
        (["--allow-unsigned-files"], "would loosen policy"),
        (["--ignore", "config.json"], "would loosen policy"),
    ],
)
def test_flags_may_not_loosen_the_policy(
    setup: tuple[Path, Path], extra: list[str], needle: str
) -> None:
    model, policy = setup
    rc, _, err = invoke("verify", model, "--policy", policy, *extra)
    assert rc == 2 and needle in err


def test_overrides_allowed_by_the_policy_are_reported(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model", **{"model.bin": clean_pickle()})
    kit.sign(model, "team-a")
    policy = kit.policy(tmp_path / "p", "  allowOverrides: true\n" + RULES)
    rc, out, _ = invoke("verify", model, "--policy", policy, "--format", "json")
    assert rc == 1
    rc, out, _ = invoke("verify", model, "--policy", policy, "--mode", "audit", "--format", "json")
    doc = json.loads(out)
    assert rc == 0 and doc["policy"]["overrides"] == ["--mode audit"]
    assert [r["severity"] for r in doc["reasons"] if r["code"] == "file.unmatched"] == ["info"]


def test_bad_policy_is_exit_2_naming_file_and_line(setup: tuple[Path, Path]) -> None:
    model, policy = setup
    policy.write_text(policy.read_text() + "  colour: blue\n")
    rc, _, err = invoke("verify", model, "--policy", policy)
    assert rc == 2
    assert f"{policy}:" in err and "spec.colour: unknown key" in err


def test_policy_only_flags_and_several_signatures_need_policy(setup: tuple[Path, Path]) -> None:
    model, _ = setup
    sig = model / "model.sig"
    rc, _, err = invoke("verify", model, "--key", "k.pub", "--signature", sig, "--signature", sig)
    assert rc == 2 and "need --policy" in err
    rc, _, err = invoke("verify", model, "--key", "k.pub", "--attestation", sig)
    assert rc == 2 and "need --policy" in err


def test_policy_digest_pin(setup: tuple[Path, Path]) -> None:
    model, policy = setup
    good = "sha256:" + hashlib.sha256(policy.read_bytes()).hexdigest()
    rc, _, _ = invoke("verify", model, "--policy", policy, "--policy-digest", good)
    assert rc == 0
    rc, _, err = invoke(
        "verify", model, "--policy", policy, "--policy-digest", "sha256:" + "0" * 64
    )
    assert rc == 2 and "differs from the pinned" in err


def test_real_entry_point_with_json_logs(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model, policy = setup
    term = tmp_path / "termination-log"
    result = run_cli(
        "verify", model, "--policy", policy, "--log-format", "json", "--termination-log", term
    )
    assert result.rc == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    decision = [e for e in events if e["event"] == "decision"][0]
    assert decision["policy_digest"] == "sha256:" + hashlib.sha256(policy.read_bytes()).hexdigest()
    assert term.read_text().startswith("weightguard verify: ACCEPTED (exit 0)")
    (model / "extra.json").write_text("{}")
    result = run_cli("verify", model, "--policy", policy, "--termination-log", term)
    assert result.rc == 1
    assert "[file.unsigned] extra.json" in term.read_text()


def test_cosign_with_model_version_through_the_cli(kit: Kit, tmp_path: Path) -> None:
    """Release flow: sign with --model-version, co-sign into model.sig.d, gate on both."""
    model = default_model(tmp_path / "model")
    a, b = kit.keys / "team-a.pem", kit.keys / "team-b.pem"
    assert run_cli("sign", model, "--key", a, "--model-version", "2.4.0").rc == 0
    cosign = model / "model.sig.d" / "team-b.sig"
    cosign.parent.mkdir()
    args = ["--signature", cosign, "--ignore", "model.sig", "--model-version", "2.4.0"]
    assert run_cli("sign", model, "--key", b, *args).rc == 0
    spec = RULES.replace("{anyOf: [team-a]}", "{allOf: [team-a, team-b]}")
    ok = kit.policy(tmp_path / "ok", '  rollback: {minVersion: "2.4"}\n' + spec)
    rc, out, _ = invoke("verify", model, "--policy", ok, "--format", "json")
    doc = json.loads(out)
    assert rc == 0, doc["reasons"]
    assert sorted(s["signers"][0] for s in doc["signatures"]) == ["team-a", "team-b"]
    assert {s["version"] for s in doc["signatures"]} == {"2.4.0"}
    floor = kit.policy(tmp_path / "floor", '  rollback: {minVersion: "2.5.0"}\n' + spec)
    rc, out, _ = invoke("verify", model, "--policy", floor, "--format", "json")
    assert rc == 1 and "rollback.below_floor" in {r["code"] for r in json.loads(out)["reasons"]}
    # A CI tag is taken as it is (v2 -> 2, issue 13); a branch name is not a version.
    rc, _, err = invoke("sign", model, "--key", a, "--model-version", "release-2")
    assert rc == 2 and "release version" in err
