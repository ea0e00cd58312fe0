"""Class 7: deny lists and patterns match exactly.

A revocation that validates but can never match is worse than none: the operator
believes the key or model is blocked. Values used to be validated with ``re.match``
and ``$``, which accepts a trailing newline (a YAML ``|`` block or a ``"...\\n"``
scalar); the stored value kept the newline, so it never equalled the digest or key id
it revoked. Identities were compared case-sensitively while the names they revoke are
case-insensitive (e-mail domains, URIs' host) for the operator writing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.policy.kit import Kit, default_model, file_sha256, make_kit
from weightguard.policy import PolicyError
from weightguard.policy.load import load_policy, parse_policy


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("kit"))


RULES = '  rules:\n  - name: all\n    paths: ["**"]\n    signatures: {anyOf: [team-a, corp]}\n'


def _codes(problems: list[object]) -> list[str]:
    return [getattr(p, "code", "") for p in problems]


@pytest.mark.parametrize("tail", ["\\n", " ", "\\t", "\\r\\n"])
def test_deny_digest_with_trailing_whitespace_is_refused(
    kit: Kit, tmp_path: Path, tail: str
) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    bad = f"sha256:{file_sha256(model / 'weights.safetensors')}"
    policy = kit.policy(tmp_path / "p", f'  deny: {{digests: ["{bad}{tail}"]}}\n' + RULES)
    # Before: the value validated, was stored with its newline and never matched: the
    # revoked weights were accepted (exit 0).
    with pytest.raises(PolicyError) as err:
        load_policy(policy)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("tail", ["\\n", " "])
def test_deny_key_id_with_trailing_whitespace_is_refused(
    kit: Kit, tmp_path: Path, tail: str
) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    policy = kit.policy(
        tmp_path / "p", f'  deny: {{keyIds: ["{kit.key_id("team-a")}{tail}"]}}\n' + RULES
    )
    with pytest.raises(PolicyError):
        load_policy(policy)


def test_block_scalar_revocation_is_refused(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    spec = f"  deny:\n    keyIds:\n    - |\n      {kit.key_id('team-a')}\n" + RULES
    with pytest.raises(PolicyError):
        load_policy(kit.policy(tmp_path / "p", spec))


@pytest.mark.parametrize(
    "identity",
    ['"{san}\\n"', '" {san}"', '{{exact: "{san}\\n"}}', '{{glob: "*@weightguard.test "}}'],
)
def test_deny_identity_with_stray_whitespace_is_refused(
    kit: Kit, tmp_path: Path, identity: str
) -> None:
    value = identity.format(san=kit.pki.san)
    policy = kit.policy(tmp_path / "p", f"  deny: {{identities: [{value}]}}\n" + RULES)
    with pytest.raises(PolicyError):
        load_policy(policy)


def test_deny_identity_matches_whatever_the_case(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "corp")
    shouted = kit.pki.san.upper()  # SIGNER@WEIGHTGUARD.TEST
    policy = kit.policy(tmp_path / "p", f"  deny: {{identities: [{shouted}]}}\n" + RULES)
    result = kit.gate(model, policy)
    codes = [c.code for c in result.decision.checks]
    # Before: the revoked signer was accepted (exit 0) because "SIGNER@..." != "signer@...".
    assert "deny.signer" in codes
    assert result.report().exit_code == 1


def test_deny_key_id_revokes_a_certificate_key_too(kit: Kit, tmp_path: Path) -> None:
    """A leaked key is revoked by its key id whether it signs bare or inside a certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from weightguard.signing.keys import key_hint

    pub = x509.load_pem_x509_certificate(kit.pki.leaf_cert.read_bytes()).public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    leaked = f"sha256:{key_hint(pub)}"
    model = default_model(tmp_path / "model")
    kit.sign(model, "corp")
    policy = kit.policy(tmp_path / "p", f'  deny: {{keyIds: ["{leaked}"]}}\n' + RULES)
    result = kit.gate(model, policy)
    assert "deny.signer" in [c.code for c in result.decision.checks]
    assert result.report().exit_code == 1


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("pin", '"sha256:{h}\\n"'),
        ("rule-name", '"all\\n"'),
        ("signer-name", None),
        ("version", '"2.3.0\\n"'),
        ("glob", '"*.json\\n"'),
    ],
)
def test_no_identifier_with_a_trailing_newline_validates(
    kit: Kit, tmp_path: Path, where: str, value: str | None
) -> None:
    h = "0" * 64
    base = tmp_path / "p"
    kit.policy(base, RULES)  # writes the trust files
    if where == "pin":
        spec = RULES + f'    digests: {{"config.json": {value.format(h=h)}}}\n'  # type: ignore[union-attr]
    elif where == "rule-name":
        spec = RULES.replace("name: all", f"name: {value}")
    elif where == "signer-name":
        spec = RULES.replace("[team-a, corp]", '["team-a\\n"]').replace(
            "  rules:",
            f'  signers:\n    "team-a\\n": {{key: {{publicKey: trust/team-a.pub.pem, '
            f'keyId: "{kit.key_id("team-a")}"}}}}\n  rules:',
        )
    elif where == "version":
        spec = f"  rollback: {{minVersion: {value}}}\n" + RULES
    else:
        spec = RULES.replace('["**"]', f'["**", {value}]')
    path = kit.policy(base, spec, signers=where != "signer-name")
    policy, problems = parse_policy(path.read_bytes(), str(path))
    assert policy is None and problems, f"{where}: {value!r} validated"
