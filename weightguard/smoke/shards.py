"""Sharded checkpoints: the `model.safetensors.index.json` a Hugging Face folder carries.

Owns: checking that the index and the shards agree (every tensor is in the shard the
index names, every shard the index names exists, no shard is outside the index). The
loader reads tensors by name from whichever file holds them, so a disagreement would
otherwise go unnoticed: a shard renamed, dropped in from another checkpoint, or an
index edited to point elsewhere is refused (exit 3) with every offending name listed.
No torch here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from weightguard.errors import ModelReadError
from weightguard.report import Reason

INDEX_NAME = "model.safetensors.index.json"
MAX_INDEX_BYTES = 64 << 20


def read_index(model_dir: Path) -> dict[str, str] | None:
    """The index's weight_map (tensor name -> shard file name), or None without an index.

    Raises:
        ModelReadError: the index is a symlink, too large, or malformed.
    """
    path = model_dir / INDEX_NAME
    if not model_dir.is_dir() or not (path.exists() or path.is_symlink()):
        return None
    if path.is_symlink() or not path.is_file():
        raise ModelReadError(
            "the shard index is not a regular file", path=str(path), code="smoke.bad_index"
        )
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise ModelReadError("the shard index is too large", path=str(path), code="smoke.bad_index")
    try:
        doc: Any = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelReadError(
            f"the shard index is not readable JSON: {exc}", path=str(path), code="smoke.bad_index"
        ) from exc
    wmap = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(wmap, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and "/" not in v and v not in ("", ".", "..")
        for k, v in wmap.items()
    ):
        raise ModelReadError(
            "the shard index has no weight_map of tensor name -> shard file name",
            path=str(path),
            code="smoke.bad_index",
        )
    return dict(wmap)


def index_problems(
    weight_map: Mapping[str, str], found: Mapping[str, str], shard_files: list[str]
) -> list[Reason]:
    """Every disagreement between the index and the shards (`found`: tensor -> file)."""
    problems: list[Reason] = []
    for name, rel in sorted(found.items()):
        want = weight_map.get(name)
        if want != rel:
            problems.append(
                Reason(
                    "smoke.index_mismatch",
                    "tensor is not in the shard the index names",
                    name,
                    expected=want or "(not in the index)",
                    actual=rel,
                )
            )
    for name in sorted(set(weight_map) - set(found)):
        problems.append(
            Reason(
                "smoke.index_mismatch",
                "the index names a tensor no shard holds",
                name,
                expected=weight_map[name],
                actual="(absent)",
            )
        )
    listed = set(weight_map.values())
    for rel in sorted(set(shard_files) - listed):
        problems.append(
            Reason("smoke.index_mismatch", "shard file is not in the index", rel, actual=rel)
        )
    return problems
