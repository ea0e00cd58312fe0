"""Documented rules: state-dict discovery, alias naming, metadata, alignment, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightguard.convert import convert
from weightguard.errors import IncompleteError, UsageError

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::UserWarning")]


def _header(reference: object, path: Path) -> dict:
    return reference.header(path)  # type: ignore[attr-defined]


def test_tied_weights_keep_the_first_name_unless_preferred(
    corpus: dict, reference: object, tmp_path: Path
) -> None:
    src = corpus["tied_lm"].path
    first = convert(src, tmp_path / "a.safetensors").files[0]
    assert first.aliases == {"lm_head.weight": "embed_tokens.weight"}
    meta = _header(reference, tmp_path / "a.safetensors")["__metadata__"]
    assert meta["lm_head.weight"] == "embed_tokens.weight" and meta["format"] == "pt"
    second = convert(src, tmp_path / "b.safetensors", prefer=["lm_head.weight"]).files[0]
    assert second.aliases == {"embed_tokens.weight": "lm_head.weight"}
    reference.assert_round_trip(src, tmp_path / "b.safetensors")  # type: ignore[attr-defined]


def test_only_identical_views_are_aliases(corpus: dict, reference: object, tmp_path: Path) -> None:
    out = tmp_path / "v.safetensors"
    result = convert(corpus["views"].path, out).files[0]
    assert result.aliases == {"tied": "base", "tied_view": "base"}
    head = _header(reference, out)
    assert {"transposed", "row", "column", "stepped", "broadcast"} <= set(head)
    assert head["transposed"]["shape"] == [8, 6] and head["broadcast"]["shape"] == [3, 4]


def test_nested_checkpoint_metadata(corpus: dict, reference: object, tmp_path: Path) -> None:
    out = tmp_path / "n.safetensors"
    fc = convert(corpus["nested_state_dict"].path, out).files[0]
    assert fc.state_dict_path == "state_dict"
    meta = _header(reference, out)["__metadata__"]
    assert meta["weightguard.state_dict"] == "state_dict"
    assert meta["weightguard.value.epoch"] == "7"
    assert json.loads(meta["weightguard.value.hyper_parameters"]) == {
        "lr": 0.001,
        "layers": [8, 4],
        "name": "x",
    }
    dropped = {e.path: e.reason for e in fc.dropped}
    assert "optimizer_states" in dropped and "state_dict._metadata" in dropped
    assert json.loads(meta["weightguard.dropped"]) == [e.path for e in fc.dropped]


def test_deeper_nesting_and_explicit_key(corpus: dict, tmp_path: Path) -> None:
    src = corpus["nested_model_module"].path
    fc = convert(src, tmp_path / "a.safetensors").files[0]
    assert fc.state_dict_path == "model.module"
    assert [e.path for e in fc.dropped] == ["rng", "model.module._metadata"]
    fc2 = convert(src, tmp_path / "b.safetensors", state_dict_key="model.module").files[0]
    assert fc2.output_sha256 == fc.output_sha256
    with pytest.raises(UsageError):
        convert(src, tmp_path / "c.safetensors", state_dict_key="model.nope")
    nan = convert(corpus["nested_module"].path, tmp_path / "d.safetensors").files[0]
    assert any(e.path == "loss" and "non-finite" in (e.reason or "") for e in nan.dropped)


def test_numpy_sources_are_format_np(corpus: dict, reference: object, tmp_path: Path) -> None:
    out = tmp_path / "np.safetensors"
    convert(corpus["joblib"].path, out)
    assert _header(reference, out)["__metadata__"]["format"] == "np"


@pytest.mark.parametrize("chunk", [7, 64, 4096])
def test_tiny_chunks_still_round_trip(
    chunk: int, corpus: dict, reference: object, tmp_path: Path
) -> None:
    for name in ("views", "be_f32", "numpy_p4")[: 2 if chunk < 64 else 3]:
        out = tmp_path / f"{name}.safetensors"
        convert(corpus[name].path, out, chunk_size=chunk)
        reference.assert_round_trip(corpus[name].path, out)  # type: ignore[attr-defined]


def test_every_tensor_is_aligned_to_its_element_size(
    corpus: dict, reference: object, tmp_path: Path
) -> None:
    out = tmp_path / "d.safetensors"
    convert(corpus["dtypes"].path, out)
    raw = out.read_bytes()
    start = 8 + int.from_bytes(raw[:8], "little")
    assert start % 8 == 0
    sizes = {
        "F64": 8,
        "I64": 8,
        "U64": 8,
        "C64": 8,
        "F32": 4,
        "I32": 4,
        "U32": 4,
        "F16": 2,
        "BF16": 2,
        "I16": 2,
        "U16": 2,
    }
    for name, info in _header(reference, out).items():
        if name != "__metadata__":
            assert (start + info["data_offsets"][0]) % sizes.get(info["dtype"], 1) == 0, name


def test_expanding_views_are_bounded(tmp_path: Path) -> None:
    import torch

    small, huge = tmp_path / "small.pt", tmp_path / "huge.pt"
    torch.save({"b": torch.arange(4.0).expand(2**20, 4)}, small)  # 16 bytes stored, 16 MiB out
    torch.save({"b": torch.arange(4.0).expand(2**23, 4)}, huge)  # 128 MiB out
    convert(small, tmp_path / "small.safetensors")  # within the default (x4 + 64 MiB)
    with pytest.raises(IncompleteError) as exc:
        convert(huge, tmp_path / "huge.safetensors")
    assert exc.value.code == "convert.too_large"
    assert not (tmp_path / "huge.safetensors").exists()
