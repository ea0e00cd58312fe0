"""A .keras archive whose config.json carries code was scanned clean (npz weights) or
merely incomplete (h5 weights, code not named): the config was read as plain JSON.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import weightguard.scan as wscan
from tests.scan_corpus import kerasfiles as kf
from weightguard.pickle.formats import detect_format
from weightguard.scan import Outcome


@pytest.mark.parametrize("weights", ["npz", "h5"])
def test_lambda_in_keras_config_is_unsafe(tmp_path: Path, weights: str) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(kf.archive(kf.sequential(kf.dense("d", 4), kf.lambda_layer()),
                                weights=weights))
    f = wscan.scan([path]).files[0]
    assert f.outcome is Outcome.UNSAFE
    assert any(x.rule == "keras.lambda" and "Lambda" in x.message for x in f.findings)
    # the gate must not take it for a plain zip either
    assert detect_format(path) == "keras"


def test_custom_module_import_is_unsafe(tmp_path: Path) -> None:
    # keras' deserialize_keras_object imports `module` (CVE-2025-1550 class)
    layer = {"module": "os", "class_name": "system", "config": {}, "registered_name": None}
    path = tmp_path / "m.keras"
    path.write_bytes(kf.archive(kf.sequential(layer), weights="npz"))
    f = wscan.scan([path]).files[0]
    assert f.outcome is Outcome.UNSAFE
    assert any(x.rule == "keras.lambda" and "'os'" in x.message for x in f.findings)
