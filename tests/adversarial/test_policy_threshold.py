"""Class 4: a threshold counts signers, not signature bytes.

ECDSA is malleable: if (r, s) verifies, so does (r, n - s). "A copy of a bundle counts
once" was keyed on the signature bytes, so anyone holding ONE signed bundle could mint
a second, byte-different bundle from the same signing event and fill two slots of a
threshold whenever two signer definitions accept the same certificate. One key pair
(or one certificate identity) is one vote, whichever signer definitions it satisfies.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tests.unit.policy.kit import Kit, default_model, make_kit
from weightguard.policy.evaluate import Status
from weightguard.signing.ec import EcKeySigner

# Group orders of the NIST curves the kit's keys use.
ORDERS = {
    256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    384: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("kit"))


def malleate(bundle_path: Path, dest: Path, bits: int) -> Path:
    """Write the (r, n - s) twin of a bundle's signature: a different, valid bundle."""
    doc = json.loads(bundle_path.read_bytes())
    sig_entry = doc["dsseEnvelope"]["signatures"][0]
    r, s = decode_dss_signature(base64.b64decode(sig_entry["sig"]))
    twin = encode_dss_signature(r, ORDERS[bits] - s)
    assert twin != base64.b64decode(sig_entry["sig"])
    sig_entry["sig"] = base64.b64encode(twin).decode()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(doc))
    return dest


def _leaf_bits(kit: Kit) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificate(kit.pki.leaf_cert.read_bytes()).public_key().key_size  # type: ignore[union-attr]


def two_views_of_corp(kit: Kit, base: Path, combinator: str) -> Path:
    """Two signer definitions that both accept the kit's one leaf certificate."""
    roots = kit.roots_yaml(base)
    spec = (
        "  signers:\n"
        f"    by-san: {{x509: {{roots: {roots}, identity: {{san: {kit.pki.san}}}}}}}\n"
        f"    by-subject: {{x509: {{roots: {roots}, identity: {{subject: CN=leaf}}}}}}\n"
        "  rules:\n  - name: all\n    paths: ['**']\n"
        f"    signatures: {combinator}\n"
    )
    return kit.policy(base, spec, signers=False)


def _codes(result: object) -> set[tuple[Status, str]]:
    return {(c.status, c.code) for c in result.decision.checks}  # type: ignore[attr-defined]


def test_malleated_twin_does_not_fill_a_second_slot(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    sig = kit.sign(model, "corp")
    malleate(sig, model / "model.sig.d" / "twin.sig", _leaf_bits(kit))
    policy = two_views_of_corp(kit, tmp_path / "p", "{threshold: 2, of: [by-san, by-subject]}")
    result = kit.gate(model, policy)
    # The twin is a genuinely valid signature (so its facts list both definitions) ...
    assert all(
        set(s["signers"]) == {"by-san", "by-subject"} for s in result.to_json_dict()["signatures"]
    )
    # ... but one signing event is one vote. Before the fix: exit 0, 2 of 2 "signers".
    assert (Status.FAILED, "signature.threshold_not_met") in _codes(result)
    assert result.report().exit_code == 1


def test_one_identity_signing_twice_is_one_vote(kit: Kit, tmp_path: Path) -> None:
    """Two separate signings by the same certificate (fresh ECDSA nonces, different
    bytes): still one signer."""
    model = default_model(tmp_path / "model")
    kit.sign(model, "corp")
    kit.cosign(model, "corp")
    policy = two_views_of_corp(kit, tmp_path / "p", "{allOf: [by-san, by-subject]}")
    result = kit.gate(model, policy)
    assert (Status.FAILED, "signature.threshold_not_met") in _codes(result)
    assert result.report().exit_code == 1


def test_one_key_pair_bare_and_in_a_certificate_is_one_vote(kit: Kit, tmp_path: Path) -> None:
    """The certificate's key also defined as a bare key signer: one key pair, one vote."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from weightguard.signing.keys import key_hint, public_pem

    model = default_model(tmp_path / "model")
    kit.sign(model, "corp")
    leaf_signer = EcKeySigner.from_file(kit.pki.leaf_key)
    dest = model / "model.sig.d" / "bare.sig"
    dest.parent.mkdir(parents=True)
    from weightguard.bundle import encode_statement, statement_for_manifest
    from weightguard.manifest import build_manifest, enumerate_model

    inv = enumerate_model(model, ignore_paths=["model.sig", "model.sig.d"])
    dest.write_bytes(
        leaf_signer.sign_payload(encode_statement(statement_for_manifest(build_manifest(inv))))
    )
    pub = x509.load_pem_x509_certificate(kit.pki.leaf_cert.read_bytes()).public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    base = tmp_path / "p"
    roots = kit.roots_yaml(base)
    (base / "trust" / "leaf.pub.pem").write_bytes(public_pem(pub))
    spec = (
        "  signers:\n"
        f"    corp: {{x509: {{roots: {roots}, identity: {{san: {kit.pki.san}}}}}}}\n"
        "    leaf-key: {key: {publicKey: trust/leaf.pub.pem, "
        f'keyId: "sha256:{key_hint(pub)}"}}}}\n'
        "  rules:\n  - name: all\n    paths: ['**']\n"
        "    signatures: {allOf: [corp, leaf-key]}\n"
    )
    result = kit.gate(model, kit.policy(base, spec, signers=False))
    assert (Status.FAILED, "signature.threshold_not_met") in _codes(result)
    assert result.report().exit_code == 1


def test_two_real_signers_still_meet_the_threshold(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    kit.cosign(model, "team-b")
    kit.cosign(model, "corp")
    spec = "  rules:\n  - name: all\n    paths: ['**']\n"
    spec += "    signatures: {threshold: 3, of: [team-a, team-b, corp]}\n"
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert (Status.PASSED, "signature.ok") in _codes(result)
    assert result.report().exit_code == 0


def test_a_key_twin_is_still_a_valid_signature(kit: Kit, tmp_path: Path) -> None:
    """The twin is a real signature: with anyOf it is accepted (nothing else breaks)."""
    model = default_model(tmp_path / "model")
    sig = kit.sign(model, "team-a", dest=tmp_path / "orig.sig")
    malleate(sig, model / "model.sig", 256)
    spec = "  rules:\n  - name: all\n    paths: ['**']\n    signatures: {anyOf: [team-a]}\n"
    result = kit.gate(model, kit.policy(tmp_path / "p", spec))
    assert result.report().exit_code == 0
