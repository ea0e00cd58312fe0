"""Tiny random Hugging Face models (Llama, GPT-2, BERT styles), made locally: no downloads.

`make(kind, out_dir)` writes a transformers folder (config.json, safetensors shards and
their index when sharded) from a seeded random init, the layout `save_pretrained`
produces for real checkpoints. Used by the LLM smoke walk-through and the tests.

    python examples/models/hf_tiny.py OUT_DIR llama [--seed N] [--shard-kb K] [--dtype D]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

SIZES: dict[str, dict[str, Any]] = {
    "llama": {
        "vocab_size": 96,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
        "tie_word_embeddings": False,
    },
    "gpt2": {"vocab_size": 96, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128},
    "bert": {
        "vocab_size": 96,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
    },
}


def make(
    kind: str,
    out_dir: Path,
    *,
    seed: int = 0,
    shard_kb: int | None = None,
    dtype: str = "float32",
    **overrides: Any,
) -> Path:
    """Write a seeded random `kind` model to `out_dir` and return it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    config_cls, model_cls = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "gpt2": (transformers.GPT2Config, transformers.GPT2LMHeadModel),
        "bert": (transformers.BertConfig, transformers.BertModel),
    }[kind]
    params = {**SIZES[kind], **overrides}
    if kind == "gpt2":
        params.setdefault("bos_token_id", 0)
        params.setdefault("eos_token_id", 0)
    torch.manual_seed(seed)
    model = model_cls(config_cls(**params)).to(getattr(torch, dtype)).eval()
    kwargs: dict[str, Any] = {}
    if shard_kb is not None:
        kwargs["max_shard_size"] = f"{shard_kb}KB"
    model.save_pretrained(out_dir, **kwargs)
    generation = Path(out_dir) / "generation_config.json"
    if generation.exists():
        generation.unlink()  # not read by the smoke test; keeps the folder minimal
    return Path(out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("kind", choices=sorted(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard-kb", type=int)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    path = make(args.kind, args.out_dir, seed=args.seed, shard_kb=args.shard_kb, dtype=args.dtype)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
