"""Fixtures for the smoke tests: the reference models' weights, keys, a helper to edit weights.

torch is imported here, so these tests are skipped (not failed) without it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

REPO = Path(__file__).resolve().parents[3]
MODELS = ("mlp", "cnn", "transformer")


@pytest.fixture(scope="session", autouse=True)
def examples_importable() -> Iterator[None]:
    """Make `examples.models.*` importable by name, as the CLI does from the repo root."""
    added = str(REPO) not in sys.path
    if added:
        sys.path.insert(0, str(REPO))
    yield
    if added:
        sys.path.remove(str(REPO))


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory, examples_importable: None) -> dict[str, Path]:
    """Reference weights of every example model, generated once per session (read-only use)."""
    from examples.models.generate_weights import generate

    out = tmp_path_factory.mktemp("weights")
    return {name: generate(name, out) for name in MODELS}


@pytest.fixture(scope="session")
def ec_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh P-256 key pair on disk (private, public)."""
    from weightguard.signing.keys import generate_private_key, private_pem, public_pem

    d = tmp_path_factory.mktemp("keys")
    key = generate_private_key("p256")
    (d / "release.pem").write_bytes(private_pem(key))
    (d / "release.pub.pem").write_bytes(public_pem(key.public_key()))
    return d / "release.pem", d / "release.pub.pem"


@pytest.fixture
def edit_weights(tmp_path: Path) -> Callable[..., Path]:
    """edit_weights(src, change) -> a copy of a safetensors file after change(dict) edits it."""
    from safetensors.torch import load_file, save_file

    def edit(src: Path, change: Callable[[dict], None], name: str = "edited.safetensors") -> Path:
        tensors = load_file(str(src))
        change(tensors)
        out = tmp_path / name
        save_file(tensors, str(out))
        return out

    return edit


@pytest.fixture(scope="session")
def factories() -> dict[str, tuple[str, str]]:
    """name -> (model factory, input factory) of each example model."""
    return {
        name: (f"examples.models.{name}:build", f"examples.models.{name}:example_input")
        for name in MODELS
    }
