"""Smoke records as evidence: signed with an x509 certificate chain (`--sign-cert`), or
keyless (`--sigstore`, against the test suite's own fake Fulcio/Rekor/OIDC stack,
tests/fake_sigstore.py, as tests/integration/test_sigstore_cli.py does), and read back with the matching verifier.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("transformers")

from tests.models import make_pki  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ISSUER = "https://idp.weightguard.test"
WORKFLOW = "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.2.0"


def cli(*args: Any) -> Any:
    from weightguard.cli import cli as group

    return CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    added = str(REPO) not in sys.path
    if added:
        sys.path.insert(0, str(REPO))
    from examples.models.hf_tiny import make

    yield make("gpt2", tmp_path_factory.mktemp("signed-rec") / "gpt2")
    if added:
        sys.path.remove(str(REPO))


def record_args(model: Path, out: Path) -> list[Any]:
    return ["smoke", "record", model, "--transformers", "--llm", "--new-tokens", "2",
            "--prompts", "1,4", "--device", "cpu", "--out", out]  # fmt: skip


@pytest.mark.torch
def test_x509_signed_record(model: Path, tmp_path: Path) -> None:
    from weightguard.signing.x509 import CertificateVerifier
    from weightguard.smoke import load_record

    pki = make_pki(tmp_path / "pki")
    out = tmp_path / "rec.json"
    r = cli(*record_args(model, out), "--sign-key", pki.leaf_key, "--sign-cert", pki.leaf_cert,
            "--sign-chain", pki.intermediate)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "x509" in r.output
    rec = load_record(out, CertificateVerifier.from_files([pki.root]))
    assert rec.verified and rec.llm is not None
    assert (
        cli(*record_args(model, tmp_path / "r2.json"), "--sign-cert", pki.leaf_cert).exit_code == 2
    )


@pytest.mark.torch
def test_keyless_record_and_check_record(model: Path, tmp_path: Path) -> None:
    from tests.fake_sigstore import FakeSigstore
    from weightguard.signing.identity import IdentityPolicy
    from weightguard.signing.sigstore import SigstoreVerifier
    from weightguard.signing.trust_root import TrustRoot
    from weightguard.smoke import load_record

    fake = FakeSigstore(ISSUER).start()
    idp, stop = fake.idp, fake.stop
    try:
        config, root = fake.write(tmp_path / "fake-sigstore")
        keyless = ["--sigstore", "--identity-token", idp.token(WORKFLOW), "--trust-config", config]
        out = tmp_path / "rec.json"
        r = cli(*record_args(model, out), *keyless)
        assert r.exit_code == 0, r.output
        verifier = SigstoreVerifier(
            IdentityPolicy.create(WORKFLOW, ISSUER), TrustRoot.from_file(root)
        )
        rec = load_record(out, verifier)
        assert rec.signer is not None and rec.signer.identity == WORKFLOW
        checked = tmp_path / "check.json"
        r = cli("smoke", "check", model, "--transformers", "--record", out, "--device", "cpu",
                "--write-record", checked, *keyless,
                "--record-sigstore-identity", WORKFLOW, "--record-sigstore-issuer", ISSUER,
                "--record-trusted-root", root)  # fmt: skip
        assert r.exit_code == 0, r.output
        result = load_record(checked, verifier)
        assert result.outcome == "passed" and result.signer is not None
    finally:
        stop()
