"""What a conversion must produce, computed independently with the real loaders.

`expected_tensors` loads a (trusted, self-generated) checkpoint with torch.load
(``weights_only=True`` where torch allows it), joblib or pickle, applies the documented
naming rule (find the state dict under the common keys, flatten with dots), and
`assert_round_trip` compares a safetensors file with it bit for bit, resolving aliases
through the header metadata.
"""

from __future__ import annotations

import collections
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def _is_tensor(value: Any) -> bool:
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in "biufc"


def _holds_tensor(value: Any, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return False
    return any(_is_tensor(v) or _holds_tensor(v, depth + 1) for v in items)


def load_source(path: Path) -> Any:
    """Load a benign test checkpoint with its natural loader (test code only)."""
    import torch

    if path.suffix == ".joblib":
        import joblib

        return joblib.load(path)
    if path.suffix == ".pkl":
        with path.open("rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own generated benign corpus
    try:
        return torch.load(path, weights_only=True)
    except Exception:
        # numpy values inside torch files need weights_only=False; benign corpus only.
        return torch.load(path, weights_only=False)


def expected_tensors(path: Path) -> dict[str, Any]:
    """Tensor name -> torch.Tensor or numpy array, by the documented naming rule."""
    node = load_source(path)
    while isinstance(node, Mapping):
        for key in COMMON_KEYS:
            if key in node and isinstance(node[key], Mapping) and _holds_tensor(node[key]):
                node = node[key]
                break
        else:
            break
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if _is_tensor(value):
            out[prefix or "tensor"] = value
        elif isinstance(value, Mapping) and type(value) in (dict, collections.OrderedDict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}" if prefix else str(i), v)

    walk("", node)
    return out


def as_bytes(value: Any) -> tuple[str, tuple[int, ...], bytes]:
    """(dtype name, shape, little-endian C-order bytes) of a tensor or array."""
    import numpy as np
    import torch

    if isinstance(value, np.ndarray):
        little = value.astype(value.dtype.newbyteorder("<"))
        value = torch.from_numpy(little.copy(order="C"))  # ascontiguousarray makes 0-d 1-d
    flat = value.detach().contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return str(value.dtype).split(".")[1], tuple(value.shape), raw


def header(path: Path) -> dict[str, Any]:
    """The raw safetensors header (metadata included)."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    doc = json.loads(raw[8 : 8 + n])
    assert isinstance(doc, dict)
    return doc


def assert_round_trip(source: Path, output: Path) -> dict[str, str]:
    """Every expected tensor reads back bit for bit; returns the aliases."""
    from safetensors import safe_open

    want = expected_tensors(source)
    with safe_open(str(output), framework="pt") as f:
        stored = set(f.keys())
        meta = f.metadata() or {}
        aliases = {
            k: v for k, v in meta.items() if k != "format" and not k.startswith("weightguard.")
        }
        assert stored | set(aliases) == set(want), (sorted(stored | set(aliases)), sorted(want))
        assert not stored & set(aliases)
        for name, value in want.items():
            got = f.get_tensor(aliases.get(name, name))
            assert as_bytes(got) == as_bytes(value), name
    return aliases
