"""`weightguard scan --attest`: a signed scan/v1 statement the policy gate accepts as scan
evidence (key-signed here; keyless in tests/integration/test_ci_flows.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
from pathlib import Path

import pytest

from tests.models import run_cli

POLICY = """apiVersion: weightguard.dev/v1
kind: Policy
metadata: {{name: attested}}
spec:
  signers:
    ci: {{key: {{publicKey: {pub}, keyId: "sha256:{key_id}"}}}}
  rules:
    - name: all
      paths: ["**"]
      signatures: {{anyOf: [ci]}}
      scan: {{source: attestation, signers: [ci], formats: [pickle, safetensors]}}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    assert run_cli("keygen", "--out", tmp_path / "ci.pem").rc == 0
    policy = tmp_path / "policy.yaml"
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from weightguard.signing.keys import key_hint

    pub = tmp_path / "ci.pub.pem"
    key_id = key_hint(load_pem_public_key(pub.read_bytes()))  # type: ignore[arg-type]
    policy.write_text(POLICY.format(pub=pub, key_id=key_id))
    return model, tmp_path / "ci.pem", policy


def statement(path: Path) -> dict[str, object]:
    bundle = json.loads(path.read_text())
    doc: dict[str, object] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return doc


def test_attestation_is_signed_about_each_file_and_the_gate_accepts_it(
    setup: tuple[Path, Path, Path],
) -> None:
    model, key, policy = setup
    out = model / "model.sig.d" / "scan.json"
    r = run_cli("scan", model, "--attest", out, "--sign-key", key)
    assert r.rc == 0, r.stderr
    assert "wrote signed scan attestation" in r.stderr
    doc = statement(out)
    assert doc["predicateType"] == "https://weightguard.dev/scan/v1"
    assert doc["predicate"]["outcome"] == "clean"  # type: ignore[index]
    digest = hashlib.sha256((model / "weights.pkl").read_bytes()).hexdigest()
    assert {"name": str(model / "weights.pkl"), "digest": {"sha256": digest}} in doc["subject"]  # type: ignore[operator]
    assert run_cli("sign", model, "--key", key).rc == 0
    ok = run_cli("verify", model, "--policy", policy)
    assert ok.rc == 0, ok.stdout + ok.stderr
    # The file changes after the scan: the attestation is about other content.
    (model / "weights.pkl").write_bytes(pickle.dumps({"w": [3.0]}, protocol=4))
    assert run_cli("sign", model, "--key", key, "--force").rc == 0
    bad = run_cli("verify", model, "--policy", policy, "--format", "json")
    assert bad.rc == 1
    assert "scan.subject_mismatch" in bad.stdout


def test_unsafe_scan_is_attested_unsafe_and_refused(setup: tuple[Path, Path, Path]) -> None:
    model, key, policy = setup
    (model / "evil.pkl").write_bytes(b"\x80\x04cos\nsystem\n(S'id'\ntR.")
    out = model / "model.sig.d" / "scan.json"
    r = run_cli("scan", model, "--attest", out, "--sign-key", key)
    assert r.rc == 1
    assert statement(out)["predicate"]["outcome"] == "unsafe"  # type: ignore[index]
    assert run_cli("sign", model, "--key", key).rc == 0
    bad = run_cli("verify", model, "--policy", policy, "--format", "json")
    assert bad.rc == 1 and "scan.not_clean" in bad.stdout


@pytest.mark.parametrize(
    "args",
    [["--attest", "x.json"], ["--sign-key", "k.pem"], ["--sigstore"], ["--identity-token", "t"]],
)
def test_attest_and_signer_go_together(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(1))
    r = run_cli("scan", tmp_path / "a.pkl", *args, cwd=tmp_path)
    assert r.rc == 2, r.stderr
    assert not (tmp_path / "x.json").exists()
