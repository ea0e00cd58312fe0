"""Class 2: sidecars cannot hide model content.

`model.sig`, `model.sig.d/`, `--signature` and `--attestation` are left out of the model
only as the exact regular file / real folder documented: never through a symlink, never
because a resolved path lands on model content, never a whole folder a flag named. Leaving
out a file a flag named is a loosening flag (refused without `allowOverrides: true`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.adversarial._g1kit import C, W, failed, rule, rules
from tests.unit.policy.kit import EVIL_PICKLE, Kit, make_kit, write_model
from weightguard.errors import UsageError


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("g1-sidecar-kit"))


SAFE = rules(rule("all", '["**"]', "{anyOf: [team-a]}", "formats: {allow: [safetensors, json]}"))
# Symlinks allowed: the OMS rule then skips symlinked folders, so only the sidecar rules
# decide whether a linked folder's target is checked.
LINKS = "  allowSymlinks: true\n" + SAFE


def signed_model(kit: Kit, root: Path, sig: str = "model.sig") -> Path:
    model = write_model(root, {"weights.safetensors": W, "config.json": C})
    kit.sign(model, "team-a", dest=model / sig)
    return model


@pytest.mark.parametrize("policy", [SAFE, LINKS], ids=["default", "allow-symlinks"])
def test_symlinked_evidence_dir_does_not_hide_its_target(
    kit: Kit, tmp_path: Path, policy: str
) -> None:
    """model.sig.d -> extra/: the gate resolved the link and left all of extra/ out."""
    model = signed_model(kit, tmp_path / "m")
    write_model(model, {"extra/payload.pkl": EVIL_PICKLE})
    os.symlink("extra", model / "model.sig.d")
    result = kit.gate(model, kit.policy(tmp_path / "p", policy))
    assert result.report().exit_code == 1
    # A directory symlink is refused outright (model.symlink_dir, the symlink class).
    assert {("model.symlink", "model.sig.d"), ("model.symlink_dir", "model.sig.d")} & set(
        failed(result)
    ) or any(
        path == "extra/payload.pkl" for _, path in failed(result)
    )


@pytest.mark.parametrize("policy", [SAFE, LINKS], ids=["default", "allow-symlinks"])
def test_symlinked_signature_name_does_not_hide_a_folder(
    kit: Kit, tmp_path: Path, policy: str
) -> None:
    """model.sig -> extra/ (a directory): not a signature, but extra/ was left out."""
    model = signed_model(kit, tmp_path / "m", sig="model.sig.d/team-a.sig")
    write_model(model, {"extra/payload.pkl": EVIL_PICKLE})
    os.symlink("extra", model / "model.sig")
    result = kit.gate(model, kit.policy(tmp_path / "p", policy))
    assert result.report().exit_code == 1


def test_signature_name_as_a_folder_is_model_content(kit: Kit, tmp_path: Path) -> None:
    """A real folder called model.sig is not the documented regular file."""
    model = signed_model(kit, tmp_path / "m", sig="model.sig.d/team-a.sig")
    write_model(model, {"model.sig/payload.pkl": EVIL_PICKLE})
    result = kit.gate(model, kit.policy(tmp_path / "p", SAFE))
    assert result.report().exit_code == 1
    assert any(path == "model.sig/payload.pkl" for _, path in failed(result))


def test_symlinked_signature_file_into_the_model(kit: Kit, tmp_path: Path) -> None:
    """model.sig -> release/a.sig, a bundle file that is also model content the loader may
    read: resolved, it landed on model content and that file was left out."""
    model = write_model(tmp_path / "m", {"weights.safetensors": W, "config.json": C})
    kit.sign(model, "team-a", dest=model / "release" / "a.sig")
    os.symlink("release/a.sig", model / "model.sig")
    result = kit.gate(model, kit.policy(tmp_path / "p", SAFE))
    assert result.report().exit_code == 1
    assert ("model.symlink", "model.sig") in failed(result) or any(
        path == "release/a.sig" for _, path in failed(result)
    )


def test_attestation_flag_never_removes_a_folder(kit: Kit, tmp_path: Path) -> None:
    """--attestation MODEL/extra: the folder's files stay part of the model."""
    model = signed_model(kit, tmp_path / "m")
    write_model(model, {"extra/payload.pkl": EVIL_PICKLE})
    result = kit.gate(model, kit.policy(tmp_path / "p", SAFE), attestations=[model / "extra"])
    assert result.report().exit_code == 1
    assert any(path == "extra/payload.pkl" for _, path in failed(result))


def test_signature_flag_inside_the_model_is_a_loosening_flag(kit: Kit, tmp_path: Path) -> None:
    """--signature MODEL/sub/a.sig removes that file from the model: refused (exit 2)
    unless the policy allows overrides; then only that exact regular file is left out."""
    model = write_model(tmp_path / "m", {"weights.safetensors": W, "config.json": C})
    sig = kit.sign(model, "team-a", dest=model / "sub" / "a.sig")
    with pytest.raises(UsageError) as err:
        kit.gate(model, kit.policy(tmp_path / "p", SAFE), signatures=[sig])
    assert err.value.code == "policy.override_refused" and err.value.exit_code == 2
    loose = kit.policy(tmp_path / "q", "  allowOverrides: true\n" + SAFE)
    result = kit.gate(model, loose, signatures=[sig])
    assert result.report().exit_code == 0, failed(result)
    assert "sub/a.sig" not in {f.path for f in result.evidence.files}


def test_signature_flag_through_a_symlink_is_not_left_out(kit: Kit, tmp_path: Path) -> None:
    """--signature /elsewhere/link.sig -> MODEL/sub/a.sig: the resolved path lands on model
    content, which stays part of the model (even with allowOverrides)."""
    model = write_model(tmp_path / "m", {"weights.safetensors": W, "config.json": C})
    sig = kit.sign(model, "team-a", dest=model / "sub" / "a.sig")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(sig, tmp_path / "elsewhere" / "link.sig")
    loose = kit.policy(tmp_path / "q", "  allowOverrides: true\n" + SAFE)
    result = kit.gate(model, loose, signatures=[tmp_path / "elsewhere" / "link.sig"])
    assert "sub/a.sig" in {f.path for f in result.evidence.files}
    assert result.report().exit_code == 1


def test_documented_sidecars_are_still_left_out(kit: Kit, tmp_path: Path) -> None:
    """The honest layout: regular model.sig, real model.sig.d/ with a co-signature, and a
    --signature kept outside the model."""
    model = signed_model(kit, tmp_path / "m")
    kit.cosign(model, "team-b")
    outside = kit.sign(model, "team-c", dest=tmp_path / "out" / "c.sig")
    spec = rules(
        rule(
            "all",
            '["**"]',
            "{allOf: [team-a, team-b, team-c]}",
            "formats: {allow: [safetensors, json]}",
        )
    )
    result = kit.gate(
        model, kit.policy(tmp_path / "p", spec), signatures=[model / "model.sig", outside]
    )
    assert result.report().exit_code == 0, failed(result)
    assert {f.path for f in result.evidence.files} == {"weights.safetensors", "config.json"}
