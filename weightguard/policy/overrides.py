"""Command-line overrides of a policy: what they loosen, and applying them.

Owns: `Overrides` (``--mode``, ``--allow-unsigned-files``, ``--allow-symlinks``,
``--ignore``), the rule that a flag loosening a policy is refused unless the policy says
``allowOverrides: true``, and the policy as the overrides change it. The gate calls
`apply_overrides` before gathering any evidence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from weightguard.errors import UsageError
from weightguard.policy.values import Policy

_MODE_STRENGTH = {"audit": 0, "warn": 1, "enforce": 2}


def mode_strength(mode: str) -> int:
    """enforce 2 > warn 1 > audit 0."""
    return _MODE_STRENGTH[mode]


def weakened_by(policy: Policy, mode: str) -> list[str]:
    """What a `--mode` override would weaken: the policy and every rule (by name) whose
    effective mode (its own, else the policy's) is stronger than `mode`."""
    out = ["the policy"] if mode_strength(mode) < mode_strength(policy.mode) else []
    out += [
        f"rule {r.name}"
        for r in policy.rules
        if mode_strength(mode) < mode_strength(r.mode or policy.mode)
    ]
    return out


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that can loosen a policy (allowed only by ``allowOverrides``)."""

    mode: str | None = None
    allow_unsigned_files: bool = False
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = ()

    def weakening(self, policy: Policy) -> list[str]:
        """The flags that would loosen `policy` (a stronger --mode is not loosening)."""
        out = []
        # --mode replaces every rule's mode: weaker than any rule's is loosening.
        weakened = weakened_by(policy, self.mode) if self.mode is not None else []
        if weakened:
            out.append(f"--mode {self.mode} (weakens {', '.join(weakened)})")
        if self.allow_unsigned_files:
            out.append("--allow-unsigned-files")
        if self.allow_symlinks and not policy.allow_symlinks:
            out.append("--allow-symlinks")
        out.extend(f"--ignore {p}" for p in self.ignore_paths)
        return out

    def describe(self) -> list[str]:
        """Every override given, for the report."""
        out = [f"--mode {self.mode}"] if self.mode else []
        out += ["--allow-unsigned-files"] * self.allow_unsigned_files
        out += ["--allow-symlinks"] * self.allow_symlinks
        return out + [f"--ignore {p}" for p in self.ignore_paths]


def check_overrides(policy: Policy, overrides: Overrides) -> None:
    """Refuse command-line flags that loosen a policy that does not allow it.

    Raises:
        UsageError: (exit 2) naming the flags.
    """
    weak = overrides.weakening(policy)
    if weak and not policy.allow_overrides:
        raise UsageError(
            f"{', '.join(weak)} would loosen policy {policy.name!r}, which does not allow "
            "overrides (spec.allowOverrides: false)",
            path=policy.path,
            code="policy.override_refused",
        )


def apply_overrides(policy: Policy, overrides: Overrides) -> Policy:
    """`policy` as `overrides` change it, once `check_overrides` has allowed them.

    ``--allow-unsigned-files`` becomes every rule's ``unsignedFiles: allow``; the other
    flags act where evidence is gathered (symlinks, ignored paths) or judged (mode).

    Raises:
        UsageError: (exit 2) flags that loosen a policy that does not allow it.
    """
    check_overrides(policy, overrides)
    if not overrides.allow_unsigned_files:
        return policy
    rules = tuple(dataclasses.replace(r, unsigned_files="allow") for r in policy.rules)
    return dataclasses.replace(policy, rules=rules)
