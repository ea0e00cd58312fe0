"""`policy explain`: which rule matches which file of a model, and why.

Owns: listing a model's files the way the gate does (signature files and the evidence
folder left out), their formats detected by content, every rule and pattern that matches
each file, the checks those rules will run, and the exceptions that apply. No
signature is verified and nothing is hashed: this is a dry run of the matching.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightguard.policy.values import Policy, Rule


@dataclass(frozen=True)
class FileExplanation:
    """How the policy sees one file."""

    path: str
    format: str | None
    matches: tuple[tuple[str, str], ...]  # (rule name, pattern that matched)
    checks: tuple[str, ...]  # what the matching rules will check
    exceptions: tuple[str, ...]  # reasons of exceptions that cover this file
    unmatched: str | None  # the unmatchedFiles setting, when no rule matches

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "path": self.path,
            "format": self.format,
            "rules": [{"rule": r, "pattern": p} for r, p in self.matches],
            "checks": list(self.checks),
            "exceptions": list(self.exceptions),
            "unmatched": self.unmatched,
        }


def rule_checks(rule: Rule, fmt: str | None) -> list[str]:
    """Plain-words list of what `rule` checks for a file of format `fmt`."""
    out = []
    if rule.signatures is None:
        out.append("signatures: none required")
    else:
        tolerated = " (unsigned tolerated)" if rule.unsigned_files == "allow" else ""
        out.append(f"signed by {rule.signatures.describe()}{tolerated}")
    if rule.formats_allow is not None:
        out.append(f"format in [{', '.join(sorted(rule.formats_allow))}]")
    if rule.formats_deny:
        out.append(f"format not in [{', '.join(sorted(rule.formats_deny))}]")
    if rule.scan is not None and (fmt is None or fmt in rule.scan.formats):
        out.append(f"clean scan ({rule.scan.source})")
    out.extend(f"attestation {a.name}" for a in rule.attestations if a.subject != "model")
    return out


def explain_files(policy: Policy, files: list[tuple[str, str | None]]) -> list[FileExplanation]:
    """Explain (path, format) pairs: pure, so tests and the CLI share it."""
    out = []
    for path, fmt in files:
        matches = []
        checks: list[str] = []
        for rule in policy.rules:
            pattern = rule.match(path)
            if pattern is not None:
                matches.append((rule.name, pattern.pattern))
                checks.extend(f"{rule.name}: {c}" for c in rule_checks(rule, fmt))
        exceptions = tuple(
            f"{e.reason} (checks {', '.join(sorted(e.checks))}; "
            f"until {e.expires.date().isoformat()})"
            for e in policy.exceptions
            if e.paths and any(p.matches(path) for p in e.paths)
        )
        unmatched = None if matches else policy.unmatched_files
        out.append(FileExplanation(path, fmt, tuple(matches), tuple(checks), exceptions, unmatched))
    return out


def rule_model_checks(policy: Policy) -> list[str]:
    """Model-level checks: deny lists, digest pins, smoke, model attestations, layouts."""
    out = []
    deny = policy.deny
    revoked = len(deny.digests) + len(deny.signers) + len(deny.key_ids) + len(deny.identities)
    if revoked:
        out.append(f"deny list: {revoked} revoked digest(s)/signer(s), checked first")
    for rule in policy.rules:
        out.extend(f"rule {rule.name}: {path} pinned to {d}" for path, d in rule.digests)
        if rule.smoke is not None:
            out.append(f"rule {rule.name}: smoke record signed by {', '.join(rule.smoke.signers)}")
        out.extend(
            f"rule {rule.name}: attestation {a.name} about the model"
            for a in rule.attestations
            if a.subject == "model"
        )
        if rule.layout is not None:
            out.append(f"rule {rule.name}: in-toto layout {rule.layout.file}")
    rb = policy.rollback
    if rb is not None and rb.min_version:
        out.append(f"rollback: signed version >= {rb.min_version}")
    if rb is not None and rb.not_signed_before:
        out.append(f"rollback: signed at or after {rb.not_signed_before.isoformat()}")
    return out


# `policy lint` warns this many days before an exception expires.
EXPIRY_WARNING_DAYS = 14


def lint_warnings(policy: Policy) -> list[str]:
    """Things that are valid but loosen the default-deny stance, or will expire soon."""
    import datetime as dt

    out = []
    if policy.unmatched_files == "allow":
        out.append("spec.unmatchedFiles: allow lets files no rule covers through unchecked")
    if policy.allow_overrides:
        out.append("spec.allowOverrides: true lets command-line flags loosen this policy")
    for rule in policy.rules:
        if rule.signatures is None:
            out.append(f"rule {rule.name}: signatures: none (its files need no signature)")
        if rule.unsigned_files == "allow":
            out.append(f"rule {rule.name}: unsignedFiles: allow (unsigned files pass)")
    used = {n for r in policy.rules for n in (r.signatures.signers if r.signatures else ())}
    used |= {n for r in policy.rules for a in r.attestations for n in a.signers}
    used |= {n for r in policy.rules if r.smoke for n in r.smoke.signers}
    used |= {
        n for r in policy.rules if r.scan and r.scan.attestation for n in r.scan.attestation.signers
    }
    used |= {n for r in policy.rules if r.layout for n in r.layout.signers}
    used |= set(policy.deny.signers)
    out.extend(f"signer {n} is defined but never used" for n in policy.signers if n not in used)
    now = dt.datetime.now(dt.timezone.utc)
    for e in policy.exceptions:
        last_day = (e.expires - dt.timedelta(microseconds=1)).date().isoformat()
        if e.expires <= now:
            out.append(
                f"exception {e.index} ({e.reason}) expired on {last_day}: "
                "it no longer waives anything (renew or remove it)"
            )
        elif e.expires <= now + dt.timedelta(days=EXPIRY_WARNING_DAYS):
            out.append(f"exception {e.index} ({e.reason}) expires after {last_day}")
    return out


def model_files(
    model_path: str | os.PathLike[str], *, allow_symlinks: bool, unmatched_files: str = "deny"
) -> list[tuple[str, str | None]]:
    """(path, format) for each file of a model, as the gate lists them (same sidecar and
    git-path rules, same format detector).

    Raises:
        UsageError, RejectedError, ModelReadError: from listing the model.
    """
    from weightguard.manifest import enumerate_model
    from weightguard.policy.sidecars import git_paths_are_model, sidecars
    from weightguard.scan import detect_format

    model = Path(model_path)
    side = sidecars(model, (), (), allow_overrides=False, policy_name="", policy_path=None)
    inv = enumerate_model(
        model,
        ignore_paths=side.paths,
        ignore_git_paths=not git_paths_are_model(unmatched_files),
        allow_symlinks=allow_symlinks,
    )
    out: list[tuple[str, str | None]] = []
    for f in inv.files:
        try:
            fmt: str | None = detect_format(f.abspath)
        except OSError:
            fmt = None
        out.append((model.name if f.rel == "." else f.rel, fmt))
    return out
