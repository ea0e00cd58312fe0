"""`weightguard policy`: lint a policy file, explain how it applies to a model.

Also the text renderer of `weightguard verify --policy` (kept here, beside the other
policy output, so verify.py stays short).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from weightguard.cli._common import handle_errors, render_reason
from weightguard.errors import ExitCode
from weightguard.report import Report


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
    """A renderer writing the SARIF log of a verify report."""
    from weightguard.policy.sarif import report_to_sarif

    def render(report: Report) -> str:
        return json.dumps(report_to_sarif(report, model), indent=2) + "\n"

    return render


@click.group()
def policy() -> None:
    """Check policy files and see how they apply to a model."""


@policy.command()
@click.argument("policy_path", metavar="POLICY", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@handle_errors
def lint(policy_path: Path, output_format: str) -> None:
    """Validate POLICY strictly and list every problem (exit 0 clean, 2 invalid)."""
    from weightguard.policy import PolicyError
    from weightguard.policy.explain import lint_warnings
    from weightguard.policy.schema import parse_policy, read_policy_bytes

    try:
        policy_value, problems = parse_policy(read_policy_bytes(policy_path), str(policy_path))
    except PolicyError as err:
        policy_value, problems = None, list(err.problems)
    warnings = lint_warnings(policy_value) if policy_value is not None else []
    if output_format == "json":
        doc = {
            "command": "policy lint",
            "policy": str(policy_path),
            "valid": not problems,
            "digest": policy_value.digest if policy_value else None,
            "problems": [p.to_json_dict() for p in problems],
            "warnings": warnings,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif problems:
        for p in problems:
            click.echo(f"{p} [{p.code}]")
        click.echo(f"{policy_path}: {len(problems)} problem(s)", err=True)
    else:
        assert policy_value is not None
        for w in warnings:
            click.echo(f"{policy_path}: warning: {w}")
        click.echo(
            f"OK: {policy_path}: policy {policy_value.name!r} {policy_value.digest}: "
            f"{len(policy_value.signers)} signer(s), {len(policy_value.rules)} rule(s), "
            f"{len(policy_value.exceptions)} exception(s), mode {policy_value.mode}"
        )
    sys.exit(int(ExitCode.USAGE if problems else ExitCode.OK))


@policy.command()
@click.argument("policy_path", metavar="POLICY", type=click.Path(path_type=Path))
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@handle_errors
def explain(policy_path: Path, model_path: Path, output_format: str) -> None:
    """Show which rule matches which file of MODEL and why (nothing is verified)."""
    from weightguard.policy.explain import explain_files, model_files, rule_model_checks
    from weightguard.policy.schema import load_policy

    pol = load_policy(policy_path)
    files = explain_files(
        pol,
        model_files(
            model_path, allow_symlinks=pol.allow_symlinks, unmatched_files=pol.unmatched_files
        ),
    )
    model_level = rule_model_checks(pol)
    if output_format == "json":
        doc = {
            "command": "policy explain",
            "policy": {"name": pol.name, "path": str(policy_path), "digest": pol.digest},
            "model": str(model_path),
            "files": [f.to_json_dict() for f in files],
            "model_checks": model_level,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        sys.exit(0)
    click.echo(f"policy {pol.name!r} {pol.digest} (mode {pol.mode}) on {model_path}")
    from weightguard.cli._textsafe import escape

    for f in files:
        click.echo(f"{escape(f.path)}  [{f.format or 'unreadable'}]")
        if f.unmatched is not None:
            fate = {"deny": "fails", "warn": "warns", "allow": "allowed"}[f.unmatched]
            click.echo(f"  no rule matches: {fate} (unmatchedFiles: {f.unmatched})")
        for rule, pattern in f.matches:
            click.echo(f"  rule {rule}: matched by {pattern!r}")
        for check in f.checks:
            click.echo(f"    - {check}")
        for exc in f.exceptions:
            click.echo(f"  exception: {exc}")
    for line in model_level:
        click.echo(f"model: {line}")
    sys.exit(0)
