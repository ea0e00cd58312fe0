"""The shipped example policies: each lints clean as shipped, and each is exercised.

To exercise a policy with real signatures, the test copies it next to freshly generated
keys: every example key file is replaced by a test key and its pinned keyId by that
key's id. Nothing else in the policy text changes. `strict-prod.yaml` (keyless) is
exercised through the pure evaluator with the facts a verified keyless release has, and
end to end against the local fake Sigstore stack (tests/fake_sigstore.py).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from tests.unit.policy.kit import (
    EVIL_PICKLE,
    Kit,
    clean_pickle,
    default_model,
    make_kit,
    truncated_pickle,
)
from weightguard.policy.evaluate import Status, evaluate
from weightguard.policy.evidence import BundleFacts, Evidence, FileFacts, StatementFacts
from weightguard.policy.load import load_policy
from weightguard.signing import SignerInfo
from weightguard.signing.keys import key_hint, load_public_key

REPO = Path(__file__).resolve().parents[3]
POLICIES = REPO / "policies"
EXAMPLES = sorted(POLICIES.glob("*.yaml"))


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("examples-kit"))


def test_the_four_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "default.yaml",
        "strict-prod.yaml",
        "migration.yaml",
        "k8s-init.yaml",
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_lints_clean(path: Path) -> None:
    policy = load_policy(path)
    assert policy.rules and policy.signers
    assert policy.mode in ("enforce", "warn")


def with_test_keys(kit: Kit, name: str, tmp: Path, keys: dict[str, str]) -> Path:
    """Copy policies/NAME next to test keys: example key file -> kit key name."""
    text = (POLICIES / name).read_text()
    (tmp / "trust").mkdir(parents=True, exist_ok=True)
    for example_file, kit_key in keys.items():
        shipped = POLICIES / "trust" / example_file
        old_id = "sha256:" + key_hint(load_public_key(shipped))
        assert old_id in text, f"{name} does not pin {example_file}"
        text = text.replace(old_id, kit.key_id(kit_key))
        shutil.copy(kit.keys / f"{kit_key}.pub.pem", tmp / "trust" / example_file)
    out = tmp / name
    out.write_text(text)
    return out


def codes(result: object) -> set[tuple[str, str]]:
    decision = result.decision  # type: ignore[attr-defined]
    return {(c.status.value, c.code) for c in decision.checks}


TEAM = {"ml-team-alice.pub.pem": "team-a", "ml-team-bob.pub.pem": "team-b"}


def test_default_policy(kit: Kit, tmp_path: Path) -> None:
    policy = with_test_keys(kit, "default.yaml", tmp_path / "p", TEAM)
    good = default_model(tmp_path / "good", **{"tokenizer/vocab.txt": b"a\nb\n"})
    kit.sign(good, "team-b")
    assert kit.gate(good, policy).report().exit_code == 0
    pickled = default_model(tmp_path / "pickled", **{"weights.safetensors": clean_pickle()})
    kit.sign(pickled, "team-a")
    result = kit.gate(pickled, policy)
    assert result.report().exit_code == 1 and ("failed", "format.not_allowed") in codes(result)
    rogue = default_model(tmp_path / "rogue")
    kit.sign(rogue, "rogue")
    result = kit.gate(rogue, policy)
    assert result.report().exit_code == 1 and ("failed", "signature.untrusted") in codes(result)
    stray = default_model(tmp_path / "stray", **{"model.bin": clean_pickle()})
    kit.sign(stray, "team-a")
    result = kit.gate(stray, policy)
    assert result.report().exit_code == 1 and ("failed", "file.unmatched") in codes(result)


def test_migration_policy(kit: Kit, tmp_path: Path) -> None:
    policy = with_test_keys(kit, "migration.yaml", tmp_path / "p", TEAM)
    ok = default_model(tmp_path / "ok", **{"pytorch_model.bin": clean_pickle()})
    kit.sign(ok, "team-a")
    result = kit.gate(ok, policy)
    assert result.report().exit_code == 0 and ("passed", "scan.clean") in codes(result)
    evil = default_model(tmp_path / "evil", **{"pytorch_model.bin": EVIL_PICKLE})
    kit.sign(evil, "team-a")
    result = kit.gate(evil, policy)  # warn mode: reported, not enforced
    assert result.report().exit_code == 0 and ("failed", "scan.unsafe") in codes(result)
    assert [r.severity for r in result.report().reasons if r.code == "scan.unsafe"] == ["warning"]
    broken = default_model(tmp_path / "broken", **{"pytorch_model.bin": truncated_pickle()})
    kit.sign(broken, "team-a")
    assert kit.gate(broken, policy).report().exit_code == 3  # could not check: never softened
    legacy = default_model(tmp_path / "legacy", **{"legacy/old.bin": b"PK\x05\x06" + bytes(18)})
    kit.sign(legacy, "team-a")
    result = kit.gate(legacy, policy)
    assert ("excepted", "format.denied") in codes(result)


def test_k8s_init_policy(kit: Kit, tmp_path: Path) -> None:
    policy = with_test_keys(kit, "k8s-init.yaml", tmp_path / "p", {"signing-key.pub.pem": "team-c"})
    model = default_model(tmp_path / "llm")
    kit.sign(model, "team-c")
    assert kit.gate(model, policy).report().exit_code == 0
    (model / "extra.txt").write_text("surprise")
    result = kit.gate(model, policy)
    assert result.report().exit_code == 1 and ("failed", "file.unsigned") in codes(result)


def _keyless(version: str, when: str) -> BundleFacts:
    info = SignerInfo(
        "sigstore",
        "https://github.com/acme/models/.github/workflows/model-weights.yml@refs/tags/v2.4.0",
        {"issuer": "https://token.actions.githubusercontent.com", "verified_time": when},
    )
    return BundleFacts(
        "model.sig",
        signers=("release-ci",),
        infos=(info,),
        root_digest="ab" * 32,
        files={"model.safetensors": "ok", "config.json": "ok"},
        version=version,
        signed_at=dt.datetime.fromisoformat(when),
        time_verified=True,
    )


def _smoke(signer: str = "release-ci") -> StatementFacts:
    return StatementFacts(
        "model.sig.d/smoke.json",
        "https://weightguard.dev/smoke/v1",
        (("model", {"sha256": "ab" * 32}),),
        {"outcome": "recorded"},
        (signer,) if signer else (),
    )


DEFAULT_SCANNER = "profiles=default;allow="
FILES = (
    FileFacts("model.safetensors", 100, "safetensors", "11" * 32, {DEFAULT_SCANNER: ("clean", "")}),
    FileFacts("config.json", 10, "json", "22" * 32),
)


@pytest.mark.parametrize(
    ("bundle", "statements", "files", "exit_code", "code"),
    [
        (_keyless("2.4.0", "2026-09-01T00:00:00+00:00"), (_smoke(),), FILES, 0, "smoke.ok"),
        (
            _keyless("2.2.9", "2026-09-01T00:00:00+00:00"),
            (_smoke(),),
            FILES,
            1,
            "rollback.below_floor",
        ),
        (
            _keyless("2.4.0", "2026-01-01T00:00:00+00:00"),
            (_smoke(),),
            FILES,
            1,
            "rollback.signed_too_early",
        ),
        (_keyless("2.4.0", "2026-09-01T00:00:00+00:00"), (), FILES, 1, "smoke.missing"),
        (
            _keyless("2.4.0", "2026-09-01T00:00:00+00:00"),
            (_smoke(),),
            (
                FileFacts(
                    "model.safetensors",
                    100,
                    "safetensors",
                    "11" * 32,
                    {DEFAULT_SCANNER: ("unsafe", "os.system (global.denied)")},
                ),
                FILES[1],
            ),
            1,
            "scan.unsafe",
        ),
    ],
)
def test_strict_prod_policy_decisions(
    bundle: BundleFacts,
    statements: tuple[StatementFacts, ...],
    files: tuple[FileFacts, ...],
    exit_code: int,
    code: str,
) -> None:
    policy = load_policy(POLICIES / "strict-prod.yaml")
    # The smoke record is about the whole model: the inventory's root digest (class 1 of
    # the threat model: a bundle's root is never "the model" by itself).
    evidence = Evidence("m", files, (bundle,), statements, model_digest="ab" * 32)
    decision = evaluate(policy, evidence)
    assert int(decision.verdict.exit_code) == exit_code
    assert any(c.code == code for c in decision.checks), [c.code for c in decision.checks]
    if exit_code == 0:
        assert decision.count(Status.FAILED) == 0


ISSUER = "https://idp.weightguard.test"
RELEASE = "https://github.com/acme/models/.github/workflows/model-weights.yml@refs/tags/v2.4.0"


def test_strict_prod_keyless_end_to_end(tmp_path: Path) -> None:
    """Real keyless signatures from the local fake Sigstore stack, verified offline."""
    pytest.importorskip("sigstore", reason="sigstore extra not installed")
    import hashlib
    import json

    from tests.fake_sigstore import FakeSigstore
    from weightguard.attestation import make_statement, sign_statement
    from weightguard.bundle import encode_statement, statement_for_manifest
    from weightguard.gate import run_gate
    from weightguard.manifest import build_manifest, enumerate_model
    from weightguard.signing.sigstore import SigstoreSigner

    fake = FakeSigstore(ISSUER).start()
    idp, stop, client_config = fake.idp, fake.stop, fake.client_trust_config()
    try:
        config = tmp_path / "trust_config.json"
        config.write_text(json.dumps(client_config))
        (tmp_path / "trusted_root.json").write_text(json.dumps(client_config["trustedRoot"]))
        signer = SigstoreSigner(identity_token=idp.token(RELEASE), trust_config=config)
        model = default_model(tmp_path / "model")
        manifest = build_manifest(enumerate_model(model, ignore_paths=["model.sig"]))
        statement = statement_for_manifest(manifest)
        statement["predicate"]["weightguard_version"] = "2.4.0"
        (model / "model.sig").write_bytes(signer.sign_payload(encode_statement(statement)))
        from tests.unit.policy.test_scenarios import smoke_predicate

        smoke = make_statement(
            [("model", {"sha256": manifest.root_digest})],
            "https://weightguard.dev/smoke/v1",
            smoke_predicate("recorded"),
        )
        (model / "model.sig.d").mkdir()
        (model / "model.sig.d" / "smoke.json").write_bytes(sign_statement(smoke, signer))
    finally:
        stop()
    text = (POLICIES / "strict-prod.yaml").read_text()
    text = text.replace("https://token.actions.githubusercontent.com", ISSUER)
    # The fake Fulcio sets no GitHub extensions; the private instance's root is pinned.
    text = text.replace(
        "        extensions:\n          sourceRepositoryURI: https://github.com/acme/models\n", ""
    )
    root_digest = hashlib.sha256((tmp_path / "trusted_root.json").read_bytes()).hexdigest()
    text = text.replace(
        '# trustedRoot: {file: trust/trusted_root.json, digest: "sha256:<hex>"}',
        f'trustedRoot: {{file: trusted_root.json, digest: "sha256:{root_digest}"}}',
    )
    policy_path = tmp_path / "strict-prod.yaml"
    policy_path.write_text(text)
    policy = load_policy(policy_path)
    result = run_gate(model, policy)
    failed = [(c.code, c.message) for c in result.decision.checks if c.status is Status.FAILED]
    assert result.report().exit_code == 0, failed
    assert {
        "signature.ok",
        "smoke.ok",
        "rollback.version_ok",
        "rollback.time_ok",
        "scan.clean",
    } <= {c.code for c in result.decision.checks}
    # The same signatures under the public-good root: not trusted, rejected.
    public = load_policy(POLICIES / "strict-prod.yaml")
    assert run_gate(model, public).report().exit_code == 1
