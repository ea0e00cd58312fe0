"""Keras v3 archives: recognised by content, config.json judged for code, h5 incomplete."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

import weightguard.scan as wscan
from tests.scan_corpus import kerasfiles as kf
from weightguard.pickle.datafmt_keras import KerasError, code_in_config, is_keras
from weightguard.pickle.formats import FORMATS, detect_format
from weightguard.scan import Outcome


def _scan(tmp_path: Path, data: bytes, name: str = "model.keras"):
    path = tmp_path / name
    path.write_bytes(data)
    return wscan.scan([path]).files[0]


def _rules(f) -> set[str]:
    return {x.rule for x in f.findings}


def test_honest_archive_is_keras_and_its_h5_weights_incomplete(tmp_path: Path) -> None:
    f = _scan(tmp_path, kf.archive(kf.honest_config()))
    assert detect_format(tmp_path / "model.keras") == "keras"
    assert "keras" in FORMATS
    assert f.outcome is Outcome.INCOMPLETE
    assert _rules(f) == {"hdf5.unparsed"}


def test_honest_archive_with_npz_weights_is_clean(tmp_path: Path) -> None:
    f = _scan(tmp_path, kf.archive(kf.honest_config(), weights="npz"))
    assert f.outcome is Outcome.CLEAN, f.findings


def test_detection_ignores_the_file_name(tmp_path: Path) -> None:
    data = kf.archive(kf.honest_config())
    (tmp_path / "weights.bin").write_bytes(data)
    assert detect_format(tmp_path / "weights.bin") == "keras"


@pytest.mark.parametrize(
    ("layer", "needle"),
    [
        (kf.lambda_layer(), "Lambda"),
        ({"class_name": "TFOpLambda", "config": {"function": "math.add"}}, "TFOpLambda"),
        ({"module": "evil.layers", "class_name": "Boom", "config": {}}, "evil.layers"),
        ({"module": "keras.layers", "class_name": "Dense", "config": {},
          "registered_name": "MyPackage>Dense"}, "MyPackage>Dense"),
        (kf.dense("d", 2, {"class_name": "__lambda__", "config": {"code": "AAAA"}}),
         "__lambda__"),
        (kf.dense("d", 2, {"module": "builtins", "class_name": "function",
                           "config": "exec"}), "builtins"),
        ({"class_name": "Lambda", "config": {"function": ["e30=", None, None],
                                             "function_type": "lambda"}}, "Lambda"),
    ],
    ids=["lambda", "tfoplambda", "custom_module", "registered", "function_config",
         "builtins_function", "legacy_lambda"],
)
def test_code_in_the_config_is_unsafe(tmp_path: Path, layer: dict, needle: str) -> None:
    f = _scan(tmp_path, kf.archive(kf.sequential(kf.dense("d", 2), layer), weights="npz"))
    assert f.outcome is Outcome.UNSAFE
    hits = [x for x in f.findings if x.rule == "keras.lambda"]
    assert hits and needle in hits[0].message
    assert hits[0].member == "config.json"


def test_keras_namespace_is_not_custom() -> None:
    config = kf.honest_config()
    config["config"]["layers"][1]["registered_name"] = "keras>Dense"
    config["config"]["layers"][1]["module"] = "keras.src.layers.core.dense"
    assert code_in_config(json.dumps(config).encode()) is None


def test_config_without_metadata_is_still_judged(tmp_path: Path) -> None:
    # keras loads a .keras zip from config.json alone: no metadata.json, still code
    data = kf.archive(kf.sequential(kf.lambda_layer()), weights="npz", metadata=False)
    assert not is_keras(["config.json", "model.weights.npz"])
    f = _scan(tmp_path, data)
    assert f.outcome is Outcome.UNSAFE
    assert "keras.lambda" in _rules(f)


def test_duplicate_config_last_one_counts_and_every_one_is_read(tmp_path: Path) -> None:
    # zipfile.open (keras) takes the last of duplicate names: both are judged here
    bad = json.dumps(kf.sequential(kf.lambda_layer())).encode()
    data = kf.archive(kf.honest_config(), weights="npz", extra=[("config.json", bad)])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"Lambda" in z.read("config.json")
    f = _scan(tmp_path, data)
    assert f.outcome is Outcome.UNSAFE
    assert "keras.lambda" in _rules(f)


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[" * 200_000 + b"]" * 200_000, b"\xff\xfe\x00garbage"],
    ids=["syntax", "deep", "encoding"],
)
def test_unreadable_config_is_incomplete(tmp_path: Path, raw: bytes) -> None:
    f = _scan(tmp_path, kf.archive(raw, weights="npz"))
    assert f.outcome is Outcome.INCOMPLETE
    assert "keras.invalid" in _rules(f)
    with pytest.raises(KerasError):
        code_in_config(raw)


def test_config_over_the_cap_is_incomplete(tmp_path: Path, monkeypatch) -> None:
    from weightguard.pickle import datafmt_keras

    monkeypatch.setattr(datafmt_keras, "MAX_CONFIG", 64)
    f = _scan(tmp_path, kf.archive(kf.honest_config(), weights="npz"))
    assert f.outcome is Outcome.INCOMPLETE
    assert "keras.invalid" in _rules(f)
