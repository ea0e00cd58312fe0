"""Class 3: overrides compare against every rule.

`--mode` replaces the mode of every check. It was refused only when weaker than the
policy's mode or than the weakest rule-level mode; so a `warn` policy with one `audit`
rule and one `enforce` rule accepted `--mode warn`, silently downgrading the `enforce`
rule (its violations then exited 0). A mode flag is a loosening flag as soon as it is
weaker than the effective mode of any rule (the rule's own mode, else the policy's).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.policy.kit import EVIL_PICKLE, Kit, default_model, make_kit
from weightguard.errors import UsageError
from weightguard.gate import Overrides


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("kit"))


def _policy(kit: Kit, base: Path, policy_mode: str, *rule_modes: str, allow: bool = False) -> Path:
    head = f"  mode: {policy_mode}\n" + ("  allowOverrides: true\n" if allow else "")
    body = "  rules:\n"
    for index, mode in enumerate(rule_modes):
        body += (
            f"  - name: r{index}\n    paths: ['**']\n    signatures: {{anyOf: [team-a]}}\n"
            f"    formats: {{allow: [safetensors, json]}}\n"
            + (f"    mode: {mode}\n" if mode else "")
        )
    return kit.policy(base, head + body)


@pytest.mark.parametrize(
    ("policy_mode", "rule_modes", "flag"),
    [
        ("warn", ("audit", "enforce"), "warn"),  # weakest rule audit, policy warn: both <= warn
        ("audit", ("audit", "enforce"), "audit"),
        ("audit", ("warn", ""), "audit"),  # a rule of mode warn under an audit policy
        ("warn", ("", "enforce", "audit"), "audit"),
    ],
)
def test_mode_weaker_than_any_rule_is_refused(
    kit: Kit, tmp_path: Path, policy_mode: str, rule_modes: tuple[str, ...], flag: str
) -> None:
    model = default_model(tmp_path / "model", **{"evil.bin": EVIL_PICKLE})
    kit.sign(model, "team-a")
    policy = _policy(kit, tmp_path / "p", policy_mode, *rule_modes)
    # Without the flag the enforce rule rejects the pickle...
    assert kit.gate(model, policy).report().exit_code == (1 if "enforce" in rule_modes else 0)
    # ... and before the fix `--mode warn` was applied: exit 0.
    with pytest.raises(UsageError) as err:
        kit.gate(model, policy, overrides=Overrides(mode=flag))
    assert err.value.code == "policy.override_refused"
    assert err.value.exit_code == 2


def test_mode_as_strong_as_every_rule_is_fine(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    policy = _policy(kit, tmp_path / "p", "warn", "audit", "warn")
    for mode in ("warn", "enforce"):
        assert kit.gate(model, policy, overrides=Overrides(mode=mode)).report().exit_code == 0


def test_allow_overrides_still_allows_it(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "model", **{"evil.bin": EVIL_PICKLE})
    kit.sign(model, "team-a")
    policy = _policy(kit, tmp_path / "p", "warn", "audit", "enforce", allow=True)
    result = kit.gate(model, policy, overrides=Overrides(mode="warn"))
    assert result.report().exit_code == 0
    assert result.report().to_json_dict()["policy"]["overrides"] == ["--mode warn"]


def test_gather_evidence_refuses_overrides_the_policy_does_not_allow(
    kit: Kit, tmp_path: Path
) -> None:
    """A library caller of `gather_evidence` cannot skip the override check `run_gate` makes.

    Before the guard, `Overrides(ignore_paths=("evil.bin",))` under a policy without
    `allowOverrides` left a code-running pickle added after signing out of the evidence,
    and `evaluate` accepted the model (seen: accepted).
    """
    from weightguard.policy import evaluate, load_policy
    from weightguard.policy.gather import gather_evidence

    model = default_model(tmp_path / "model")
    kit.sign(model, "team-a")
    (model / "evil.bin").write_bytes(EVIL_PICKLE)
    policy = load_policy(_policy(kit, tmp_path / "p", "enforce", ""))
    evidence = gather_evidence(model, policy, sidecars=("model.sig",))
    assert evaluate(policy, evidence).verdict.value == "rejected"
    for loosening in (Overrides(ignore_paths=("evil.bin",)), Overrides(allow_symlinks=True)):
        with pytest.raises(UsageError) as err:
            gather_evidence(model, policy, sidecars=("model.sig",), overrides=loosening)
        assert err.value.code == "policy.override_refused"


def test_evaluate_refuses_a_weaker_mode_the_policy_does_not_allow(kit: Kit, tmp_path: Path) -> None:
    """`evaluate(mode=...)` checks the mode itself, as `run_gate` does (seen: accepted before)."""
    from weightguard.policy import evaluate, load_policy
    from weightguard.policy.gather import gather_evidence

    model = default_model(tmp_path / "model", **{"evil.bin": EVIL_PICKLE})
    kit.sign(model, "team-a")
    policy = load_policy(_policy(kit, tmp_path / "p", "enforce", ""))
    evidence = gather_evidence(model, policy, sidecars=("model.sig",))
    assert evaluate(policy, evidence).verdict.value == "rejected"
    assert evaluate(policy, evidence, mode="enforce").verdict.value == "rejected"
    with pytest.raises(UsageError) as err:
        evaluate(policy, evidence, mode="audit")
    assert err.value.code == "policy.override_refused"
    allowed = load_policy(_policy(kit, tmp_path / "q", "enforce", "", allow=True))
    assert evaluate(allowed, evidence, mode="audit").verdict.value == "accepted"
