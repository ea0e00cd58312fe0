"""Issue 12 point 4: real model repos, generated here with the real libraries.

A Llama-style repo (tests/hfrepo.py: sharded safetensors, a SentencePiece model trained
with `sentencepiece`, tokenizer/config JSON, merges, vocab, tiktoken ranks, README,
LICENSE, .gitattributes) plus a GGUF file written by the `gguf` package, an ONNX model
saved by `onnx` and a flax msgpack checkpoint, as a plain folder and as a hub cache
snapshot: scan is clean, and signed by a team key it is accepted under
policies/hf-repo.yaml. What would be refused is refused.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.hfrepo import hf_cache, llama_files, write_files
from tests.models import run_cli
from tests.unit.policy.kit import Kit, make_kit
from tests.unit.policy.test_examples import TEAM, with_test_keys
from weightguard.api import sign
from weightguard.scan import detect_format, scan

gguf = pytest.importorskip("gguf")
onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")


def gguf_bytes(tmp: Path) -> bytes:
    path = tmp / "w.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(["<unk>", "<s>", "the"])
    writer.add_tensor("tok_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    writer.add_tensor("norm.weight", np.ones(5, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def onnx_model(external: str | None = None) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), "W")
    if external is not None:
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
        entry = weight.external_data.add()
        entry.key, entry.value = "location", external
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [weight],
    )  # fmt: skip
    model = helper.make_model(graph, producer_name="weightguard-test")
    data: bytes = model.SerializeToString()
    return data


def flax_msgpack() -> bytes:
    """{"params": {"kernel": ndarray ext(1)}} as flax.serialization writes it."""
    arr = (
        b"\x93" + b"\x92\x02\x02" + b"\xa7float32" + b"\xc4\x10" + bytes(16)
    )  # (shape, dtype, data)
    ext = b"\xc7" + bytes([len(arr)]) + b"\x01" + arr
    return b"\x81\xa6params\x81\xa6kernel" + ext


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("repo-kit"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("repo-files")
    out = llama_files(tmp)
    out["gguf/tiny-f32.gguf"] = gguf_bytes(tmp)
    out["onnx/model.onnx"] = onnx_model()
    out["flax_model.msgpack"] = flax_msgpack()
    return out


EXPECTED = {
    "tokenizer.model": "sentencepiece",
    "gguf/tiny-f32.gguf": "gguf",
    "onnx/model.onnx": "onnx",
    "flax_model.msgpack": "flax-msgpack",
    "model-00001-of-00002.safetensors": "safetensors",
    "merges.txt": "text",
    "LICENSE": "text",
    "tokenizer.tiktoken": "text",
    ".gitattributes": "text",
    "generation_config.json": "json",
}


@pytest.mark.parametrize("layout", ["folder", "hub-cache"])
def test_repo_scans_clean_and_verifies_under_the_example_policy(
    kit: Kit, tmp_path: Path, files: dict[str, bytes], layout: str
) -> None:
    if layout == "folder":
        model = write_files(tmp_path / "tiny-llama", files)
    else:
        model = hf_cache(tmp_path / "hub", files, "models--meta--tiny-llama")
    for rel, kind in EXPECTED.items():
        assert detect_format(model / rel) == kind, rel
    result = scan([str(model)])
    assert [(f.path, f.findings) for f in result.files if f.outcome.value != "clean"] == []
    assert len(result.files) == len(files)
    sign(model, kit.signer("team-a"), allow_symlinks=True, ignore_git_paths=False)
    policy = with_test_keys(kit, "hf-repo.yaml", tmp_path / "p", TEAM)
    gate = kit.gate(model, policy)
    report = gate.report()
    assert report.exit_code == 0, [(r.code, r.path) for r in report.reasons]


def test_repo_with_a_pickle_weight_is_refused(
    kit: Kit, tmp_path: Path, files: dict[str, bytes]
) -> None:
    """The example policy is not a blanket allow: a pickle named .safetensors fails."""
    bad = dict(files)
    bad["model-00002-of-00002.safetensors"] = b"cos\nsystem\n(S'id'\ntR."
    model = write_files(tmp_path / "m", bad)
    sign(model, kit.signer("team-a"), ignore_git_paths=False)
    policy = with_test_keys(kit, "hf-repo.yaml", tmp_path / "p", TEAM)
    assert kit.gate(model, policy).report().exit_code == 1


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "a/../../x", "C:\\x"])
def test_onnx_external_data_escaping_the_model_is_unsafe(tmp_path: Path, location: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_model(location))
    (f,) = scan([str(path)]).files
    assert (f.format, f.outcome.value, f.findings[0].rule) == (
        "onnx", "unsafe", "onnx.external_data_escape",
    )  # fmt: skip
    assert detect_format(path) == "unknown"  # the gate never calls it data


def test_onnx_external_data_inside_the_folder_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_model("weights/model.onnx_data"))
    assert scan([str(path)]).files[0].outcome.value == "clean"


def test_corrupt_gguf_is_never_clean(tmp_path: Path, files: dict[str, bytes]) -> None:
    good = files["gguf/tiny-f32.gguf"]
    cases = {
        "truncated": good[:-40],
        "extra": good + bytes(64),
        "bad-version": good[:4] + struct.pack("<I", 9) + good[8:],
        "huge-count": good[:8] + struct.pack("<Q", 1 << 40) + good[16:],
        "magic-only": b"GGUF",
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.gguf"
        path.write_bytes(data)
        (f,) = scan([str(path)]).files
        assert f.outcome.value != "clean", name
        assert detect_format(path) != "gguf", name


def test_ggml_type_sizes_match_the_gguf_package() -> None:
    from weightguard.pickle.datafmt_gguf import GGML_SIZES

    assert GGML_SIZES == {int(k): tuple(v) for k, v in gguf.GGML_QUANT_SIZES.items()}


def test_scan_exclude(tmp_path: Path, files: dict[str, bytes]) -> None:
    model = write_files(tmp_path / "m", files)
    (model / "junk").mkdir()
    (model / "junk" / "blob.bin").write_bytes(bytes(range(256)))  # unknown: incomplete
    r = run_cli("scan", model, "--format", "json")
    assert r.rc == 3
    r = run_cli("scan", model, "--exclude", "junk", "--exclude", "*.md", "--format", "json")
    assert r.rc == 0, r.stdout
    paths = [f["path"] for f in r.json()["files"]]  # type: ignore[attr-defined]
    assert not any(p.endswith(("README.md", "blob.bin")) for p in paths)
    assert run_cli("scan", model, "--exclude", "/abs").rc == 2
