"""The signed conversion record: SLSA provenance that binds input and output digests."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest

from tests.models import make_keypair
from weightguard.attestation import verify_attestation
from weightguard.bundle import parse_bundle
from weightguard.convert import BUILD_TYPE, SLSA_PROVENANCE_V1, convert, verify_record
from weightguard.errors import BundleError, RejectedError, SignatureError
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier

np = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def keys(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[EcKeySigner, EcKeyVerifier, EcKeyVerifier]:
    root = tmp_path_factory.mktemp("keys")
    good = make_keypair(root, "release")
    other = make_keypair(root, "other")
    return (
        EcKeySigner.from_file(good.private),
        EcKeyVerifier.from_files([good.public]),
        EcKeyVerifier.from_files([other.public]),
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def converted(tmp_path: Path, keys: tuple) -> tuple[Path, Path, Path]:
    src = tmp_path / "weights.pkl"
    src.write_bytes(pickle.dumps({"w": np.arange(6.0).reshape(2, 3), "epoch": 4}, protocol=4))
    out = tmp_path / "weights.safetensors"
    result = convert(src, out, signer=keys[0])
    assert result.attestation == str(out) + ".provenance.json"
    return src, out, Path(result.attestation)


def test_record_is_slsa_provenance_binding_both_digests(converted: tuple, keys: tuple) -> None:
    src, out, record = converted
    statement = verify_attestation(record, keys[1]).statement
    assert statement.predicate_type == SLSA_PROVENANCE_V1
    assert statement.subjects == (("weights.safetensors", {"sha256": _sha(out)}),)
    build = statement.predicate["buildDefinition"]
    assert build["buildType"] == BUILD_TYPE
    (dep,) = build["resolvedDependencies"]
    assert dep["digest"] == {"sha256": _sha(src)}
    assert dep["annotations"] == {
        "format": "pickle",
        "output": "weights.safetensors",
        "scanVerdict": "clean",
    }
    assert build["internalParameters"]["scan"]["verdict"] == "clean"
    assert build["internalParameters"]["converter"]["name"] == "weightguard"
    run = statement.predicate["runDetails"]
    assert run["builder"]["version"]["weightguard"]
    assert run["byproducts"][0]["annotations"]["kept"] == ["epoch"]


def test_verify_record_accepts_the_pair(converted: tuple, keys: tuple) -> None:
    src, out, record = converted
    rec = verify_record(record, keys[1], output=out, input=src)
    assert rec.input_verified and rec.scan_verdict == "clean"
    assert (rec.output_sha256, rec.input_sha256) == (_sha(out), _sha(src))
    assert rec.output_name == "weights.safetensors" and rec.input_name == "weights.pkl"
    assert verify_record(record, keys[1], output=out).input_verified is False


def test_tampering_either_file_breaks_the_binding(converted: tuple, keys: tuple) -> None:
    src, out, record = converted
    data = bytearray(out.read_bytes())
    data[-1] ^= 1
    out.write_bytes(bytes(data))
    with pytest.raises(RejectedError) as exc:
        verify_record(record, keys[1], output=out, input=src)
    assert exc.value.code == "conversion.output_mismatch"
    data[-1] ^= 1
    out.write_bytes(bytes(data))
    src.write_bytes(src.read_bytes() + b"\x00")
    with pytest.raises(RejectedError) as exc:
        verify_record(record, keys[1], output=out, input=src)
    assert exc.value.code == "conversion.input_mismatch"


def test_tampered_record_or_wrong_key_fails(converted: tuple, keys: tuple, tmp_path: Path) -> None:
    src, out, record = converted
    with pytest.raises(SignatureError):
        verify_record(record, keys[2], output=out, input=src)
    doc = json.loads(record.read_bytes())
    payload = parse_bundle(record.read_bytes()).envelope.payload
    forged = payload.replace(_sha(src).encode(), b"0" * 64)
    import base64

    doc["dsseEnvelope"]["payload"] = base64.b64encode(forged).decode()
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises((SignatureError, BundleError)):
        verify_record(bad, keys[1], output=out, input=src)


def test_directory_conversion_has_one_record_for_all(tmp_path: Path, keys: tuple) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    for i, name in enumerate(("pytorch_model-00001-of-00002.bin", "sub/extra.pkl")):
        (model / name).write_bytes(pickle.dumps({"a": np.full(3, i)}, protocol=4))
    (model / "config.json").write_text("{}")
    out = tmp_path / "converted"
    result = convert(model, out, signer=keys[0])
    names = sorted(str(Path(f.output).relative_to(out)) for f in result.files)
    assert names == ["model-00001-of-00002.safetensors", "sub/extra.safetensors"]
    assert result.skipped == (str(model / "config.json"),)
    record = out / "conversion.provenance.json"
    assert result.attestation == str(record)
    for f in result.files:
        rec = verify_record(record, keys[1], output=f.output, input=f.input)
        assert rec.output_name == str(Path(f.output).relative_to(out))


def test_sharded_checkpoint_gets_a_safetensors_index(tmp_path: Path, keys: tuple) -> None:
    model = tmp_path / "hf"
    model.mkdir()
    shards = {
        "pytorch_model-00001-of-00002.bin": ["a.weight", "a.bias"],
        "pytorch_model-00002-of-00002.bin": ["b.weight"],
    }
    weight_map = {}
    for i, (shard, names) in enumerate(shards.items()):
        (model / shard).write_bytes(
            pickle.dumps({n: np.full(2, i, np.float32) for n in names}, protocol=4)
        )
        weight_map.update(dict.fromkeys(names, shard))
    index = {"metadata": {"total_size": 24}, "weight_map": weight_map}
    (model / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    (model / "stray.bin.index.json").write_text(json.dumps({"weight_map": {"x": "nope.bin"}}))
    result = convert(model, signer=keys[0])
    new_index = json.loads((model / "model.safetensors.index.json").read_text())
    assert new_index == {
        "metadata": {"total_size": 24},
        "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "a.bias": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors",
        },
    }
    assert str(model / "stray.bin.index.json") in result.skipped  # its shard is missing
    record = verify_record(
        model / "conversion.provenance.json",
        keys[1],
        output=model / "model.safetensors.index.json",
        input=model / "pytorch_model.bin.index.json",
    )
    assert record.output_name == "model.safetensors.index.json"
