"""Policy files: one YAML document decides who may ship which weights, how, with what evidence.

Public API:
- `load_policy(path) -> Policy` (`weightguard.policy.load`): strict parsing into the
  frozen values of `weightguard.policy.values`; every problem is a `PolicyError` (a
  `ConfigError`, exit 2) with file, line and key path.
- `gather_evidence(model, policy) -> Evidence` (`weightguard.policy.gather`): all the
  reading, verifying, hashing and scanning, returned as frozen facts.
- `evaluate(policy, evidence) -> Decision` (`weightguard.policy.evaluate`): a pure
  function folding the check families (`checks_*`) into every check as
  passed/failed/skipped/excepted with a reason code, and a verdict.
- `weightguard.gate.run_gate(model, policy)` applies command-line overrides
  (`weightguard.policy.overrides`), gathers the evidence, evaluates and reports.
"""

from __future__ import annotations

from weightguard.policy._read import PolicyError, PolicyProblem
from weightguard.policy.evaluate import Check, Decision, Status, evaluate
from weightguard.policy.load import load_policy, parse_policy
from weightguard.policy.values import Policy

__all__ = [
    "Check",
    "Decision",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "Status",
    "evaluate",
    "load_policy",
    "parse_policy",
]
