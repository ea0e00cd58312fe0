"""Table-driven policy scenarios over really signed models.

Each scenario writes a model and a policy into its own directory, signs with real keys
(EC and an X.509 chain), runs the gate exactly as `verify --policy` does, and asserts
the exit code AND the reason code (with the status the check ended in).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.unit.policy.kit import (
    EVIL_PICKLE,
    SCAN,
    SLSA,
    SMOKE,
    Kit,
    clean_pickle,
    default_model,
    file_sha256,
    make_kit,
    model_digest,
    safetensors_bytes,
    truncated_pickle,
    write_model,
)
from weightguard.gate import Overrides
from weightguard.policy.evaluate import Status


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("policy-kit"))


def rule(
    paths: str = '["**"]',
    signatures: str = "{anyOf: [team-a]}",
    extra: str = "",
    name: str = "all",
) -> str:
    """One rule entry (under `rules:`)."""
    out = f"  - name: {name}\n    paths: {paths}\n    signatures: {signatures}\n"
    return out + "".join(f"    {line}\n" for line in extra.strip("\n").splitlines() if line)


def rules(*entries: str, head: str = "") -> str:
    return head + "  rules:\n" + "".join(entries)


SAFE = "formats: {allow: [safetensors, json]}"
STANDARD = rules(rule(extra=SAFE))
# A builder gets (kit, model dir) and returns extra keyword arguments for the gate.
Build = Callable[[Kit, Path], dict[str, Any]]


def signed(*signers: str, **files: bytes) -> Build:
    """The default model plus `files`, signed by the first signer, co-signed by the rest."""

    def build(kit: Kit, model: Path) -> dict[str, Any]:
        default_model(model, **{k.replace("__", "/"): v for k, v in files.items()})
        if signers:
            kit.sign(model, signers[0])
        for s in signers[1:]:
            kit.cosign(model, s)
        return {}

    return build


def then(first: Build, after: Callable[[Kit, Path], Any]) -> Build:
    """Run `first`, then `after` (tampering, attestations...)."""

    def build(kit: Kit, model: Path) -> dict[str, Any]:
        kw = first(kit, model)
        out = after(kit, model)
        return {**kw, **(out or {})}

    return build


def with_version(version: str | None, signed_at: str | None = None) -> Build:
    def build(kit: Kit, model: Path) -> dict[str, Any]:
        default_model(model)
        extra: dict[str, Any] = {}
        if version is not None:
            extra["weightguard_version"] = version
        if signed_at is not None:
            extra["weightguard_signed_at"] = signed_at
        kit.sign(model, "team-a", extra=extra)
        return {}

    return build


def attest_file(signer: str, ptype: str, predicate: dict[str, Any], *, other: bool = False):
    def after(kit: Kit, model: Path) -> None:
        digest = file_sha256(model / "weights.safetensors")
        if other:
            digest = "0" * 64
        kit.attest(
            model / "model.sig.d" / f"{ptype.rsplit('/', 2)[-2]}.json",
            signer,
            ptype,
            digest,
            predicate,
            "weights.safetensors",
        )

    return after


def attest_model(signer: str, ptype: str, predicate: dict[str, Any]):
    def after(kit: Kit, model: Path) -> None:
        kit.attest(
            model / "model.sig.d" / "model-att.json", signer, ptype, model_digest(model), predicate
        )

    return after


def attest_model_file(name: str, signer: str, ptype: str, predicate: dict[str, Any]):
    """Like attest_model, into model.sig.d/NAME (several statements side by side)."""

    def after(kit: Kit, model: Path) -> None:
        kit.attest(model / "model.sig.d" / name, signer, ptype, model_digest(model), predicate)

    return after


def tamper(rel: str, data: bytes | None) -> Callable[[Kit, Path], None]:
    def after(kit: Kit, model: Path) -> None:
        if data is None:
            (model / rel).unlink()
        else:
            (model / rel).parent.mkdir(parents=True, exist_ok=True)
            (model / rel).write_bytes(data)

    return after


def smoke_predicate(outcome: str) -> dict[str, Any]:
    """A well-formed smoke record predicate (weightguard.smoke.record validates it)."""
    return {
        "outcome": outcome,
        "model": {"factory": "examples.models.mlp:build"},
        "input": {
            "seed": 0,
            "shape": [1, 4],
            "factory": None,
            "tensors": [{"name": "x", "shape": [1, 4], "dtype": "float32", "sha256": "0" * 64}],
        },
        "run": {"dtype": "float32", "device": {"requested": "cpu", "used": "cpu", "name": "cpu"}},
        "tolerance": {"rtol": 1e-5, "atol": 1e-6, "atol_unit": "rms"},
        "outputs": [
            {
                "name": "y",
                "dtype": "float32",
                "shape": [2],
                "encoding": "full",
                "values": [0.5, 1.5],
            }
        ],
    }


@dataclass(frozen=True)
class Scenario:
    id: str
    spec: str
    build: Build
    exit: int
    code: str
    status: Status = Status.FAILED
    severity: str | None = None  # of the reason, when asserted


SLSA_RULE = (
    f"attestations:\n- {{predicateType: {SLSA}, signers: [team-a], subject: file, "
    "where: {buildDefinition.buildType: https://weightguard.dev/convert/v1}}"
)
# Everything signed; the safetensors files also need SLSA provenance about their own digest.
SLSA_SPEC = rules(
    rule(extra=SAFE), rule(name="provenance", paths='["**/*.safetensors"]', extra=SLSA_RULE)
)
SLSA_OK = {"buildDefinition": {"buildType": "https://weightguard.dev/convert/v1"}}
SCAN_ATT = "scan: {source: attestation, signers: [team-a], formats: [safetensors]}"
MIGRATION = "formats: {allow: [safetensors, json, pickle]}\nscan: {source: local}"
USER_CLASS_PICKLE = b"\x80\x02cmymodule\nConfig\n)\x81."  # a user class: not clean by default
ALLOW_CONFIG = (
    "formats: {allow: [safetensors, json, pickle]}\n"
    "scan: {source: local, allow: [{name: mymodule.Config, reason: 'our own dataclass'}]}"
)
DENY_REVOKED = "  deny:\n    signers: [revoked]\n"

SCENARIOS = [
    # --- signers ---------------------------------------------------------------------
    Scenario("right-signer", STANDARD, signed("team-a"), 0, "signature.ok", Status.PASSED),
    Scenario("wrong-signer-untrusted-key", STANDARD, signed("rogue"), 1, "signature.untrusted"),
    Scenario("signer-not-in-rule", STANDARD, signed("team-b"), 1, "signature.signer_not_allowed"),
    Scenario(
        "revoked-signer",
        rules(rule(signatures="{anyOf: [team-a, revoked]}"), head=DENY_REVOKED),
        signed("revoked"),
        1,
        "deny.signer",
    ),
    Scenario(
        "revoked-signer-beside-good-one",
        rules(rule(signatures="{anyOf: [team-a, revoked]}"), head=DENY_REVOKED),
        signed("team-a", "revoked"),
        1,
        "deny.signer",
    ),
    Scenario("revoked-key-id", "KEYID", signed("team-a"), 1, "deny.signer"),
    Scenario(
        "x509-chain-and-identity",
        rules(rule(signatures="{anyOf: [corp]}")),
        signed("corp"),
        0,
        "signature.ok",
        Status.PASSED,
    ),
    Scenario(
        "x509-other-root",
        rules(rule(signatures="{anyOf: [corp]}")),
        signed("other-corp"),
        1,
        "signature.untrusted",
    ),
    Scenario(
        "all-of-met",
        rules(rule(signatures="{allOf: [team-a, team-b]}")),
        signed("team-a", "team-b"),
        0,
        "signature.ok",
        Status.PASSED,
    ),
    Scenario(
        "all-of-not-met",
        rules(rule(signatures="{allOf: [team-a, team-b]}")),
        signed("team-a"),
        1,
        "signature.threshold_not_met",
    ),
    Scenario(
        "threshold-2-of-3-met",
        rules(rule(signatures="{threshold: 2, of: [team-a, team-b, team-c]}")),
        signed("team-a", "team-c"),
        0,
        "signature.ok",
        Status.PASSED,
    ),
    Scenario(
        "threshold-not-met",
        rules(rule(signatures="{threshold: 2, of: [team-a, team-b, team-c]}")),
        signed("team-b"),
        1,
        "signature.threshold_not_met",
    ),
    Scenario(
        "threshold-copied-bundle-counts-once",
        rules(rule(signatures="{threshold: 2, of: [team-a, team-b]}")),
        then(
            signed("team-a"),
            lambda k, m: tamper("model.sig.d/copy.sig", (m / "model.sig").read_bytes())(k, m),
        ),
        1,
        "signature.threshold_not_met",
    ),
    Scenario(
        "untrusted-extra-bundle-ignored",
        STANDARD,
        signed("team-a", "rogue"),
        0,
        "bundle.unverified",
        Status.SKIPPED,
    ),
    Scenario("unsigned-model", STANDARD, signed(), 1, "signature.missing"),
    Scenario(
        "tampered-signature",
        STANDARD,
        then(signed("team-a"), lambda k, m: _flip_signature(m / "model.sig")),
        1,
        "signature.invalid",
    ),
    Scenario(
        "malformed-bundle-in-evidence",
        STANDARD,
        then(signed("team-a"), tamper("model.sig.d/junk.sig", b"{not json")),
        1,
        "bundle.malformed",
    ),
    # --- content vs signature ------------------------------------------------------
    Scenario(
        "file-grown-after-signing",
        STANDARD,
        then(signed("team-a"), tamper("weights.safetensors", safetensors_bytes(3))),
        1,
        "file.digest_mismatch",
    ),
    Scenario(
        "same-size-tamper",
        STANDARD,
        then(signed("team-a"), tamper("config.json", b'{"layers": 3}\n')),
        1,
        "file.digest_mismatch",
    ),
    Scenario(
        "signed-file-missing",
        STANDARD,
        then(signed("team-a"), tamper("config.json", None)),
        1,
        "file.missing",
    ),
    Scenario(
        "unsigned-extra-file-denied",
        STANDARD,
        then(signed("team-a"), tamper("extra.json", b"{}")),
        1,
        "file.unsigned",
    ),
    Scenario(
        "unsigned-extra-file-tolerated",
        rules(rule(extra=SAFE + "\nunsignedFiles: allow")),
        then(signed("team-a"), tamper("extra.json", b"{}")),
        0,
        "file.unsigned_tolerated",
        Status.SKIPPED,
    ),
    Scenario("digest-pin-ok", "PIN_OK", signed("team-a"), 0, "digest.pin_ok", Status.PASSED),
    Scenario(
        "digest-pin-mismatch",
        rules(rule(extra=SAFE + f'\ndigests: {{weights.safetensors: "sha256:{"ab" * 32}"}}')),
        signed("team-a"),
        1,
        "digest.pin_mismatch",
    ),
    Scenario(
        "digest-pin-file-absent",
        rules(rule(extra=SAFE + f'\ndigests: {{gone.safetensors: "sha256:{"ab" * 32}"}}')),
        signed("team-a"),
        1,
        "digest.pin_missing",
    ),
    Scenario("revoked-file-digest", "DENY_DIGEST", signed("team-a"), 1, "deny.digest"),
    # --- formats and scanning -------------------------------------------------------
    Scenario(
        "pickle-under-safetensors-only",
        STANDARD,
        signed("team-a", **{"model.bin": clean_pickle()}),
        1,
        "format.not_allowed",
    ),
    Scenario(
        "pickle-denied",
        rules(rule(extra="formats: {deny: [pickle, torch-zip]}")),
        signed("team-a", **{"model.bin": clean_pickle()}),
        1,
        "format.denied",
    ),
    Scenario(
        "pickle-disguised-as-safetensors",
        STANDARD,
        signed("team-a", **{"weights.safetensors": clean_pickle()}),
        1,
        "format.not_allowed",
    ),
    Scenario(
        "pickle-allowed-with-clean-scan",
        rules(rule(extra=MIGRATION)),
        signed("team-a", **{"model.bin": clean_pickle()}),
        0,
        "scan.clean",
        Status.PASSED,
    ),
    Scenario(
        "pickle-unsafe-scan",
        rules(rule(extra=MIGRATION)),
        signed("team-a", **{"model.bin": EVIL_PICKLE}),
        1,
        "scan.unsafe",
    ),
    Scenario(
        "user-class-not-clean-by-default",
        rules(rule(extra=MIGRATION)),
        signed("team-a", **{"model.bin": USER_CLASS_PICKLE}),
        1,
        "scan.unsafe",
    ),
    Scenario(
        "user-class-allowed-by-policy-with-reason",
        rules(rule(extra=ALLOW_CONFIG)),
        signed("team-a", **{"model.bin": USER_CLASS_PICKLE}),
        0,
        "scan.clean",
        Status.PASSED,
    ),
    Scenario(
        "safetensors-needs-no-scan",
        rules(rule(extra=MIGRATION)),
        signed("team-a"),
        0,
        "scan.not_required",
        Status.SKIPPED,
    ),
    Scenario(
        "scan-incomplete-never-softened",
        rules(rule(extra=MIGRATION), head="  mode: warn\n"),
        signed("team-a", **{"model.bin": truncated_pickle()}),
        3,
        "scan.incomplete",
    ),
    Scenario(
        "scan-attestation-ok",
        rules(rule(extra=SCAN_ATT)),
        then(signed("team-a"), attest_file("team-a", SCAN, {"outcome": "clean"})),
        0,
        "scan.ok",
        Status.PASSED,
    ),
    Scenario(
        "scan-attestation-missing", rules(rule(extra=SCAN_ATT)), signed("team-a"), 1, "scan.missing"
    ),
    Scenario(
        "scan-attestation-untrusted",
        rules(rule(extra=SCAN_ATT)),
        then(signed("team-a"), attest_file("rogue", SCAN, {"outcome": "clean"})),
        1,
        "scan.untrusted",
    ),
    Scenario(
        "scan-attestation-says-unsafe",
        rules(rule(extra=SCAN_ATT)),
        then(signed("team-a"), attest_file("team-a", SCAN, {"outcome": "unsafe"})),
        1,
        "scan.not_clean",
    ),
    # --- attestations and smoke -------------------------------------------------------
    Scenario(
        "attestation-ok",
        SLSA_SPEC,
        then(signed("team-a"), attest_file("team-a", SLSA, SLSA_OK)),
        0,
        "attestation.ok",
        Status.PASSED,
    ),
    Scenario("attestation-missing", SLSA_SPEC, signed("team-a"), 1, "attestation.missing"),
    Scenario(
        "attestation-untrusted-signer",
        SLSA_SPEC,
        then(signed("team-a"), attest_file("rogue", SLSA, SLSA_OK)),
        1,
        "attestation.untrusted",
    ),
    Scenario(
        "attestation-other-trusted-signer",
        SLSA_SPEC,
        then(signed("team-a"), attest_file("team-b", SLSA, SLSA_OK)),
        1,
        "attestation.untrusted",
    ),
    Scenario(
        "attestation-about-another-digest",
        SLSA_SPEC,
        then(signed("team-a"), attest_file("team-a", SLSA, SLSA_OK, other=True)),
        1,
        "attestation.subject_mismatch",
    ),
    Scenario(
        "attestation-field-constraint",
        SLSA_SPEC,
        then(
            signed("team-a"),
            attest_file("team-a", SLSA, {"buildDefinition": {"buildType": "other"}}),
        ),
        1,
        "attestation.constraint_failed",
    ),
    Scenario(
        "smoke-record-ok",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        then(signed("team-a"), attest_model("team-a", SMOKE, smoke_predicate("recorded"))),
        0,
        "smoke.ok",
        Status.PASSED,
    ),
    Scenario(
        "smoke-record-malformed",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        then(signed("team-a"), attest_model("team-a", SMOKE, smoke_predicate("bogus"))),
        1,
        "smoke.record_malformed",
    ),
    # A check record whose outcome is failed (smoke check --write-record) blocks, even
    # next to a passing release-time record of the same weights.
    Scenario(
        "smoke-check-record-failed",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        then(signed("team-a"), attest_model("team-a", SMOKE, smoke_predicate("failed"))),
        1,
        "smoke.failed",
    ),
    Scenario(
        "smoke-check-record-failed-beside-recorded",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        then(
            then(
                signed("team-a"),
                attest_model_file(
                    "release.smoke.json", "team-a", SMOKE, smoke_predicate("recorded")
                ),
            ),
            attest_model_file("deploy.check.json", "team-a", SMOKE, smoke_predicate("failed")),
        ),
        1,
        "smoke.failed",
    ),
    Scenario(
        "smoke-check-record-passed",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        then(signed("team-a"), attest_model("team-a", SMOKE, smoke_predicate("passed"))),
        0,
        "smoke.ok",
        Status.PASSED,
    ),
    Scenario(
        "smoke-record-untrusted",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        then(signed("team-a"), attest_model("rogue", SMOKE, smoke_predicate("recorded"))),
        1,
        "smoke.untrusted",
    ),
    Scenario(
        "smoke-record-other-weights",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        then(
            then(signed("team-a"), attest_model("team-a", SMOKE, smoke_predicate("recorded"))),
            tamper("config.json", b'{"layers": 9}\n'),
        ),
        1,
        "smoke.subject_mismatch",
    ),
    Scenario(
        "smoke-record-missing",
        rules(rule(extra="smoke: {signers: [team-a]}")),
        signed("team-a"),
        1,
        "smoke.missing",
    ),
    # --- rollback -----------------------------------------------------------------------
    Scenario(
        "rollback-ok",
        rules(rule(), head='  rollback: {minVersion: "2.0"}\n'),
        with_version("2.1.0"),
        0,
        "rollback.version_ok",
        Status.PASSED,
    ),
    Scenario(
        "rollback-below-floor",
        rules(rule(), head='  rollback: {minVersion: "2.0"}\n'),
        with_version("1.9.9"),
        1,
        "rollback.below_floor",
    ),
    Scenario(
        "rollback-no-version",
        rules(rule(), head='  rollback: {minVersion: "2.0"}\n'),
        with_version(None),
        1,
        "rollback.no_version",
    ),
    Scenario(
        "rollback-signed-too-early",
        rules(rule(), head='  rollback: {notSignedBefore: "2026-01-01T00:00:00Z"}\n'),
        with_version("1", "2025-06-01T00:00:00Z"),
        1,
        "rollback.signed_too_early",
    ),
    Scenario(
        "rollback-no-signing-time",
        rules(rule(), head='  rollback: {notSignedBefore: "2026-01-01T00:00:00Z"}\n'),
        with_version("1"),
        1,
        "rollback.no_signing_time",
    ),
    # --- modes and exceptions -------------------------------------------------------
    Scenario(
        "warn-mode-exit-0-with-warning",
        rules(rule(extra=SAFE), head="  mode: warn\n"),
        signed("team-a", **{"model.bin": clean_pickle()}),
        0,
        "format.not_allowed",
        severity="warning",
    ),
    Scenario(
        "audit-mode-exit-0-info",
        rules(rule(extra=SAFE), head="  mode: audit\n"),
        signed("rogue"),
        0,
        "signature.untrusted",
        severity="info",
    ),
    Scenario(
        "per-rule-warn-override",
        rules(
            rule(extra=SAFE + "\nmode: warn", paths='["**/*.bin"]', name="legacy"),
            rule(paths='["*.safetensors", "*.json"]'),
        ),
        signed("team-a", **{"model.bin": clean_pickle()}),
        0,
        "format.not_allowed",
        severity="warning",
    ),
    Scenario(
        "exception-waives-format",
        rules(rule(extra=SAFE), head="")
        + '  exceptions:\n  - {paths: ["model.bin"], checks: [formats], reason: "migration ticket 42", expires: "2099-12-31"}\n',
        signed("team-a", **{"model.bin": clean_pickle()}),
        0,
        "format.not_allowed",
        Status.EXCEPTED,
    ),
    Scenario(
        "exception-for-other-rule",
        rules(rule(extra=SAFE), rule(name="docs", paths='["*.md"]', signatures="none"))
        + '  exceptions:\n  - {rules: [docs], checks: [formats], reason: "docs", expires: "2099-12-31"}\n',
        signed("team-a", **{"model.bin": clean_pickle()}),
        1,
        "format.not_allowed",
    ),
    Scenario(
        "exception-never-waives-deny",
        rules(rule(signatures="{anyOf: [team-a, revoked]}"), head=DENY_REVOKED)
        + '  exceptions:\n  - {paths: ["**"], checks: [signatures], reason: "x", expires: "2099-12-31"}\n',
        signed("revoked"),
        1,
        "deny.signer",
    ),
    # --- matching --------------------------------------------------------------------
    Scenario(
        "unmatched-file-denied",
        rules(rule(paths='["*.safetensors"]')),
        signed("team-a"),
        1,
        "file.unmatched",
    ),
    Scenario(
        "unmatched-file-warn",
        rules(rule(paths='["*.safetensors"]'), head="  unmatchedFiles: warn\n"),
        signed("team-a"),
        0,
        "file.unmatched",
        severity="warning",
    ),
    Scenario(
        "unmatched-file-allowed",
        rules(rule(paths='["*.safetensors"]'), head="  unmatchedFiles: allow\n"),
        signed("team-a"),
        0,
        "file.unmatched_allowed",
        Status.SKIPPED,
    ),
    Scenario(
        "root-anchored-glob-misses-nested",
        rules(rule(paths='["*.safetensors", "*.json"]')),
        signed("team-a", **{"sub__config.json": b"{}"}),
        1,
        "file.unmatched",
    ),
    Scenario(
        "double-star-covers-hidden-and-nested",
        rules(rule(paths='["**/*.safetensors", "**/*.json"]', extra=SAFE)),
        signed("team-a", **{".hidden__w.safetensors": safetensors_bytes(), "a__b__c.json": b"{}"}),
        0,
        "signature.ok",
        Status.PASSED,
    ),
    Scenario(
        "spaces-and-unicode-names",
        rules(
            rule(
                paths='["*.safetensors", "*.json", "my model/w 1.safetensors", "模型/*.safetensors"]',
                extra=SAFE,
            )
        ),
        signed(
            "team-a",
            **{
                "my model__w 1.safetensors": safetensors_bytes(),
                "模型__权重.safetensors": safetensors_bytes(),
            },
        ),
        0,
        "format.ok",
        Status.PASSED,
    ),
    Scenario(
        "all-matching-rules-must-pass",
        rules(
            rule(),
            rule(name="weights", paths='["**/*.safetensors"]', signatures="{anyOf: [team-b]}"),
        ),
        signed("team-a"),
        1,
        "signature.signer_not_allowed",
    ),
    Scenario(
        "empty-model", STANDARD, lambda k, m: (m.mkdir(parents=True), {})[1], 1, "model.empty"
    ),
]


def _flip_signature(sig: Path) -> None:
    import base64
    import json

    doc = json.loads(sig.read_text())
    raw = bytearray(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
    raw[-1] ^= 1
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    sig.write_text(json.dumps(doc))


def _special_spec(kit: Kit, scenario: Scenario, model: Path) -> str:
    if scenario.spec == "KEYID":
        return f'  deny:\n    keyIds: ["{kit.key_id("team-a")}"]\n' + STANDARD
    if scenario.spec == "PIN_OK":
        digest = file_sha256(model / "weights.safetensors")
        return rules(rule(extra=SAFE + f'\ndigests: {{weights.safetensors: "sha256:{digest}"}}'))
    if scenario.spec == "DENY_DIGEST":
        digest = file_sha256(model / "config.json")
        return f'  deny:\n    digests: ["sha256:{digest}"]\n' + STANDARD
    return scenario.spec


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(kit: Kit, tmp_path: Path, scenario: Scenario) -> None:
    model = tmp_path / "model"
    kw = scenario.build(kit, model)
    policy = kit.policy(tmp_path / "policy", _special_spec(kit, scenario, model))
    result = kit.gate(model, policy, **kw)
    report = result.report()
    found = [c for c in result.decision.checks if c.code == scenario.code]
    summary = [(c.status.value, c.code, c.path) for c in result.decision.checks]
    assert found, f"{scenario.code} not among {summary}"
    assert any(c.status is scenario.status for c in found), summary
    assert int(report.exit_code) == scenario.exit, summary
    if scenario.severity is not None:
        reasons = [r for r in report.reasons if r.code == scenario.code]
        assert reasons and reasons[0].severity == scenario.severity
    # Whatever happens, the JSON report carries the policy's own digest.
    assert report.to_json_dict()["policy"]["digest"].startswith("sha256:")


def test_at_least_forty_scenarios() -> None:
    assert len(SCENARIOS) >= 40
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)


def test_symlink_is_refused_and_blocks_even_in_warn_mode(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    os.symlink(model / "config.json", model / "link.json")
    policy = kit.policy(tmp_path / "p", rules(rule(extra=SAFE), head="  mode: warn\n"))
    result = kit.gate(model, policy)
    codes = {(c.status, c.code) for c in result.decision.checks}
    assert (Status.FAILED, "model.symlink") in codes
    assert result.report().exit_code == 1


def test_override_refused_unless_allowed(kit: Kit, tmp_path: Path) -> None:
    from weightguard.errors import UsageError

    model = default_model(tmp_path / "model", **{"model.bin": clean_pickle()})
    kit.sign(model, "team-a")
    strict = kit.policy(tmp_path / "strict", STANDARD)
    with pytest.raises(UsageError) as err:
        kit.gate(model, strict, overrides=Overrides(mode="warn"))
    assert err.value.code == "policy.override_refused" and err.value.exit_code == 2
    with pytest.raises(UsageError):
        kit.gate(model, strict, overrides=Overrides(allow_unsigned_files=True))
    # A stronger mode is always fine; with allowOverrides a weaker one is applied and reported.
    assert kit.gate(model, strict, overrides=Overrides(mode="enforce")).report().exit_code == 1
    loose = kit.policy(tmp_path / "loose", rules(rule(extra=SAFE), head="  allowOverrides: true\n"))
    result = kit.gate(model, loose, overrides=Overrides(mode="warn"))
    assert result.report().exit_code == 0
    assert result.report().to_json_dict()["policy"]["overrides"] == ["--mode warn"]


def test_warn_and_enforce_report_the_same_detail(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model", **{"model.bin": EVIL_PICKLE})
    kit.sign(model, "rogue")
    spec = rules(rule(extra=MIGRATION))
    enforce = kit.gate(model, kit.policy(tmp_path / "e", spec))
    warn = kit.gate(model, kit.policy(tmp_path / "w", "  mode: warn\n" + spec))
    audit = kit.gate(model, kit.policy(tmp_path / "a", "  mode: audit\n" + spec))

    def key(r: Any) -> list[tuple[str, str, str | None]]:
        return [(c.status.value, c.code, c.path) for c in r.decision.checks]

    assert key(enforce) == key(warn) == key(audit)
    assert [r.severity for r in enforce.report().reasons if r.code == "scan.unsafe"] == ["error"]
    assert [r.severity for r in warn.report().reasons if r.code == "scan.unsafe"] == ["warning"]
    assert [r.severity for r in audit.report().reasons if r.code == "scan.unsafe"] == ["info"]
    assert (enforce.report().exit_code, warn.report().exit_code, audit.report().exit_code) == (
        1,
        0,
        0,
    )


def test_single_file_model(kit: Kit, tmp_path: Path) -> None:
    from weightguard.api import sign

    weights = tmp_path / "m" / "llm.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(safetensors_bytes())
    sign(weights, kit.signer("team-a"))
    policy = kit.policy(tmp_path / "p", rules(rule(paths='["*.safetensors"]', extra=SAFE)))
    result = kit.gate(weights, policy)
    assert result.report().exit_code == 0
    assert [c.path for c in result.decision.checks if c.code == "signature.ok"] == [
        "llm.safetensors"
    ]


def test_explicit_signature_and_attestation_paths(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    sig = kit.sign(model, "team-a", dest=tmp_path / "elsewhere" / "a.sig")
    co = kit.sign(model, "team-b", dest=tmp_path / "elsewhere" / "b.sig")
    att = kit.attest(
        tmp_path / "atts" / "slsa.json",
        "team-a",
        SLSA,
        file_sha256(model / "weights.safetensors"),
        SLSA_OK,
    )
    spec = rules(
        rule(signatures="{allOf: [team-a, team-b]}"),
        rule(name="provenance", paths='["*.safetensors"]', extra=SLSA_RULE),
    )
    policy = kit.policy(tmp_path / "p", spec)
    result = kit.gate(model, policy, signatures=[sig, co], attestations=[att.parent])
    assert result.report().exit_code == 0, [
        (c.code, c.path) for c in result.decision.checks if c.status is Status.FAILED
    ]
    # An attestation given as a --signature is refused: signatures must be OMS statements.
    bad = kit.gate(model, policy, signatures=[sig, att])
    assert any(c.code == "bundle.not_a_signature" for c in bad.decision.checks)
    assert bad.report().exit_code == 1


def test_write_model_helper_paths(tmp_path: Path) -> None:
    root = write_model(tmp_path / "m", {"a/b.bin": b"x"})
    assert (root / "a" / "b.bin").read_bytes() == b"x"


def test_one_signature_never_counts_twice(kit: Kit, tmp_path: Path) -> None:
    """Two signer entries that both accept the same certificate, and a copied bundle: the
    one real signature must not meet a threshold of two."""
    model = default_model(tmp_path / "model")
    kit.sign(model, "corp")
    (model / "model.sig.d").mkdir()
    (model / "model.sig.d" / "copy.sig").write_bytes((model / "model.sig").read_bytes())
    base = tmp_path / "p"
    roots = kit.roots_yaml(base)  # writes trust/root.pem, pinned
    spec = (
        "  signers:\n"
        f"    by-san: {{x509: {{roots: {roots}, identity: {{san: {kit.pki.san}}}}}}}\n"
        f"    by-subject: {{x509: {{roots: {roots}, identity: {{subject: CN=leaf}}}}}}\n"
        + rules(rule(signatures="{threshold: 2, of: [by-san, by-subject]}"))
    )
    policy = kit.policy(base, spec, signers=False)
    result = kit.gate(model, policy)
    sigs = result.to_json_dict()["signatures"]
    assert all(set(s["signers"]) == {"by-san", "by-subject"} for s in sigs)
    codes = {(c.status, c.code) for c in result.decision.checks}
    assert (Status.FAILED, "signature.threshold_not_met") in codes
    assert result.report().exit_code == 1


def test_unsigned_statement_in_evidence_folder(kit: Kit, tmp_path: Path) -> None:
    import json

    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    stmt = {"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": SLSA}
    (model / "model.sig.d").mkdir()
    (model / "model.sig.d" / "plain.json").write_text(json.dumps(stmt))
    result = kit.gate(model, kit.policy(tmp_path / "p", STANDARD))
    codes = {(c.status, c.code) for c in result.decision.checks}
    assert (Status.FAILED, "evidence.unsigned") in codes
    assert result.report().exit_code == 1
