"""Realistic Hugging Face model folders, generated here (no downloads).

- `llama_repo(root)`: what a Llama-style repo ships: config.json, generation_config.json,
  two safetensors shards + index, tokenizer.json, tokenizer_config.json,
  special_tokens_map.json, a real SentencePiece tokenizer.model (trained with the
  `sentencepiece` library on a tiny text), README.md, LICENSE, .gitattributes, merges.txt,
  vocab.json and a tiktoken-style BPE file.
- `hf_cache(cache, files)`: the hub cache layout `huggingface_hub` writes:
  `models--org--name/{blobs/<hash>, snapshots/<rev>/<name> -> ../../blobs/<hash>,
  refs/main}`, LFS files named by their SHA-256, the others by their git blob SHA-1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from pathlib import Path

REVISION = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".model", ".gguf", ".onnx", ".bin", ".h5", ".keras", ".msgpack")


def safetensors_bytes(tensors: dict[str, list[int]], seed: int = 0) -> bytes:
    """A valid safetensors file of F32 tensors with the given shapes."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    data = bytes((seed + i) % 251 for i in range(offset))
    return struct.pack("<Q", len(raw)) + raw + data


def sentencepiece_model(workdir: Path) -> bytes:
    """A real SentencePiece model, trained on a tiny text."""
    import io

    import sentencepiece as spm

    text = workdir / "corpus.txt"
    text.parent.mkdir(parents=True, exist_ok=True)
    words = "the quick brown fox jumps over the lazy dog while weights stay signed".split()
    text.write_text("\n".join(" ".join(words[i:] + words[:i]) for i in range(len(words))))
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        input=str(text), model_writer=out, vocab_size=40, model_type="bpe",
        minloglevel=2, character_coverage=1.0,
    )  # fmt: skip
    return out.getvalue()


def llama_files(workdir: Path) -> dict[str, bytes]:
    """The files of a small Llama-style repo."""
    shard1 = safetensors_bytes({"model.embed_tokens.weight": [8, 4]}, 1)
    shard2 = safetensors_bytes({"lm_head.weight": [8, 4], "model.norm.weight": [4]}, 2)
    index = {
        "metadata": {"total_size": 8 * 4 * 4 * 2 + 16},
        "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "lm_head.weight": "model-00002-of-00002.safetensors",
            "model.norm.weight": "model-00002-of-00002.safetensors",
        },
    }
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "the": 3, "fox": 4}
    tokenizer = {"version": "1.0", "model": {"type": "BPE", "vocab": vocab, "merges": ["t h"]}}
    tiktoken = b"".join(base64.b64encode(w) + b" %d\n" % i for i, w in enumerate([b"a", b"th"]))
    return {
        "config.json": json.dumps(
            {"architectures": ["LlamaForCausalLM"], "hidden_size": 4}
        ).encode(),
        "generation_config.json": b'{"bos_token_id": 1, "eos_token_id": 2}\n',
        "model-00001-of-00002.safetensors": shard1,
        "model-00002-of-00002.safetensors": shard2,
        "model.safetensors.index.json": json.dumps(index).encode(),
        "tokenizer.json": json.dumps(tokenizer).encode(),
        "tokenizer_config.json": b'{"add_bos_token": true, "model_max_length": 2048}\n',
        "special_tokens_map.json": b'{"bos_token": "<s>", "eos_token": "</s>"}\n',
        "tokenizer.model": sentencepiece_model(workdir),
        "merges.txt": b"#version: 0.2\nt h\nth e\n",
        "vocab.json": json.dumps(vocab).encode(),
        "vocab.txt": b"<unk>\nthe\nfox\n",
        "tokenizer.tiktoken": tiktoken,
        "README.md": b"---\nlicense: llama2\n---\n# Tiny Llama\n\nA test model.\n",
        "LICENSE": b"MIT License\n\nCopyright (c) 2024\n\nPermission is hereby granted, free of charge...\n",
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    }


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def llama_repo(root: Path) -> Path:
    """A Llama-style repo folder."""
    return write_files(root, llama_files(root.parent / (root.name + "-work")))


def blob_name(rel: str, data: bytes) -> str:
    """The hub's blob name: SHA-256 for LFS files, git's blob SHA-1 for the others."""
    if rel.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def hf_cache(cache: Path, files: dict[str, bytes], repo: str = "models--org--tiny") -> Path:
    """Lay `files` out as a hub cache snapshot; returns the snapshot folder."""
    base = cache / repo
    snapshot = base / "snapshots" / REVISION
    (base / "blobs").mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        name = blob_name(rel, data)
        (base / "blobs" / name).write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = rel.count("/") + 2
        link.symlink_to(os.path.join(*([".."] * depth), "blobs", name))
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(REVISION)
    return snapshot
