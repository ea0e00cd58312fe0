"""Class 1: evidence is bound to names, not only to bytes.

The OMS root digest covers the list of file digests, not the file names. Each test here
was accepted by the gate before the fix (see docs/threat-model.md, class 1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial._g1kit import C, W, failed, rule, rules, sign_naming
from tests.unit.policy.kit import (
    EVIL_PICKLE,
    SCAN,
    SMOKE,
    Kit,
    file_sha256,
    make_kit,
    model_digest,
    write_model,
)
from weightguard.manifest import Resource, root_digest


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("g1-binding-kit"))


ANY_FORMAT = rules(rule("all", '["**"]', "{anyOf: [team-a]}"))


def test_renamed_bytes_do_not_cover_a_file_never_hashed(kit: Kit, tmp_path: Path) -> None:
    """(a) The signer once signed the same bytes under other names (a rename between
    releases). That old bundle has the same root digest as the current one, so the gate
    reused the current bundle's check for it and called `weights.bin` signed: a file whose
    bytes nobody ever hashed. It holds a code-executing pickle."""
    model = write_model(tmp_path / "m", {"config.json": C, "weights.safetensors": W})
    kit.sign(model, "team-a")
    sign_naming(
        kit,
        "team-a",
        {"config.json": C, "weights.bin": W},
        model / "model.sig.d" / "v1.sig",
        tmp_path / "v1",
    )
    (model / "weights.bin").write_bytes(EVIL_PICKLE)
    result = kit.gate(model, kit.policy(tmp_path / "p", ANY_FORMAT))
    assert result.report().exit_code == 1
    assert ("file.digest_mismatch", "weights.bin") in failed(result)


def test_subset_root_is_not_the_model_digest(kit: Kit, tmp_path: Path) -> None:
    """(b) A smoke record about the weights alone (root over a subset of the deployed
    files) is not about the model: the extra unsigned-but-tolerated config.json changes
    what gets loaded. Before the fix the bundle's root over {weights} counted as "the
    model's digest"."""
    model = write_model(tmp_path / "m", {"weights.safetensors": W})
    kit.sign(model, "team-a")
    subset_root = model_digest(model)
    from tests.unit.policy.test_scenarios import smoke_predicate

    kit.attest(
        model / "model.sig.d" / "smoke.json",
        "team-a",
        SMOKE,
        subset_root,
        smoke_predicate("recorded"),
    )
    (model / "config.json").write_bytes(b'{"layers": 200, "act": "attacker"}\n')
    spec = rules(
        rule("weights", '["*.safetensors"]', "{anyOf: [team-a]}", "smoke: {signers: [team-a]}"),
        rule("config", '["*.json"]', "none"),
    )
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert result.report().exit_code == 1
    assert ("smoke.subject_mismatch", None) in failed(result)
    # The digest evidence must match is the root over every admitted file.
    assert result.evidence.model_digest == model_digest(model)


def test_whole_inventory_smoke_record_still_passes(kit: Kit, tmp_path: Path) -> None:
    """The honest twin of (b): a record about the whole deployed model is accepted."""
    from tests.unit.policy.test_scenarios import smoke_predicate

    model = write_model(tmp_path / "m", {"weights.safetensors": W, "config.json": C})
    kit.sign(model, "team-a")
    kit.attest(
        model / "model.sig.d" / "smoke.json",
        "team-a",
        SMOKE,
        model_digest(model),
        smoke_predicate("recorded"),
    )
    spec = rules(
        rule("weights", '["*.safetensors"]', "{anyOf: [team-a]}", "smoke: {signers: [team-a]}"),
        rule("config", '["*.json"]', "{anyOf: [team-a]}"),
    )
    assert kit.gate(model, kit.policy(tmp_path / "p", spec)).report().exit_code == 0


def test_second_bundle_cannot_lend_a_digest_to_another_name(kit: Kit, tmp_path: Path) -> None:
    """(c) A co-signer's bundle in model.sig.d names `extra.bin` with the digest of the
    safetensors bytes (same root as model.sig: a different naming). The gate reused the
    cached check and also took `extra.bin`'s sha256 from that manifest, so a clean scan
    attestation about the safetensors bytes "covered" the pickle that is really there."""
    model = write_model(tmp_path / "m", {"config.json": C, "weights.safetensors": W})
    kit.sign(model, "team-a")
    sign_naming(
        kit,
        "team-b",
        {"config.json": C, "extra.bin": W},
        model / "model.sig.d" / "team-b.sig",
        tmp_path / "other",
    )
    (model / "extra.bin").write_bytes(EVIL_PICKLE)
    kit.attest(
        model / "model.sig.d" / "scan.json",
        "team-a",
        SCAN,
        file_sha256(model / "weights.safetensors"),
        {"outcome": "clean", "scanner": {"name": "weightguard"}},
        "weights.safetensors",
    )
    spec = rules(
        rule("weights", '["*.safetensors", "*.json"]', "{anyOf: [team-a]}"),
        rule(
            "extra",
            '["*.bin"]',
            "{anyOf: [team-b]}",
            "scan: {source: attestation, signers: [team-a]}",
        ),
    )
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert result.report().exit_code == 1
    codes = failed(result)
    assert ("file.digest_mismatch", "extra.bin") in codes
    extra = next(f for f in result.evidence.files if f.path == "extra.bin")
    assert extra.sha256 == file_sha256(model / "extra.bin")


def test_each_manifest_check_hashes_its_own_names(kit: Kit, tmp_path: Path) -> None:
    """Two intact bundles over two namings of the same bytes, both present on disk: each
    is checked against its own names (both pass), nothing is reused across them."""
    model = write_model(
        tmp_path / "m", {"config.json": C, "weights.safetensors": W, "weights.bin": W}
    )
    sign_naming(
        kit,
        "team-a",
        {"config.json": C, "weights.safetensors": W},
        model / "model.sig",
        tmp_path / "one",
    )
    sign_naming(
        kit,
        "team-a",
        {"config.json": C, "weights.bin": W},
        model / "model.sig.d" / "two.sig",
        tmp_path / "two",
    )
    r1 = root_digest(
        [
            Resource("x", "sha256", file_sha256(model / n))
            for n in ("config.json", "weights.safetensors")
        ]
    )
    r2 = root_digest(
        [Resource("x", "sha256", file_sha256(model / n)) for n in ("config.json", "weights.bin")]
    )
    assert r1 == r2  # the attack's premise: same root, different names
    result = kit.gate(model, kit.policy(tmp_path / "p", ANY_FORMAT))
    assert result.report().exit_code == 0, failed(result)
