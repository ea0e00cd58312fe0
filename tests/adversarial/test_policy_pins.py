"""Class 6: everything the policy trusts is pinned.

`--policy-digest` pins the YAML, and keys were pinned by `keyId`, but X.509 root files
and Sigstore trusted roots were named by path only: whoever could replace a mounted
trust file (a ConfigMap/Secret, a shared volume) chose who is trusted, under an
unchanged policy digest. Every trust file is now pinned by digest inside the policy, and
the bytes that were hashed are the bytes parsed (the Sigstore trusted root used to be
re-read from its path at verification time).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.models import make_pki
from tests.unit.policy.kit import Kit, default_model, make_kit
from weightguard.cli import cli
from weightguard.policy import PolicyError
from weightguard.policy.load import load_policy, parse_policy
from weightguard.signing.x509 import CertificateSigner


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("kit"))


def _spec(kit: Kit, roots: str) -> str:
    return (
        "  signers:\n"
        f"    corp: {{x509: {{roots: {roots}, identity: {{san: {kit.pki.san}}}}}}}\n"
        "  rules:\n  - name: all\n    paths: ['**']\n    signatures: {anyOf: [corp]}\n"
    )


def test_swapped_root_file_never_changes_who_is_trusted(
    kit: Kit, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The attacker replaces the mounted root with their own CA and signs with it."""
    base = tmp_path / "p"
    pinned = kit.roots_yaml(base)
    policy = kit.policy(base, _spec(kit, pinned), signers=False)
    assert load_policy(policy)  # the honest root loads
    evil = make_pki(tmp_path_factory.mktemp("evil-pki"))  # same SAN, attacker's own CA
    (base / "trust" / "root.pem").write_bytes(evil.root.read_bytes())
    model = default_model(tmp_path / "model")
    signer = CertificateSigner.from_files(evil.leaf_key, evil.leaf_cert, [evil.intermediate])
    from weightguard.bundle import encode_statement, statement_for_manifest
    from weightguard.manifest import build_manifest, enumerate_model

    inv = enumerate_model(model, ignore_paths=["model.sig"])
    stmt = encode_statement(statement_for_manifest(build_manifest(inv)))
    (model / "model.sig").write_bytes(signer.sign_payload(stmt))
    with pytest.raises(PolicyError) as err:
        load_policy(policy)
    assert err.value.code == "policy.trust_digest_mismatch"
    assert err.value.exit_code == 2


def test_unpinned_root_is_refused_with_the_digest_to_pin(kit: Kit, tmp_path: Path) -> None:
    base = tmp_path / "p"
    kit.roots_yaml(base)
    policy = kit.policy(base, _spec(kit, "[trust/root.pem]"), signers=False)
    # Before: loaded, and trusted whatever trust/root.pem held at load time.
    _, problems = parse_policy(policy.read_bytes(), str(policy))
    assert [p.code for p in problems] == ["policy.trust_unpinned"]
    digest = hashlib.sha256((base / "trust" / "root.pem").read_bytes()).hexdigest()
    assert f"sha256:{digest}" in problems[0].message
    result = CliRunner().invoke(cli, ["policy", "lint", str(policy)])
    assert result.exit_code == 2 and "policy.trust_unpinned" in result.stdout


def test_unpinned_sigstore_trusted_root_is_refused(kit: Kit, tmp_path: Path) -> None:
    pytest.importorskip("sigstore")
    from weightguard.signing.trust_root import TrustRoot

    base = tmp_path / "p"
    base.mkdir()
    embedded = TrustRoot.embedded("production")
    (base / "trusted_root.json").write_bytes(embedded.path.read_bytes())
    digest = hashlib.sha256((base / "trusted_root.json").read_bytes()).hexdigest()

    def spec(root: str) -> str:
        return (
            "  signers:\n    ci:\n      sigstore:\n"
            "        issuer: https://token.actions.githubusercontent.com\n"
            "        identity: {exact: 'https://github.com/acme/m/.github/workflows/r.yml@refs/tags/v1'}\n"
            f"        trustedRoot: {root}\n"
            "  rules:\n  - name: all\n    paths: ['**']\n    signatures: {anyOf: [ci]}\n"
        )

    bare = kit.policy(base, spec("trusted_root.json"), signers=False)
    with pytest.raises(PolicyError) as err:
        load_policy(bare)
    assert err.value.code == "policy.trust_unpinned"
    pinned = kit.policy(
        base, spec(f'{{file: trusted_root.json, digest: "sha256:{digest}"}}'), signers=False
    )
    loaded = load_policy(pinned)
    trust = loaded.signers["ci"].trust  # type: ignore[union-attr]
    assert trust is not None
    # Swapping the file after load changes nothing: the pinned bytes are what is parsed.
    doc = json.loads((base / "trusted_root.json").read_bytes())
    doc["certificateAuthorities"] = []
    (base / "trusted_root.json").write_text(json.dumps(doc))
    assert trust.sigstore_trusted_root() is not None
    assert hashlib.sha256(trust.data).hexdigest() == digest
    with pytest.raises(PolicyError) as err:
        load_policy(pinned)
    assert err.value.code == "policy.trust_digest_mismatch"


def test_embedded_root_needs_no_pin(kit: Kit, tmp_path: Path) -> None:
    pytest.importorskip("sigstore")
    spec = (
        "  signers:\n    ci:\n      sigstore:\n"
        "        issuer: https://token.actions.githubusercontent.com\n"
        "        identity: {exact: 'https://github.com/acme/m/.github/workflows/r.yml@refs/tags/v1'}\n"
        "        trustedRoot: embedded:production\n"
        "  rules:\n  - name: all\n    paths: ['**']\n    signatures: {anyOf: [ci]}\n"
    )
    assert load_policy(kit.policy(tmp_path / "p", spec, signers=False))


def test_pinned_root_still_verifies(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "corp")
    base = tmp_path / "p"
    policy = kit.policy(base, _spec(kit, kit.roots_yaml(base)), signers=False)
    assert kit.gate(model, policy).report().exit_code == 0


@pytest.mark.parametrize("shipped", ["default", "strict-prod", "migration", "k8s-init"])
def test_shipped_policies_pin_every_trust_file(shipped: str) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert load_policy(repo / "policies" / f"{shipped}.yaml")
