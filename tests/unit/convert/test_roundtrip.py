"""Round trips: every tensor read back from the safetensors file equals the source
checkpoint bit for bit (torch.load / joblib / pickle of our own benign files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightguard.convert import convert
from weightguard.errors import WeightguardError

pytestmark = pytest.mark.torch


def _convert(case_path: Path, out: Path, **kw: object) -> object:
    return convert(case_path, out, **kw)  # type: ignore[arg-type]


def test_corpus_round_trips(corpus: dict, reference: object, tmp_path: Path) -> None:
    failures = []
    for name, case in corpus.items():
        out = tmp_path / f"{name}.safetensors"
        try:
            result = _convert(case.path, out)
        except WeightguardError as err:
            if err.code != case.expect:
                failures.append((name, "raised", err.code, err.message))
            assert not out.exists()
            continue
        if case.expect != "ok":
            failures.append((name, "converted, expected", case.expect))
            continue
        assert result.accepted, (name, result.reasons)
        reference.assert_round_trip(case.path, out)
    assert failures == []


# The scanner's benign corpus: what must convert, and why the rest cannot.
_SCAN_CORPUS_REFUSALS = {
    "dtype_complex128": "convert.unsupported_tensor",
    "sparse_coo": "convert.unsupported_tensor",
    "sparse_csr": "convert.unsupported_tensor",
    "quantized": "convert.unsupported_tensor",
    "meta": "convert.unsupported_tensor",
    "sched_step": "convert.no_tensors",
    "sched_onecycle": "convert.no_tensors",
    "grad_scaler": "convert.no_tensors",
    "np_generator": "convert.no_tensors",
    "np_randomstate": "convert.no_tensors",
    **{f"plain_p{p}": "convert.no_tensors" for p in range(6)},
}
_NOT_PICKLE_CHECKPOINTS = (
    "np_",
    "npz",
    "joblib_zlib",
    "joblib_gzip",
    "joblib_bz2",
    "joblib_xz",
    "joblib_lzma",
)


def test_scanner_benign_corpus(scan_benign: list, reference: object, tmp_path: Path) -> None:
    converted, failures = 0, []
    for sample in scan_benign:
        out = tmp_path / f"{sample.name}.safetensors"
        profiles = ("torch", "numpy", *sample.profiles)
        try:
            result = convert(sample.path, out, profiles=profiles)
        except WeightguardError as err:
            expected = _SCAN_CORPUS_REFUSALS.get(sample.name)
            if sample.path.suffix in (".npy", ".npz") or sample.name.startswith(
                _NOT_PICKLE_CHECKPOINTS[1:]
            ):
                expected = "convert.unsupported_format"
            if err.code != expected:
                failures.append((sample.name, err.code, err.message))
            assert not out.exists()
            continue
        if sample.name in _SCAN_CORPUS_REFUSALS:
            failures.append((sample.name, "converted"))
            continue
        assert result.accepted
        reference.assert_round_trip(sample.path, out)
        converted += 1
    assert failures == []
    assert converted >= 25
