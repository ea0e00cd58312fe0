"""Class 10: root-level git paths under a policy.

OMS leaves `.git`, `.gitattributes`, `.github`, `.gitignore` at the model root out of the
model; plain `verify` keeps that (byte-compatible with model-signing). A policy with
`unmatchedFiles: deny` promises every file is judged, so there they are files like any
other, and the policy must name them to let them through.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial._g1kit import C, W, failed, rule, rules
from tests.unit.policy.kit import EVIL_PICKLE, Kit, make_kit, write_model
from weightguard.api import verify
from weightguard.policy.explain import model_files
from weightguard.signing.ec import EcKeyVerifier


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("g1-git-kit"))


NAMED = rules(
    rule("weights", '["*.safetensors"]', "{anyOf: [team-a]}"),
    rule("config", '["*.json"]', "{anyOf: [team-a]}"),
)
CATCH_ALL = rules(rule("all", '["**"]', "{anyOf: [team-a]}"))


def signed(kit: Kit, root: Path) -> Path:
    model = write_model(root, {"weights.safetensors": W, "config.json": C})
    kit.sign(model, "team-a")  # OMS signing leaves the root git paths out
    return model


@pytest.mark.parametrize("where", [".github/payload.pkl", ".git/objects/payload.pkl"])
@pytest.mark.parametrize("spec", [NAMED, CATCH_ALL], ids=["named-rules", "catch-all"])
def test_git_paths_are_files_under_unmatched_deny(
    kit: Kit, tmp_path: Path, where: str, spec: str
) -> None:
    """A pickle under .github/ or .git/ was never listed, so never judged: accepted."""
    model = signed(kit, tmp_path / "m")
    write_model(model, {where: EVIL_PICKLE, ".gitattributes": b"*.bin filter=lfs\n"})
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert result.report().exit_code == 1
    paths = {path for _, path in failed(result)}
    assert {where, ".gitattributes"} <= paths
    # `policy explain` lists the same files as the gate.
    listed = {p for p, _ in model_files(model, allow_symlinks=False)}
    assert {where, ".gitattributes"} <= listed


def test_policy_can_name_git_paths_to_let_them_through(kit: Kit, tmp_path: Path) -> None:
    model = signed(kit, tmp_path / "m")
    write_model(model, {".git/HEAD": b"ref: refs/heads/main\n", ".gitattributes": b"* text\n"})
    spec = NAMED + rule("git", '[".git/**", ".gitattributes"]', "none")
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert result.report().exit_code == 0, failed(result)


@pytest.mark.parametrize("setting", ["warn", "allow"])
def test_lenient_unmatched_setting_keeps_the_oms_rule(
    kit: Kit, tmp_path: Path, setting: str
) -> None:
    model = signed(kit, tmp_path / "m")
    write_model(model, {".git/HEAD": b"ref: refs/heads/main\n"})
    result = kit.gate(model, kit.policy(tmp_path / "p", f"  unmatchedFiles: {setting}\n" + NAMED))
    assert result.report().exit_code == 0, failed(result)
    assert ".git/HEAD" not in {f.path for f in result.evidence.files}


def test_plain_verify_still_skips_root_git_paths(kit: Kit, tmp_path: Path) -> None:
    """Without a policy, verification follows OMS (model-signing ignores them too)."""
    model = signed(kit, tmp_path / "m")
    write_model(model, {".git/HEAD": b"ref: refs/heads/main\n", ".gitignore": b"*.tmp\n"})
    verifier = EcKeyVerifier.from_files([kit.keys / "team-a.pub.pem"])
    assert verify(model, verifier).verdict.value == "accepted"
