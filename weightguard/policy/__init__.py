"""Policy files: one YAML document decides who may ship which weights, how, with what evidence.

Public API:
- `load_policy(path) -> Policy` (`weightguard.policy.schema`): strict parsing; every
  problem is a `PolicyError` (a `ConfigError`, exit 2) with file, line and key path.
- `evaluate(policy, evidence) -> Decision` (`weightguard.policy.evaluate`): a pure
  function listing every check as passed/failed/skipped/excepted with a reason code.
- `weightguard.gate.run_gate(model, policy)` gathers the evidence and calls `evaluate`.
"""

from __future__ import annotations

from weightguard.policy._read import PolicyError, PolicyProblem
from weightguard.policy.evaluate import Check, Decision, Status, evaluate
from weightguard.policy.schema import Policy, load_policy, parse_policy

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
