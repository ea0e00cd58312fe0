"""Sharded Hugging Face checkpoints: a new index for the converted shards.

`transformers` finds the shards of a sharded checkpoint through its index
(``pytorch_model.bin.index.json``: ``{"metadata": {...}, "weight_map": {tensor: shard}}``)
and loads safetensors shards through ``model.safetensors.index.json``. When a directory
is converted and every shard an index names is converted with it, the index is
rewritten under the safetensors name with each shard file renamed as `default_output`
renames it; ``metadata`` is kept as it was, as Hugging Face's converter does. Aliases
keep their weight-map entries (the shard holds the kept name; loaders re-tie them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

INDEX_SUFFIX = ".index.json"
MAX_INDEX = 64 << 20


@dataclass(frozen=True)
class IndexRewrite:
    """A rewritten index: where it comes from, where it goes, and its new bytes."""

    source: Path
    target: Path
    data: bytes
    source_sha256: str
    entries: int

    @property
    def output_sha256(self) -> str:
        """SHA-256 of the new index."""
        return hashlib.sha256(self.data).hexdigest()


def index_target(index: Path, rename: Callable[[Path], Path]) -> Path:
    """``pytorch_model.bin.index.json`` -> ``model.safetensors.index.json``."""
    base = index.with_name(index.name[: -len(INDEX_SUFFIX)])
    return rename(base).with_name(rename(base).name + INDEX_SUFFIX)


def plan_index(index: Path, target: Path, converted: Mapping[Path, Path]) -> IndexRewrite | str:
    """The rewrite of one index file, or why it is left alone.

    Args:
        index: the original index file.
        target: where the new index goes.
        converted: each converted input shard -> its output.
    """
    try:
        raw = index.read_bytes()
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    if len(raw) > MAX_INDEX:
        return "it is too large for an index"
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "it is not JSON"
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        return "it has no weight_map of names to shard files"
    new_map: dict[str, str] = {}
    for name, shard in weight_map.items():
        shard_path = index.parent / shard
        if shard_path not in converted or Path(shard).name != shard:
            return f"its shard {shard!r} is not among the converted files"
        new_map[name] = converted[shard_path].name
    if any(converted[index.parent / s].parent != target.parent for s in weight_map.values()):
        return "its shards and the new index would be in different directories"
    out: dict[str, object] = {}
    if "metadata" in doc:
        out["metadata"] = doc["metadata"]
    out["weight_map"] = new_map
    data = (json.dumps(out, indent=2, ensure_ascii=False) + "\n").encode()
    return IndexRewrite(index, target, data, hashlib.sha256(raw).hexdigest(), len(new_map))
