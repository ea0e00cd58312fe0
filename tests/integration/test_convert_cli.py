"""`weightguard convert`: exit codes, reports, signing, directories (real entry point)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.models import make_keypair, run_cli
from weightguard.cli import cli
from weightguard.convert import verify_record
from weightguard.signing.ec import EcKeyVerifier

np = pytest.importorskip("numpy")


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("true",))


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["convert", *map(str, args)])
    return result.exit_code, result.output


@pytest.fixture
def model(tmp_path: Path) -> Path:
    src = tmp_path / "weights.pkl"
    arrays = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "step": 5}
    src.write_bytes(pickle.dumps(arrays, protocol=4))
    return src


@pytest.mark.torch
def test_torch_checkpoint_signed_end_to_end(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    src = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.randn(4, 4), "b": torch.zeros(4)}, "epoch": 2}, src)
    keys = make_keypair(tmp_path / "keys", "release")
    res = run_cli("convert", src, "--sign-key", keys.private, "--format", "json")
    assert res.rc == 0, res.stderr
    doc = res.json()
    assert doc["command"] == "convert" and doc["verdict"] == "accepted"
    (entry,) = doc["files"]  # type: ignore[misc]
    out = tmp_path / "model.safetensors"
    assert entry["output"] == str(out) and entry["state_dict"] == "state_dict"
    assert doc["attestation"] == str(out) + ".provenance.json"
    rec = verify_record(
        doc["attestation"], EcKeyVerifier.from_files([keys.public]), output=out, input=src
    )
    assert rec.output_sha256 == entry["output_sha256"]
    loaded = torch.load(src, weights_only=True)["state_dict"]
    from safetensors.torch import load_file

    got = load_file(out)
    assert all(torch.equal(got[k], v) for k, v in loaded.items())


def test_text_output_and_report_file(model: Path, tmp_path: Path) -> None:
    rc, out = invoke(model, "--report", tmp_path / "r.json")
    assert rc == 0, out
    assert out.startswith("weightguard convert: ACCEPTED (exit 0)")
    assert "kept step = 5" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["files"][0]["tensors"] == 1


def test_unsafe_input_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"w": _Evil()}, protocol=4))
    rc, out = invoke(evil, "--format", "json")
    assert rc == 1
    doc = json.loads(out)
    assert doc["verdict"] == "rejected" and doc["files"] == []
    assert doc["reasons"][0]["code"] == "convert.refused"
    assert any(f["rule"] == "global.denied" for f in doc["scan"]["findings"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt"]
    rc, out = invoke(evil)
    assert rc == 1 and "nothing written" in out and "global.denied" in out


def test_incomplete_input_exits_3(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(pickle.dumps({"w": np.ones(3)}, protocol=4)[:-5])
    rc, _ = invoke(cut)
    assert rc == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.pkl"]


def test_unconvertible_tensor_is_one_line_exit_3(tmp_path: Path) -> None:
    src = tmp_path / "c.pkl"
    src.write_bytes(pickle.dumps({"c": np.zeros(2, np.complex128)}, protocol=4))
    res = run_cli("convert", src)
    assert res.rc == 3
    assert res.stderr.startswith(f"weightguard: error: {src}: cannot convert faithfully")
    assert "128-bit complex" in res.stderr
    assert not (tmp_path / "c.safetensors").exists()


def test_usage_errors_exit_2(model: Path, tmp_path: Path) -> None:
    rc, _ = invoke(model)
    assert rc == 0
    rc, out = invoke(model)  # the output now exists
    assert rc == 2 and "--force" in out
    assert invoke(model, "--force")[0] == 0
    assert invoke(model, "-o", tmp_path / "x.safetensors", "--attest", tmp_path / "a.json")[0] == 2
    assert invoke(model, "-o", tmp_path / "y.safetensors", "--staging")[0] == 2


def test_directory_with_output_dir(tmp_path: Path) -> None:
    src = tmp_path / "ckpt"
    src.mkdir()
    for i in range(2):
        (src / f"pytorch_model-0000{i + 1}-of-00002.bin").write_bytes(
            pickle.dumps({f"layer{i}": np.full((2, 2), i, np.float32)}, protocol=4)
        )
    (src / "config.json").write_text("{}")
    (src / "tokenizer.json").write_text("{}")
    (src / "modeling_custom.py").write_text("import os\n")  # code: never copied
    keys = make_keypair(tmp_path / "keys", "k")
    rc, out = invoke(src, "-o", tmp_path / "out", "--sign-key", keys.private)
    assert rc == 0, out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    # issue 14: the config and tokenizer travel with the weights; code does not, and the
    # user is told why
    assert names == [
        "config.json",
        "conversion.provenance.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer.json",
    ]
    assert "not copied: modeling_custom.py" in out


def test_keyless_signed_record(tmp_path: Path, model: Path) -> None:
    """--sigstore against the local fake Fulcio/Rekor/OIDC stack (tests/fake_sigstore.py)."""
    pytest.importorskip("sigstore")
    from tests.fake_sigstore import FakeSigstore
    from weightguard.cli.sigstore_options import build_sigstore_verifier

    issuer = "https://idp.weightguard.test"
    workflow = "https://github.com/acme/models/.github/workflows/convert.yml@refs/heads/main"
    fake = FakeSigstore(issuer).start()
    idp, stop = fake.idp, fake.stop
    try:
        (tmp_path / "tc.json").write_text(json.dumps(fake.client_trust_config()))
        (tmp_path / "root.json").write_text(json.dumps(fake.trusted_root()))
        out = tmp_path / "keyless.safetensors"
        rc, text = invoke(
            model,
            "-o",
            out,
            "--sigstore",
            "--identity-token",
            idp.token(workflow),
            "--trust-config",
            tmp_path / "tc.json",
        )
        assert rc == 0, text
    finally:
        stop()
    verifier = build_sigstore_verifier(
        {
            "sigstore_identity": workflow,
            "sigstore_issuer": issuer,
            "trusted_root": str(tmp_path / "root.json"),
        }
    )
    rec = verify_record(str(out) + ".provenance.json", verifier, output=out, input=model)  # type: ignore[arg-type]
    assert rec.signer.kind and rec.input_verified
