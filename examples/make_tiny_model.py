"""Write a tiny, deterministic example model directory (safetensors + config), no torch.

Usage: python examples/make_tiny_model.py OUT_DIR

The safetensors file is written by hand (8-byte little-endian header length, JSON
header, raw little-endian tensor bytes; see the safetensors format description) so the
demo needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path


def safetensors_bytes(tensors: dict[str, tuple[list[int], list[float]]]) -> bytes:
    """Serialize float32 tensors {name: (shape, values)} into safetensors bytes."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs: list[bytes] = []
    offset = 0
    for name, (shape, values) in sorted(tensors.items()):
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {
            "dtype": "F32",
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # align the data section to 8 bytes
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def main(out: str) -> None:
    """Create OUT with model.safetensors, config.json and tokenizer/vocab.txt."""
    root = Path(out)
    (root / "tokenizer").mkdir(parents=True, exist_ok=True)
    weights = {
        "layer.weight": ([4, 4], [((i * 7) % 11) / 10.0 - 0.5 for i in range(16)]),
        "layer.bias": ([4], [0.1, -0.2, 0.3, -0.4]),
    }
    (root / "model.safetensors").write_bytes(safetensors_bytes(weights))
    (root / "config.json").write_text(json.dumps({"model_type": "tiny", "hidden": 4}) + "\n")
    (root / "tokenizer" / "vocab.txt").write_text("<pad>\n<unk>\nhello\nworld\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-out/tiny-model")
