"""Find the state dict in a checkpoint's value graph and describe every tensor in it.

Naming rules (documented in docs/convert.md):

1. The state dict: starting at the root, while the current mapping has one of
   `COMMON_KEYS` (checked in that order) whose value is a mapping holding a tensor,
   descend into it (Lightning ``state_dict``, DeepSpeed ``module``, ``model`` ...).
   ``state_dict_key`` (``--state-dict a.b``) names the path instead.
2. Inside it, tensors are named by their dotted path; nested mappings and lists are
   flattened (``encoder.layers.0.weight``). A checkpoint that is one bare tensor names
   it ``tensor``.
3. Every other entry (inside or outside the state dict) is kept as header metadata when
   it is a simple value (`weightguard.convert.simple`), under its dotted path from the
   checkpoint root; otherwise it is dropped, with a reason. Tensors outside the state
   dict (optimizer state ...) are dropped.

Tensors are recognised by `weightguard.convert.tensors`; one that safetensors cannot
represent inside the state dict refuses the conversion.
"""

from __future__ import annotations

from weightguard.convert.model import Entry, Extraction, TensorRef
from weightguard.convert.simple import NotSimple, Visits, mapping_pairs, simple_json
from weightguard.convert.source import Checkpoint
from weightguard.convert.tensors import Found, NotTensor, Refused, TensorReader
from weightguard.errors import IncompleteError, UsageError
from weightguard.pickle import List, Obj, Tuple, Value

COMMON_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "network",
    "weights",
    "params",
)
MAX_DEPTH = 64
MAX_ENTRIES = 1_000_000  # named entries one checkpoint may have (tensors, kept, dropped)
MAX_SIMPLE_VISITS = 4_000_000  # values all "is it simple JSON?" checks may visit together


