"""Write the reference models' example weights, deterministically.

    python examples/models/generate_weights.py OUT_DIR [mlp cnn transformer]

Each model is built with `torch.manual_seed(0)` and saved as OUT_DIR/<name>.safetensors
with one copy of each tied tensor (under its first name in the state dict, as
`safetensors.torch.save_model` does) and only `{"format": "pt"}` as metadata: the header
metadata is an unordered map in safetensors, so several keys would be written in a
different order from run to run. The same torch version writes the same bytes every
time; the sha256 of each file is printed so a change is visible.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `examples.models` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.models import MODELS

SEED = 0


def generate(name: str, out_dir: Path) -> Path:
    """Build model `name` with the fixed seed and write its safetensors file."""
    import torch
    from safetensors.torch import save_file

    module = importlib.import_module(f"examples.models.{name}")
    torch.manual_seed(SEED)
    model = module.build()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, tensor in model.state_dict().items():
        if tensor.numel() and tensor.data_ptr() in seen:
            continue  # a tied alias of a tensor already kept
        seen.add(tensor.data_ptr())
        tensors[key] = tensor.detach().contiguous().clone()
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"any of {', '.join(MODELS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}")
    for name in args.models or MODELS:
        path = generate(name, args.out_dir)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path}  sha256:{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
