"""Factories are named trusted code: clear errors for bad names, seeded inputs are stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightguard.errors import ExitCode, UsageError
from weightguard.smoke.factory import (
    ModelBuildError,
    build_model,
    import_callable,
    make_input,
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.mark.parametrize("spec", ["nocolon", "a:b:c", "mod:", ":fn", "1mod:fn", "a b:fn"])
def test_malformed_names_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError, match="must look like"):
        import_callable(spec, "--factory")


def test_missing_module_attribute_and_non_callable() -> None:
    with pytest.raises(UsageError, match="not found") as info:
        import_callable("no_such_module_xyz:build", "--factory")
    assert "PYTHONPATH" in (info.value.hint or "")
    with pytest.raises(UsageError, match="no attribute 'nope'"):
        import_callable("examples.models.mlp:nope", "--factory")
    with pytest.raises(UsageError, match="not callable"):
        import_callable("examples.models.mlp:BATCH", "--factory")
    assert import_callable("examples.models.mlp:MLP.forward", "x") is not None


def test_module_that_raises_on_import_cannot_be_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_factory_mod.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "raising_factory_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelBuildError, match="import failed") as info:
        import_callable("broken_factory_mod:build", "--factory")
    assert info.value.exit_code == ExitCode.INCOMPLETE
    with pytest.raises(ModelBuildError, match="RuntimeError: boom"):
        import_callable("raising_factory_mod:build", "--factory")


def test_build_model_is_on_the_device_in_eval_mode() -> None:
    model = build_model("examples.models.mlp:build", "cpu", None)
    assert not model.training
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert (
        build_model("examples.models.mlp:build", "cpu", "float64").fc1.weight.dtype == torch.float64
    )


def test_build_model_refuses_non_modules_and_raising_factories() -> None:
    with pytest.raises(ModelBuildError, match="raised TypeError"):
        build_model("examples.models.mlp:example_input", "cpu", None)  # called with no seed
    with pytest.raises(ModelBuildError, match="returned int, not a torch.nn.Module"):
        build_model("os:getpid", "cpu", None)


def test_input_options_are_exclusive() -> None:
    with pytest.raises(UsageError, match="exactly one"):
        make_input(None, None, 0, torch.float32)
    with pytest.raises(UsageError, match="exactly one"):
        make_input("examples.models.mlp:example_input", (2, 3), 0, torch.float32)


def test_seeded_shape_input_is_reproducible_and_described() -> None:
    a = make_input(None, (2, 3), 7, torch.float32)
    b = make_input(None, (2, 3), 7, torch.float32)
    c = make_input(None, (2, 3), 8, torch.float32)
    assert torch.equal(a.args[0], b.args[0]) and a.spec == b.spec
    assert a.spec[0]["sha256"] != c.spec[0]["sha256"]
    assert a.spec[0] | {"sha256": "-"} == {
        "name": "input",
        "shape": [2, 3],
        "dtype": "float32",
        "sha256": "-",
    }


def test_input_factory_floats_take_the_model_dtype_integers_do_not() -> None:
    floats = make_input("examples.models.mlp:example_input", None, 0, torch.bfloat16)
    assert floats.args[0].dtype == torch.bfloat16
    ids = make_input("examples.models.transformer:example_input", None, 0, torch.float16)
    assert ids.args[0].dtype == torch.int64


def test_tuple_and_dict_inputs_become_args_and_kwargs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "inputs_mod.py").write_text(
        "import torch\n"
        "def pair(seed):\n    return (torch.zeros(2), torch.ones(3, dtype=torch.int32))\n"
        "def named(seed):\n    return {'x': torch.zeros(2)}\n"
        "def bad(seed):\n    return [1, 2]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pair = make_input("inputs_mod:pair", None, 0, torch.float32)
    assert [s["name"] for s in pair.spec] == ["input.0", "input.1"] and not pair.kwargs
    named = make_input("inputs_mod:named", None, 0, torch.float32)
    assert list(named.kwargs) == ["x"] and named.spec[0]["name"] == "input.x"
    with pytest.raises(ModelBuildError, match="not a Tensor"):
        make_input("inputs_mod:bad", None, 0, torch.float32)
