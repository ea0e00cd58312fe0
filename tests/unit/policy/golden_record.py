"""A pytest plugin that records every policy decision the tests make (a behaviour record).

Refactors of the policy engine must not change a single check: run the policy tests with
this plugin before and after, and compare the two files.

    WG_GOLDEN_OUT=/tmp/before.json pytest -p tests.unit.policy.golden_record tests/...

Each `Decision` and each `GateResult` report built while a test runs is written out as
JSON (every check, status, reason code, message and their order), keyed by the test id.
What differs between two honest runs is normalised away: temporary directories, the
checkout's path, times of day read from the clock, and 64-hex values (fresh keys per session make fresh key ids), numbered by first
appearance within the test so that a value moving between places still shows.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_RECORD: dict[str, list[Any]] = {}
_CURRENT: list[str] = [""]
_HEX = re.compile(r"[0-9a-f]{64}")
_TMP = re.compile(r"/tmp/pytest-of-[^/]+/pytest-\d+/")
# Times of day that are not midnight come from the clock (verified_at, certificate expiry).
_CLOCK = re.compile(r"(?<=\d{4}-\d\d-\d\dT)(?!00:00:00)\d\d:\d\d:\d\d(\.\d+)?")
_REPO = str(Path(__file__).resolve().parents[3])


def _normalise(doc: Any) -> Any:
    text = _TMP.sub("<tmp>/", json.dumps(doc, sort_keys=False, default=str))
    text = _CLOCK.sub("<clock>", text.replace(_REPO, "<repo>"))
    seen: dict[str, str] = {}
    text = _HEX.sub(lambda m: seen.setdefault(m.group(0), f"<hex{len(seen)}>"), text)
    return json.loads(text)


def _record(kind: str, doc: dict[str, Any]) -> None:
    _RECORD.setdefault(_CURRENT[0], []).append({kind: doc})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    from weightguard.gate import GateResult
    from weightguard.policy.decision import Decision

    _CURRENT[0] = item.nodeid
    originals = (Decision.__init__, GateResult.__init__)

    def decision_init(self: Decision, *args: Any, **kwargs: Any) -> None:
        originals[0](self, *args, **kwargs)
        _record("decision", self.to_json_dict())

    def gate_init(self: GateResult, *args: Any, **kwargs: Any) -> None:
        originals[1](self, *args, **kwargs)
        _record("report", self.report().to_json_dict())

    Decision.__init__ = decision_init  # type: ignore[method-assign]
    GateResult.__init__ = gate_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        Decision.__init__, GateResult.__init__ = originals  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("WG_GOLDEN_OUT")
    if out:
        record = {k: _normalise(v) for k, v in sorted(_RECORD.items())}
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1, sort_keys=True)
