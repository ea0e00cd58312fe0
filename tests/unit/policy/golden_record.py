"""A pytest plugin that records every policy decision the tests make (a behaviour record).

Refactors of the policy engine must not change a single check: run the policy tests with
this plugin before and after, and compare the two files.

    WG_GOLDEN_OUT=/tmp/before.json pytest -p tests.unit.policy.golden_record tests/...

Each `Decision`, each `GateResult` report and each `PolicyProblem` (what `policy lint`
prints) built while a test runs is written out as
JSON (every check, status, reason code, message and their order), keyed by the test id
and normalised per test (`tests.unit.policy.golden.normalise`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.policy.golden import normalise

_RECORD: dict[str, list[Any]] = {}
_CURRENT: list[str] = [""]


def _record(kind: str, doc: dict[str, Any]) -> None:
    _RECORD.setdefault(_CURRENT[0], []).append({kind: doc})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    from weightguard.gate import GateResult
    from weightguard.policy._read import PolicyProblem
    from weightguard.policy.decision import Decision

    _CURRENT[0] = item.nodeid
    originals = (Decision.__init__, GateResult.__init__, PolicyProblem.__init__)

    def decision_init(self: Decision, *args: Any, **kwargs: Any) -> None:
        originals[0](self, *args, **kwargs)
        _record("decision", self.to_json_dict())

    def gate_init(self: GateResult, *args: Any, **kwargs: Any) -> None:
        originals[1](self, *args, **kwargs)
        _record("report", self.report().to_json_dict())

    def problem_init(self: PolicyProblem, *args: Any, **kwargs: Any) -> None:
        originals[2](self, *args, **kwargs)
        _record("problem", self.to_json_dict())

    Decision.__init__ = decision_init  # type: ignore[method-assign]
    GateResult.__init__ = gate_init  # type: ignore[method-assign]
    PolicyProblem.__init__ = problem_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        Decision.__init__, GateResult.__init__, PolicyProblem.__init__ = originals  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("WG_GOLDEN_OUT")
    if out:
        record = {k: normalise(v) for k, v in sorted(_RECORD.items())}
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1, sort_keys=True)
