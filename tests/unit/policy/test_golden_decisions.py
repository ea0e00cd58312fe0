"""Golden record: every check of every policy scenario, exactly as the gate decides it.

`test_scenarios` asserts one reason code per scenario; this holds the rest of the
decision still: every check in order, with its status, code, rule, path, mode, message,
expected/actual and exception, the verdict, and the evidence gathered (files, formats,
digests, scans, signatures and who refused them, attestations). A change to any of them
fails here with the scenario and a diff. When the change is intended, rewrite the
record and review its diff:

    WG_GOLDEN_UPDATE=1 pytest tests/unit/policy/test_golden_decisions.py

Keys are made per session, so key ids, and the test's directories, are normalised
(`tests.unit.policy.golden`).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from tests.unit.policy.golden import normalise, report_lines
from tests.unit.policy.kit import Kit, default_model, make_kit
from tests.unit.policy.test_scenarios import SCENARIOS, STANDARD, _special_spec
from weightguard.gate import Overrides

GOLDEN = Path(__file__).parent / "golden" / "scenarios.json"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("golden-kit"))


def _decide(kit: Kit, tmp: Path, scenario_id: str) -> list[str]:
    scenario = next(s for s in SCENARIOS if s.id == scenario_id)
    model = tmp / "model"
    kw = scenario.build(kit, model)
    policy = kit.policy(tmp / "policy", _special_spec(kit, scenario, model))
    doc = kit.gate(model, policy, **kw).report().to_json_dict()
    return _lines(doc, kit, tmp)


def _lines(doc: dict[str, object], kit: Kit, tmp: Path) -> list[str]:
    dirs = [(str(p), name) for p, name in ((tmp, "<test>"), (kit.root, "<kit>"))]
    dirs += [(str(Path(p).resolve()), name) for p, name in dirs]
    return list(report_lines(normalise(doc, dirs)))


def _overridden(kit: Kit, tmp: Path) -> list[str]:
    """A warn-mode override of an enforce policy that allows it, and an unsigned model."""
    model = default_model(tmp / "model")
    policy = kit.policy(tmp / "policy", "  allowOverrides: true\n" + STANDARD)
    result = kit.gate(model, policy, overrides=Overrides(mode="warn", allow_unsigned_files=True))
    return _lines(result.report().to_json_dict(), kit, tmp)


def test_decisions_match_the_golden_record(
    kit: Kit, tmp_path_factory: pytest.TempPathFactory
) -> None:
    got = {s.id: _decide(kit, tmp_path_factory.mktemp("golden"), s.id) for s in SCENARIOS}
    got["override-warn-unsigned"] = _overridden(kit, tmp_path_factory.mktemp("golden"))
    if os.environ.get("WG_GOLDEN_UPDATE"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    changed = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    diffs = [
        "\n".join(difflib.unified_diff(want.get(k, []), got.get(k, []), k, k, lineterm="", n=0))
        for k in changed[:5]
    ]
    assert not changed, (
        f"{len(changed)} scenario(s) decide differently: {', '.join(changed)}\n"
        + "\n".join(diffs)
        + "\n(intended? WG_GOLDEN_UPDATE=1 rewrites tests/unit/policy/golden/scenarios.json)"
    )


def test_the_record_covers_every_scenario() -> None:
    want = json.loads(GOLDEN.read_text())
    assert set(want) == {s.id for s in SCENARIOS} | {"override-warn-unsigned"}
