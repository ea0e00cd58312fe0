"""`weightguard policy`: lint a policy file, explain how it applies to a model.

Also the text renderer of `weightguard verify --policy` (kept here, beside the other
policy output, so verify.py stays short).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from weightguard.cli._common import render_reason
from weightguard.cli.options import HelpCommand
from weightguard.cli.run import Result, contract
from weightguard.errors import ExitCode
from weightguard.report import Reason, Report, Verdict


def render_gate_text(report: Report) -> str:
    """Human output of `verify --policy`: verdict, policy, signatures, summary, reasons."""
    d = report.details
    model = d.get("model") or {}
    policy = d.get("policy") or {}
    root = model.get("root_digest") or "-"
    lines = [
        f"{report.verdict.value.upper()}: {model.get('path')} ({root})",
        f"  policy: {policy.get('name')} {policy.get('digest')} (mode {policy.get('mode')})",
    ]
    if policy.get("overrides"):
        lines.append(f"  overrides: {', '.join(policy['overrides'])}")
    for sig in d.get("signatures") or []:
        who = ", ".join(sig.get("signers") or []) or "no trusted signer"
        lines.append(f"  signature: {sig['source']} ({who})")
    for att in d.get("attestations") or []:
        who = ", ".join(att.get("signers") or []) or "no trusted signer"
        lines.append(f"  attestation: {att['source']} {att['predicate_type']} ({who})")
    summary = policy.get("summary") or {}
    lines.append(
        "  checks: "
        + ", ".join(f"{summary.get(k, 0)} {k}" for k in ("passed", "failed", "skipped", "excepted"))
    )
    lines.extend(render_reason(r) for r in report.reasons)
    return "\n".join(lines) + "\n"


def render_sarif(model: str) -> Callable[[Report], str]:
    """A renderer writing the SARIF log of a verify report (SARIF code loaded only if used)."""

    def render(report: Report) -> str:
        from weightguard.policy.sarif import report_to_sarif

        return json.dumps(report_to_sarif(report, model), indent=2) + "\n"

    return render


@click.group()
def policy() -> None:
    """Check policy files and see how they apply to a model."""


def _lint_text(report: Report) -> str:
    d = report.details
    if d["problems"]:
        return "".join(f"{r.path}: {r.message} [{r.code}]\n" for r in report.reasons)
    lines = [f"{d['policy']}: warning: {w}" for w in d["warnings"]]
    lines.append(
        f"OK: {d['policy']}: policy {d['name']!r} {d['digest']}: {d['signers']} signer(s), "
        f"{d['rules']} rule(s), {d['exceptions']} exception(s), mode {d['mode']}"
    )
    return "\n".join(lines) + "\n"


@policy.command(
    cls=HelpCommand,
    examples=("weightguard policy lint policies/default.yaml",),
)
@click.argument("policy_path", metavar="POLICY", type=click.Path(path_type=Path))
@contract("policy lint", model_param="policy_path")
def lint(policy_path: Path) -> Result:
    """Validate POLICY strictly and list every problem (exit 0 clean, 2 invalid)."""
    from weightguard.policy import PolicyError
    from weightguard.policy.explain import lint_warnings
    from weightguard.policy.load import parse_policy, read_policy_bytes

    try:
        policy_value, problems = parse_policy(read_policy_bytes(policy_path), str(policy_path))
    except PolicyError as err:
        policy_value, problems = None, list(err.problems)
    warnings = lint_warnings(policy_value) if policy_value is not None else []
    details: dict[str, Any] = {
        "policy": str(policy_path),
        "valid": not problems,
        "digest": policy_value.digest if policy_value else None,
        "problems": [p.to_json_dict() for p in problems],
        "warnings": warnings,
    }
    if policy_value is not None:
        details.update(
            name=policy_value.name,
            signers=len(policy_value.signers),
            rules=len(policy_value.rules),
            exceptions=len(policy_value.exceptions),
            mode=policy_value.mode,
        )
    reasons = tuple(
        Reason(
            p.code,
            p.message if not p.key else f"{p.key}: {p.message}",
            f"{p.file}:{p.line}" if p.line else p.file,
        )
        for p in problems
    )
    if problems:
        report = Report("policy lint", Verdict.ERROR, reasons, details, int(ExitCode.USAGE))
        return Result(report, _lint_text, notes=(f"{policy_path}: {len(problems)} problem(s)",))
    return Result(Report("policy lint", Verdict.ACCEPTED, (), details), _lint_text)


def _explain_text(report: Report) -> str:
    d = report.details
    pol = d["policy"]
    lines = [f"policy {pol['name']!r} {pol['digest']} (mode {pol['mode']}) on {d['model']}"]
    for f in d["files"]:
        lines.append(f"{f['path']}  [{f.get('format') or 'unreadable'}]")
        if f.get("unmatched") is not None:
            fate = {"deny": "fails", "warn": "warns", "allow": "allowed"}[f["unmatched"]]
            lines.append(f"  no rule matches: {fate} (unmatchedFiles: {f['unmatched']})")
        for m in f.get("rules", []):
            lines.append(f"  rule {m['rule']}: matched by {m['pattern']!r}")
        for check in f.get("checks", []):
            lines.append(f"    - {check}")
        for exc in f.get("exceptions", []):
            lines.append(f"  exception: {exc}")
    lines.extend(f"model: {line}" for line in d["model_checks"])
    return "\n".join(lines) + "\n"


@policy.command(
    cls=HelpCommand,
    examples=("weightguard policy explain policies/default.yaml MODEL",),
)
@click.argument("policy_path", metavar="POLICY", type=click.Path(path_type=Path))
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@contract("policy explain")
def explain(policy_path: Path, model_path: Path) -> Result:
    """Show which rule matches which file of MODEL and why (nothing is verified)."""
    from weightguard.policy.explain import explain_files, model_files, rule_model_checks
    from weightguard.policy.load import load_policy

    pol = load_policy(policy_path)
    files = explain_files(
        pol,
        model_files(
            model_path, allow_symlinks=pol.allow_symlinks, unmatched_files=pol.unmatched_files
        ),
    )
    details = {
        "policy": {
            "name": pol.name,
            "path": str(policy_path),
            "digest": pol.digest,
            "mode": pol.mode,
        },
        "model": str(model_path),
        "files": [f.to_json_dict() for f in files],
        "model_checks": rule_model_checks(pol),
    }
    return Result(Report("policy explain", Verdict.ACCEPTED, (), details), _explain_text)
