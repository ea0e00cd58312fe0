"""The JSON Schema shipped for editors agrees with the parser on the shipped examples and
on the keys it knows."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed")

REPO = Path(__file__).resolve().parents[3]


def schema() -> dict:
    text = resources.files("weightguard.policy").joinpath("schema.json").read_text()
    return json.loads(text)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize("path", sorted((REPO / "policies").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    jsonschema.Draft202012Validator(schema()).validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["spec"].update(colour="blue"),
        lambda d: d["spec"]["rules"][0].update(signatures={"anyOf": [], "allOf": ["a"]}),
        lambda d: d["spec"]["rules"][0].update(formats={"allow": ["safetensor"]}),
        lambda d: d.update(apiVersion="weightguard.dev/v1alpha1"),
        lambda d: d["spec"].update(mode="strict"),
    ],
)
def test_schema_rejects_what_lint_rejects(mutate: object) -> None:
    doc = yaml.safe_load((REPO / "policies" / "default.yaml").read_text())
    mutate(doc)  # type: ignore[operator]
    assert list(jsonschema.Draft202012Validator(schema()).iter_errors(doc))


def test_schema_knows_the_parser_keys() -> None:
    from weightguard.policy._rules import _RULE_KEYS
    from weightguard.policy._spec import _SPEC_KEYS

    s = schema()
    assert set(s["properties"]["spec"]["properties"]) == set(_SPEC_KEYS)
    assert set(s["$defs"]["rule"]["properties"]) == set(_RULE_KEYS)


def test_schema_knows_the_scan_keys() -> None:
    import inspect

    from weightguard.policy import _rules

    source = inspect.getsource(_rules.read_scan)
    keys = set(schema()["$defs"]["rule"]["properties"]["scan"]["properties"])
    assert keys == {"source", "formats", "signers", "predicateType", "where", "profiles", "allow"}
    assert all(f'"{k}"' in source for k in keys)
