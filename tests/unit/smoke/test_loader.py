"""Strict loading: every missing, unexpected, mis-shaped or mis-typed tensor is named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from weightguard.errors import ExitCode, ModelReadError
from weightguard.smoke.factory import build_model
from weightguard.smoke.loader import ModelLoadError, load_strict

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _mlp() -> object:
    return build_model("examples.models.mlp:build", "cpu", None)


def _problems(err: ModelLoadError) -> set[tuple[str, str | None]]:
    return {(p.code, p.path) for p in err.problems}


def test_load_copies_every_tensor(weights: dict[str, Path]) -> None:
    from safetensors.torch import load_file

    model = _mlp()
    stats = load_strict(model, weights["mlp"], "cpu")
    ref = load_file(str(weights["mlp"]))
    assert stats.tensors == len(ref) == 6 and stats.bytes == sum(t.nbytes for t in ref.values())
    assert stats.seconds >= 0 and stats.files == (str(weights["mlp"]),)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, ref[name]), name


def test_tied_alias_is_not_missing_and_non_persistent_buffers_stay(
    weights: dict[str, Path],
) -> None:
    model = build_model("examples.models.transformer:build", "cpu", None)
    load_strict(model, weights["transformer"], "cpu")
    assert model.lm_head.weight is model.tok_emb.weight
    assert model.block.causal_mask.dtype == torch.bool


def test_missing_keys_are_named(
    weights: dict[str, Path], edit_weights: Callable[..., Path]
) -> None:
    path = edit_weights(weights["mlp"], lambda t: (t.pop("head.bias"), t.pop("fc2.weight")))
    with pytest.raises(ModelLoadError) as info:
        load_strict(_mlp(), path, "cpu")
    err = info.value
    assert err.exit_code == ExitCode.INCOMPLETE
    assert _problems(err) == {
        ("smoke.missing_key", "fc2.weight"),
        ("smoke.missing_key", "head.bias"),
    }
    assert "missing: fc2.weight, head.bias" in err.message


def test_unexpected_key_is_named(
    weights: dict[str, Path], edit_weights: Callable[..., Path]
) -> None:
    path = edit_weights(weights["mlp"], lambda t: t.update(extra=torch.zeros(3)))
    with pytest.raises(ModelLoadError, match="unexpected: extra") as info:
        load_strict(_mlp(), path, "cpu")
    assert _problems(info.value) == {("smoke.unexpected_key", "extra")}


def test_shape_mismatch_names_tensor_and_shapes(
    weights: dict[str, Path], edit_weights: Callable[..., Path]
) -> None:
    path = edit_weights(weights["mlp"], lambda t: t.update({"head.bias": torch.zeros(5)}))
    with pytest.raises(ModelLoadError, match="shape mismatch: head.bias") as info:
        load_strict(_mlp(), path, "cpu")
    (problem,) = info.value.problems
    assert (problem.expected, problem.actual) == ("[4]", "[5]")


def test_dtype_mismatch_is_refused_not_cast(
    weights: dict[str, Path], edit_weights: Callable[..., Path]
) -> None:
    path = edit_weights(weights["mlp"], lambda t: t.update({"fc1.bias": t["fc1.bias"].half()}))
    with pytest.raises(ModelLoadError, match="dtype mismatch: fc1.bias") as info:
        load_strict(_mlp(), path, "cpu")
    (problem,) = info.value.problems
    assert (problem.code, problem.expected, problem.actual) == (
        "smoke.dtype_mismatch",
        "float32",
        "float16",
    )


def test_every_problem_is_reported_at_once(
    weights: dict[str, Path], edit_weights: Callable[..., Path]
) -> None:
    def change(t: dict) -> None:
        t.pop("fc1.weight")
        t["junk"] = torch.zeros(1)
        t["head.bias"] = torch.zeros(4, dtype=torch.float64)
        t["fc2.bias"] = torch.zeros(2)

    with pytest.raises(ModelLoadError) as info:
        load_strict(_mlp(), edit_weights(weights["mlp"], change), "cpu")
    assert _problems(info.value) == {
        ("smoke.missing_key", "fc1.weight"),
        ("smoke.unexpected_key", "junk"),
        ("smoke.dtype_mismatch", "head.bias"),
        ("smoke.shape_mismatch", "fc2.bias"),
    }


def test_nothing_is_loaded_when_a_problem_is_found(
    weights: dict[str, Path], edit_weights: Callable[..., Path]
) -> None:
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = edit_weights(weights["mlp"], lambda t: t.update(extra=torch.zeros(1)))
    with pytest.raises(ModelLoadError):
        load_strict(model, path, "cpu")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_sharded_directory_loads_and_duplicates_are_refused(
    weights: dict[str, Path], tmp_path: Path
) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights["mlp"]))
    names = sorted(tensors)
    save_file({n: tensors[n] for n in names[:3]}, str(tmp_path / "a.safetensors"))
    save_file({n: tensors[n] for n in names[3:]}, str(tmp_path / "b.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    stats = load_strict(_mlp(), tmp_path, "cpu")
    assert stats.files == ("a.safetensors", "b.safetensors") and stats.tensors == 6
    save_file({names[0]: tensors[names[0]]}, str(tmp_path / "c.safetensors"))
    with pytest.raises(ModelLoadError, match="in two files") as info:
        load_strict(_mlp(), tmp_path, "cpu")
    assert _problems(info.value) == {("smoke.duplicate_key", names[0])}


def test_unreadable_weights_and_empty_directories(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelReadError, match="not a readable safetensors file") as info:
        load_strict(_mlp(), bad, "cpu")
    assert info.value.exit_code == ExitCode.INCOMPLETE and info.value.path == str(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no .safetensors files"):
        load_strict(_mlp(), empty, "cpu")


def test_a_failing_copy_is_a_load_error_not_a_crash(
    weights: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parameters created under inference mode refuse in-place updates outside it.
    (tmp_path / "inference_factory.py").write_text(
        "import torch\nfrom examples.models.mlp import MLP\n"
        "def build():\n    with torch.inference_mode():\n        return MLP()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model("inference_factory:build", "cpu", None)
    with pytest.raises(ModelLoadError, match="copying the weights onto cpu failed") as info:
        load_strict(model, weights["mlp"], "cpu")
    assert info.value.code == "smoke.copy_failed" and info.value.exit_code == ExitCode.INCOMPLETE
