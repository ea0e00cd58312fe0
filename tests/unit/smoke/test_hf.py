"""Building transformers architectures from config.json, and the shard index check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightguard.errors import ModelReadError
from weightguard.smoke.shards import index_problems, read_index

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from examples.models.hf_tiny import make

    d = tmp_path_factory.mktemp("hf-unit")
    return {"llama": make("llama", d / "llama", shard_kb=20), "gpt2": make("gpt2", d / "gpt2")}


def test_built_module_matches_transformers_own_loading(tiny: dict[str, Path]) -> None:
    from transformers import AutoModelForCausalLM

    from weightguard.smoke.hf import build_hf_model
    from weightguard.smoke.loader import load_strict

    for name in ("llama", "gpt2"):
        hf = build_hf_model(tiny[name], "cpu", None)
        assert all(p.device.type == "cpu" for p in hf.module.parameters())
        stats = load_strict(hf.module, tiny[name], "cpu")
        assert stats.tensors > 0
        ref = AutoModelForCausalLM.from_pretrained(tiny[name], attn_implementation="eager")
        ids = torch.tensor([[1, 5, 9, 3]])
        with torch.no_grad():
            got = hf.module(input_ids=ids).logits
            want = ref.eval()(input_ids=ids).logits
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_ties_and_buffers_survive_the_meta_build(tiny: dict[str, Path]) -> None:
    from transformers import LlamaForCausalLM

    from weightguard.smoke.hf import build_hf_model

    gpt2 = build_hf_model(tiny["gpt2"], "cpu", None).module
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight  # one tensor, loaded once
    llama = build_hf_model(tiny["llama"], "cpu", None)
    assert llama.architecture == "LlamaForCausalLM" and llama.vocab_size == 96
    fresh = LlamaForCausalLM.from_pretrained(tiny["llama"])
    torch.testing.assert_close(
        llama.module.model.rotary_emb.inv_freq, fresh.model.rotary_emb.inv_freq
    )


def test_dtype_override_and_refusal(tiny: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from weightguard.smoke.hf import ConfigRefused, build_hf_model

    assert build_hf_model(tiny["gpt2"], "cpu", "bfloat16").module.lm_head.weight.dtype == (
        torch.bfloat16
    )
    bad = tmp_path / "m"
    shutil.copytree(tiny["gpt2"], bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["dtype"] = "complex128"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigRefused):
        build_hf_model(bad, "cpu", None)
    (bad / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigRefused):
        build_hf_model(bad, "cpu", None)
    (bad / "config.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(ConfigRefused, match="larger"):
        build_hf_model(bad, "cpu", None)


def test_index_agreement(tmp_path: Path) -> None:
    assert read_index(tmp_path) is None
    wmap = {"a": "s1.safetensors", "b": "s2.safetensors"}
    assert (
        index_problems(
            wmap,
            {"a": "s1.safetensors", "b": "s2.safetensors"},
            ["s1.safetensors", "s2.safetensors"],
        )
        == []
    )
    swapped = index_problems(
        wmap, {"a": "s2.safetensors", "b": "s1.safetensors"}, ["s1.safetensors", "s2.safetensors"]
    )
    assert [p.path for p in swapped] == ["a", "b"]
    extra = index_problems(
        wmap,
        {"a": "s1.safetensors", "b": "s2.safetensors"},
        ["s1.safetensors", "s2.safetensors", "s3.safetensors"],
    )
    assert [p.path for p in extra] == ["s3.safetensors"]
    missing = index_problems(wmap, {"a": "s1.safetensors"}, ["s1.safetensors", "s2.safetensors"])
    assert [p.path for p in missing] == ["b"]
    for bad in ('{"weight_map": {"a": "../x.safetensors"}}', '{"weight_map": []}', "nope"):
        (tmp_path / "model.safetensors.index.json").write_text(bad)
        with pytest.raises(ModelReadError):
            read_index(tmp_path)
