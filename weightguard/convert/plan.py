"""Lay out the safetensors file: de-duplicate aliases, order tensors, build the header.

Shared storage (docs/convert.md, "Tied weights"): tensors that are the *same view* of the
same storage (same storage, byte offset, dtype, shape and strides: tied weights such as
``lm_head.weight`` and ``embed_tokens.weight``) are written once. The kept name is the
first name of the group listed in `prefer`, else the one that comes first in the
checkpoint; every other name is an alias, recorded in the header metadata as
``alias -> kept name`` (the convention of Hugging Face's converter and
``safetensors.torch.save_model``). Different views of one storage (a tensor and its
transpose, two slices) are each written out in full: safetensors cannot express views,
and dropping one would lose data.

Header metadata (all values are strings): ``format`` (``pt`` for torch checkpoints,
``np`` for numpy ones), the aliases, ``weightguard.value.<path>`` = JSON of each kept
non-tensor value, ``weightguard.dropped`` = JSON list of dropped entry paths, and
``weightguard.state_dict`` = where the state dict was found (when not the root).

Order: by element size, largest first (so every tensor is aligned to its element size,
as safetensors' own writer does), then by position in the checkpoint file, so that the
copy reads the input mostly sequentially.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from weightguard.convert.model import Entry, Extraction, TensorRef
from weightguard.errors import IncompleteError

MAX_METADATA = 1 << 20  # bytes of kept-value JSON in the header
MAX_HEADER = 100_000_000  # safetensors' own limit (safetensors/src/tensor.rs MAX_HEADER_SIZE)
RESERVED_PREFIX = "weightguard."


@dataclass(frozen=True, slots=True)
class Placed:
    """A tensor and its byte range in the data section."""

    tensor: TensorRef
    begin: int
    end: int


@dataclass(frozen=True)
class Plan:
    """Everything needed to write the file.

    Attributes:
        placed: tensors to write, in data order.
        aliases: alias name -> kept name.
        metadata: the header's ``__metadata__``.
        header: the 8-byte length prefix plus the padded JSON header.
        kept / dropped: non-tensor entries after the metadata budget was applied.
    """

    placed: tuple[Placed, ...]
    aliases: dict[str, str]
    metadata: dict[str, str]
    header: bytes
    kept: tuple[Entry, ...] = ()
    dropped: tuple[Entry, ...] = field(default=())

    @property
    def data_bytes(self) -> int:
        """Size of the data section."""
        return self.placed[-1].end if self.placed else 0

    @property
    def total_bytes(self) -> int:
        """Size of the whole safetensors file."""
        return len(self.header) + self.data_bytes


def _aliases(tensors: Sequence[TensorRef], prefer: Sequence[str]) -> dict[str, str]:
    groups: dict[tuple[object, ...], list[TensorRef]] = {}
    for t in tensors:
        groups.setdefault(t.view_key, []).append(t)
    rank = {name: i for i, name in enumerate(prefer)}
    aliases: dict[str, str] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        keep = min(group, key=lambda t: (rank.get(t.name, len(rank)), t.order))
        for t in group:
            if t is not keep and t.name != "format" and not t.name.startswith(RESERVED_PREFIX):
                aliases[t.name] = keep.name
    return aliases


def _metadata(
    extraction: Extraction, aliases: dict[str, str]
) -> tuple[dict[str, str], tuple[Entry, ...], tuple[Entry, ...]]:
    meta = {"format": extraction.framework}
    meta.update(aliases)
    if extraction.state_dict_path:
        meta[RESERVED_PREFIX + "state_dict"] = extraction.state_dict_path
    kept: list[Entry] = []
    dropped = list(extraction.dropped)
    budget = MAX_METADATA
    for entry in extraction.kept:
        assert entry.json is not None
        cost = len(entry.path) + len(entry.json)
        if cost > budget:
            dropped.append(Entry(entry.path, reason="the header metadata budget is used up"))
            continue
        budget -= cost
        meta[f"{RESERVED_PREFIX}value.{entry.path}"] = entry.json
        kept.append(entry)
    if dropped:
        meta[RESERVED_PREFIX + "dropped"] = json.dumps([e.path for e in dropped])
    return meta, tuple(kept), tuple(dropped)


def make_plan(
    extraction: Extraction,
    *,
    prefer: Sequence[str] = (),
    max_output_bytes: int | None = None,
    path: str | None = None,
) -> Plan:
    """Plan the safetensors file for an extraction.

    Raises:
        IncompleteError: the materialised tensors exceed `max_output_bytes` (views that
            expand, such as stride-0 broadcasts), or the header is too large.
    """
    aliases = _aliases(extraction.tensors, prefer)
    unique = [t for t in extraction.tensors if t.name not in aliases]
    unique.sort(key=lambda t: (-t.dtype.itemsize, t.span.offset + t.offset, t.order))
    total = sum(t.nbytes for t in unique)
    if max_output_bytes is not None and total > max_output_bytes:
        raise IncompleteError(
            f"the tensors materialise to {total} bytes, more than the {max_output_bytes}-byte "
            "limit (broadcast views expand when written out)",
            code="convert.too_large",
            path=path,
        )
    placed: list[Placed] = []
    at = 0
    for t in unique:
        placed.append(Placed(t, at, at + t.nbytes))
        at += t.nbytes
    meta, kept, dropped = _metadata(extraction, aliases)
    header_obj: dict[str, object] = {"__metadata__": meta}
    for p in placed:
        header_obj[p.tensor.name] = {
            "dtype": p.tensor.dtype.safetensors,
            "shape": list(p.tensor.dtype.header_shape(p.tensor.shape)),
            "data_offsets": [p.begin, p.end],
        }
    text = json.dumps(header_obj, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes with spaces
    if len(text) > MAX_HEADER:
        raise IncompleteError(
            f"the safetensors header would be {len(text)} bytes (limit {MAX_HEADER})",
            code="convert.header_too_large",
            path=path,
        )
    header = struct.pack("<Q", len(text)) + text
    return Plan(tuple(placed), aliases, meta, header, kept, dropped)
