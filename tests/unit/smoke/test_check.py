"""`check_smoke`: record -> check passes; changed weights, other weights, other code fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from weightguard.errors import UsageError
from weightguard.report import Verdict
from weightguard.smoke import Tolerance, check_smoke, parse_record, record_smoke

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def records(weights: dict[str, Path], factories: dict[str, tuple[str, str]]) -> dict[str, object]:
    """A CPU record of every example model (parsed, unsigned)."""
    out = {}
    for name, (build, make_input) in factories.items():
        result = record_smoke(weights[name], build, input_factory=make_input, device="cpu")
        out[name] = parse_record(result.data)
    return out


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_record_then_check_passes(
    name: str, records: dict, weights: dict[str, Path], factories: dict[str, tuple[str, str]]
) -> None:
    build, make_input = factories[name]
    result = check_smoke(
        weights[name], records[name], build, input_factory=make_input, device="cpu"
    )
    assert result.accepted, result.reasons
    assert result.verdict.exit_code == 0
    assert all(c.ok and c.max_deviation == 0.0 for c in result.comparisons)
    d = result.details
    assert d["device"]["used"] == "cpu" and d["load_seconds"] >= 0 and d["run_seconds"] >= 0
    assert d["model"]["root_digest"] == f"sha256:{records[name].root_digest}"


def test_perturbed_weight_fails_with_the_largest_deviation(
    records: dict, weights: dict[str, Path], edit_weights: Callable[..., Path], factories: dict
) -> None:
    def nudge(t: dict) -> None:
        t["head.weight"][1, 0] += 0.01

    changed = edit_weights(weights["mlp"], nudge, name="mlp.safetensors")
    build, make_input = factories["mlp"]
    result = check_smoke(changed, records["mlp"], build, input_factory=make_input, device="cpu")
    assert result.verdict is Verdict.REJECTED
    codes = [r.code for r in result.reasons]
    assert codes[:2] == ["smoke.digest_mismatch", "smoke.output_mismatch"]
    (comparison,) = result.comparisons
    assert not comparison.ok and comparison.where.endswith(", 1]")  # output column 1 moved
    mismatch = result.reasons[1]
    assert mismatch.path == "output" and "largest deviation" in mismatch.message


def test_record_about_other_weights_is_rejected_even_if_outputs_agree(
    records: dict, weights: dict[str, Path], edit_weights: Callable[..., Path], factories: dict
) -> None:
    same_values = edit_weights(weights["mlp"], lambda t: None, name="resaved.safetensors")
    result = check_smoke(
        same_values,
        records["mlp"],
        factories["mlp"][0],
        input_factory=factories["mlp"][1],
        device="cpu",
    )
    assert result.verdict is Verdict.REJECTED
    (error,) = [r for r in result.reasons if r.severity == "error"]
    assert error.code == "smoke.digest_mismatch"
    assert error.expected == f"sha256:{records['mlp'].root_digest}"
    assert all(c.ok for c in result.comparisons)


@pytest.mark.parametrize(
    ("variant", "code", "name"),
    [
        ("mlp_extra_layer", "smoke.missing_key", "norm.weight"),
        ("mlp_without_head_bias", "smoke.unexpected_key", "head.bias"),
        ("mlp_wide", "smoke.shape_mismatch", "fc1.weight"),
        ("mlp_float64", "smoke.dtype_mismatch", "fc1.weight"),
    ],
)
def test_model_code_that_does_not_fit_the_weights_cannot_load(
    records: dict, weights: dict[str, Path], factories: dict, variant: str, code: str, name: str
) -> None:
    result = check_smoke(
        weights["mlp"],
        records["mlp"],
        f"examples.models.variants:{variant}",
        input_factory=factories["mlp"][1],
        device="cpu",
    )
    assert result.verdict is Verdict.INCOMPLETE and result.verdict.exit_code == 3
    assert (code, name) in {(r.code, r.path) for r in result.reasons}
    assert "smoke.factory_renamed" in {r.code for r in result.reasons if r.severity == "info"}


def test_other_input_is_reported(records: dict, weights: dict[str, Path], factories: dict) -> None:
    result = check_smoke(
        weights["mlp"],
        records["mlp"],
        factories["mlp"][0],
        input_factory="examples.models.cnn:example_input",
        device="cpu",
    )
    assert result.verdict in (Verdict.REJECTED, Verdict.INCOMPLETE)
    assert result.reasons[0].code in {"smoke.input_mismatch", "smoke.run_failed"}


def test_record_input_factory_must_be_named(
    records: dict, weights: dict[str, Path], factories: dict
) -> None:
    with pytest.raises(UsageError, match="pass --input-factory"):
        check_smoke(weights["mlp"], records["mlp"], factories["mlp"][0], device="cpu")


def test_shape_input_records_and_tolerance_override(
    weights: dict[str, Path], factories: dict, edit_weights: Callable[..., Path]
) -> None:
    rec = parse_record(
        record_smoke(weights["mlp"], factories["mlp"][0], input_shape=(3, 16), device="cpu").data
    )
    assert rec.input_shape == (3, 16) and rec.inputs[0]["shape"] == [3, 16]
    ok = check_smoke(weights["mlp"], rec, factories["mlp"][0], device="cpu")
    assert ok.accepted
    with pytest.raises(UsageError, match="drop --input-factory"):
        check_smoke(
            weights["mlp"],
            rec,
            factories["mlp"][0],
            input_factory=factories["mlp"][1],
            device="cpu",
        )
    loose = check_smoke(
        weights["mlp"], rec, factories["mlp"][0], device="cpu", tolerance=Tolerance(1.0, 1.0)
    )
    assert loose.accepted and loose.reasons[0].code == "smoke.tolerance_override"


def test_bad_record_file_is_a_rejection(
    weights: dict[str, Path], factories: dict, tmp_path: Path
) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(
        '{"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "x"}'
    )
    result = check_smoke(weights["mlp"], bad, factories["mlp"][0], device="cpu")
    assert result.verdict is Verdict.REJECTED and result.reasons[0].code == "smoke.record_type"


def test_cnn_weight_change_is_caught_in_the_projected_feature_map(
    records: dict, weights: dict[str, Path], edit_weights: Callable[..., Path], factories: dict
) -> None:
    def nudge(t: dict) -> None:
        t["conv2.bias"][3] += 0.01

    changed = edit_weights(weights["cnn"], nudge, name="cnn.safetensors")
    build, make_input = factories["cnn"]
    result = check_smoke(changed, records["cnn"], build, input_factory=make_input, device="cpu")
    failing = {r.path for r in result.reasons if r.code == "smoke.output_mismatch"}
    assert "output.features" in failing


def test_weights_changed_during_the_run_fail_closed(
    records: dict, weights: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    model = tmp_path / "mlp.safetensors"
    shutil.copy(weights["mlp"], model)
    (tmp_path / "touching_input.py").write_text(
        "import os, torch\n"
        "def make(seed):\n"
        "    with open(os.environ['SMOKE_TEST_MODEL'], 'ab') as fh:\n"
        "        fh.write(b' ')\n"
        "    return torch.randn(8, 16, generator=torch.Generator().manual_seed(seed))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SMOKE_TEST_MODEL", str(model))
    result = check_smoke(
        model,
        records["mlp"],
        "examples.models.mlp:build",
        input_factory="touching_input:make",
        device="cpu",
    )
    assert result.verdict is Verdict.INCOMPLETE
    assert result.reasons[0].code == "model.changed_during_hash"


def test_directory_without_weights_is_incomplete(records: dict, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    result = check_smoke(
        tmp_path,
        records["mlp"],
        "examples.models.mlp:build",
        input_factory="examples.models.mlp:example_input",
        device="cpu",
    )
    assert result.verdict is Verdict.INCOMPLETE and result.reasons[0].code == "smoke.no_weights"


def test_cast_is_recorded_and_repeated(
    weights: dict[str, Path], factories: dict, edit_weights: Callable[..., Path]
) -> None:
    build, make_input = factories["mlp"]
    as_float64 = edit_weights(
        weights["mlp"], lambda t: t.update({k: v.double() for k, v in t.items()})
    )
    result = record_smoke(
        as_float64, build, input_factory=make_input, device="cpu", dtype="float64"
    )
    rec = parse_record(result.data)
    assert (rec.dtype, rec.cast) == ("float64", "float64")
    assert rec.tolerance == Tolerance(1e-9, 1e-9)
    assert check_smoke(as_float64, rec, build, input_factory=make_input, device="cpu").accepted
    # --dtype casts the module, never the weights: a float32 file does not load into it
    from weightguard.smoke.loader import ModelLoadError

    with pytest.raises(ModelLoadError, match="dtype mismatch"):
        record_smoke(weights["mlp"], build, input_factory=make_input, device="cpu", dtype="float64")