class Extractor:
    """Walks one checkpoint's value graph (use `extract`)."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        self.reader = TensorReader(ckpt)
        self.tensors: list[TensorRef] = []
        self.kept: list[Entry] = []
        self.dropped: list[Entry] = []
        self.refused: list[str] = []
        self.prefix = ""  # the state dict's path from the root
        # Entries `entry` may still visit: a shared subgraph is reached once per path
        # (each path is a named entry), so a few hundred bytes of memo GETs could name
        # 2**30 entries; past this many the checkpoint is refused.
        self.visits_left = MAX_ENTRIES
        self.simple_visits = Visits(MAX_SIMPLE_VISITS)

    def tensor(self, value: Value) -> Found | None:
        """The tensor a node stands for (see `TensorReader.tensor`)."""
        return self.reader.tensor(value)

    def add_tensor(self, name: str, found: Found) -> None:
        """Record a named tensor."""
        self.tensors.append(
            TensorRef(
                name,
                found.dtype,
                found.shape,
                found.strides,
                found.offset,
                found.storage,
                found.span,
                found.big_endian,
                len(self.tensors),
            )
        )

    def entry(
        self,
        path: str,
        value: Value,
        *,
        inside: bool,
        depth: int = 0,
        ancestors: frozenset[int] = frozenset(),
    ) -> None:
        """Classify one entry: a tensor, a container to flatten, a kept or dropped value.

        `path` is relative to the state dict when `inside`, else from the root; kept
        and dropped entries are always reported from the root.
        """
        where = ".".join(p for p in (self.prefix, path) if p) if inside else path
        self.visits_left -= 1
        if self.visits_left < 0:
            if self.visits_left == -1:
                self.refused.append(f"more than {MAX_ENTRIES} entries (shared or nested values)")
            return
        if id(value) in ancestors or depth > MAX_DEPTH:
            self.dropped.append(Entry(where, reason="nested too deeply or cyclic"))
            return
        try:
            found = self.tensor(value)
        except Refused as exc:
            if inside:
                self.refused.append(f"{path or 'tensor'}: {exc}")
            else:
                self.dropped.append(Entry(where, reason=f"outside the state dict: {exc}"))
            return
        except NotTensor as exc:
            self.dropped.append(Entry(where, reason=str(exc)))
            return
        if found is not None:
            if inside:
                self.add_tensor(path or "tensor", found)
            else:
                self.dropped.append(Entry(where, reason="a tensor outside the state dict"))
            return
        try:
            self.kept.append(Entry(where, json=simple_json(value, self.simple_visits)))
            return
        except NotSimple as exc:
            reason = str(exc)
            if self.simple_visits.left <= 0:
                if self.simple_visits.left == 0:
                    self.simple_visits.left = -1  # reported once
                    self.refused.append(
                        f"non-tensor values visited more than {MAX_SIMPLE_VISITS} times "
                        "(shared or nested values)"
                    )
                return
        items: list[tuple[Value, Value]] | None = mapping_pairs(value)
        if items is None and isinstance(value, List | Tuple):
            items = list(enumerate(value.items))
        if not inside or items is None:
            self.dropped.append(Entry(where, reason=f"not a tensor or a simple value: {reason}"))
            return
        below = ancestors | {id(value)}
        for key, item in items:
            if isinstance(key, bool) or not isinstance(key, str | int):
                self.dropped.append(Entry(f"{where}[?]", reason="a key that is not a str or int"))
                continue
            child = f"{path}.{key}" if path else str(key)
            self.entry(child, item, inside=True, depth=depth + 1, ancestors=below)

    def holds_tensor(self, value: Value, depth: int = 0) -> bool:
        """True when a mapping or list holds a tensor within a few levels (finds state dicts)."""
        self.visits_left -= 1
        if self.visits_left < 0:
            return False
        pairs = mapping_pairs(value)
        if pairs is None and isinstance(value, List | Tuple):
            pairs = list(enumerate(value.items))
        if pairs is None or depth > 4:
            return False
        for _key, item in pairs:
            try:
                if self.tensor(item) is not None:
                    return True
            except (Refused, NotTensor):
                return True
            if self.holds_tensor(item, depth + 1):
                return True
        return False


def _walk_to_state_dict(ex: Extractor, root: Value, key: str | None) -> tuple[Value, str]:
    node, path = root, ""
    wanted = key.split(".") if key else None
    while True:
        pairs = mapping_pairs(node)
        if pairs is None:
            if wanted:
                raise UsageError(f"--state-dict {key}: {path or 'the root'} is not a mapping")
            return node, path
        if wanted is not None:
            if not wanted:
                return node, path
            step = wanted.pop(0)
            chosen = next((v for k, v in pairs if k == step), None)
            if chosen is None:
                raise UsageError(f"--state-dict {key}: no entry {step!r} in {path or 'the root'}")
        else:
            step = next(
                (k for k in COMMON_KEYS for kk, v in pairs if kk == k and ex.holds_tensor(v)), ""
            )
            if not step:
                return node, path
            chosen = next(v for k, v in pairs if k == step)
        for k, v in pairs:
            if k != step:
                label = f"{path}.{k!s}" if path else str(k)
                ex.entry(label, v, inside=False)
        path = f"{path}.{step!s}" if path else str(step)
        node = chosen


def extract(ckpt: Checkpoint, *, state_dict_key: str | None = None) -> Extraction:
    """Describe the tensors and other entries of a parsed checkpoint.

    Raises:
        IncompleteError: a tensor safetensors cannot represent (``convert.unsupported_tensor``),
            or no tensor at all (``convert.no_tensors``).
        UsageError: `state_dict_key` names no mapping.
    """
    ex = Extractor(ckpt)
    node, path = _walk_to_state_dict(ex, ckpt.root, state_dict_key)
    ex.prefix = path
    pairs = mapping_pairs(node)
    if isinstance(node, Obj) and pairs is not None and node.state:
        ex.dropped.append(
            Entry(
                f"{path}._metadata" if path else "_metadata",
                reason="attribute of the state dict (module versions)",
            )
        )
    if pairs is None:
        ex.entry("", node, inside=True)
    else:
        for key, item in pairs:
            if isinstance(key, bool) or not isinstance(key, str | int):
                ex.dropped.append(Entry(path or "<root>", reason="a key that is not a str or int"))
                continue
            ex.entry(str(key), item, inside=True)
    if ex.refused:
        more = f" (and {len(ex.refused) - 1} more)" if len(ex.refused) > 1 else ""
        raise IncompleteError(
            f"cannot convert faithfully: {ex.refused[0]}{more}",
            code="convert.unsupported_tensor",
            path=ckpt.path,
        )
    if not ex.tensors:
        raise IncompleteError(
            "no tensors found in the checkpoint", code="convert.no_tensors", path=ckpt.path
        )
    names = [t.name for t in ex.tensors]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise IncompleteError(
            f"two entries flatten to the same tensor name {dup!r}",
            code="convert.name_collision",
            path=ckpt.path,
        )
    return Extraction(
        tensors=tuple(ex.tensors),
        kept=tuple(ex.kept),
        dropped=tuple(ex.dropped),
        state_dict_path=path,
        framework="pt" if "pt" in ex.reader.frameworks else "np",
    )
