"""The deploy gate: the one entry point CI and the init container call.

`run_gate(model, policy)` is three steps: apply the command-line overrides the policy
allows (`weightguard.policy.overrides`); gather the evidence in one call
(`weightguard.policy.gather.gather_evidence`: every signature verified against the
policy's signers, the model hashed once, formats detected by content, what the policy
wants scanned scanned, every other signed statement verified, in-toto layouts run);
and hand the facts to the pure `weightguard.policy.evaluate`. It returns a
`GateResult` whose `report()` is the `verify --policy` JSON report.

Where signatures and evidence live (README, "Policy files"): for a model directory
`M`, the main signature is `M/model.sig` and `M/model.sig.d/` holds extra bundles,
told apart by content: OMS statements are co-signatures (for thresholds across signers:
an OMS bundle carries exactly one signature), anything else is an attestation;
`M/model.sig.d/in-toto/` holds in-toto links. For a single file `F` the same names are
`F.sig` and `F.sig.d/`. Neither is ever part of the model (exactly those names, a regular
file and a real folder: `weightguard.policy.sidecars`). `--signature` and `--attestation`
add files kept elsewhere.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightguard.digest import ProgressCallback
from weightguard.errors import UsageError
from weightguard.policy.evaluate import Decision, evaluate
from weightguard.policy.evidence import BundleFacts, Evidence, StatementFacts, evidence_dir
from weightguard.policy.gather import gather_evidence
from weightguard.policy.overrides import Overrides, apply_overrides, check_overrides
from weightguard.policy.sidecars import sidecars
from weightguard.policy.values import Policy
from weightguard.report import Report, Verdict

__all__ = ["GateResult", "Overrides", "check_overrides", "evidence_dir", "run_gate"]


@dataclass(frozen=True)
class GateResult:
    """What the gate decided and the facts it decided on."""

    model_path: Path
    policy: Policy
    decision: Decision
    evidence: Evidence

    @property
    def verdict(self) -> Verdict:
        """The decision's verdict."""
        return self.decision.verdict

    def to_json_dict(self) -> dict[str, Any]:
        """Command-specific fields of the `verify --policy` report."""
        ev = self.evidence
        return {
            "model": {
                "path": str(self.model_path),
                "root_digest": f"sha256:{ev.model_digest}" if ev.model_digest else None,
                "files": len(ev.files),
            },
            "policy": self.decision.to_json_dict(),
            "signatures": [_bundle_json(b) for b in ev.bundles],
            "attestations": [_statement_json(s) for s in ev.statements],
            "files": [
                {
                    "path": f.path,
                    "format": f.format,
                    "sha256": f.sha256,
                    **({"scan": {k: o for k, (o, _) in f.scans.items()}} if f.scans else {}),
                }
                for f in ev.files
            ],
        }

    def report(self) -> Report:
        """The shared report document for `weightguard verify --policy`."""
        return Report("verify", self.verdict, self.decision.reasons, self.to_json_dict())


def _bundle_json(b: BundleFacts) -> dict[str, Any]:
    return {
        "source": b.source,
        "signers": list(b.signers),
        "signer": [i.to_json_dict() for i in b.infos],
        "root_digest": f"sha256:{b.root_digest}" if b.root_digest else None,
        "version": b.version,
        "signed_at": b.signed_at.isoformat() if b.signed_at else None,
        "refused_by": [{"signer": n, "code": c} for n, c in b.refusals],
        **({"error": b.error.reason.code} if b.error else {}),
    }


def _statement_json(s: StatementFacts) -> dict[str, Any]:
    return {
        "source": s.source,
        "predicate_type": s.predicate_type,
        "signers": list(s.signers),
        "subjects": [{"name": n, "digest": dict(d)} for n, d in s.subjects],
        **({"error": s.error.reason.code} if s.error else {}),
    }


def run_gate(
    model_path: str | os.PathLike[str],
    policy: Policy,
    *,
    signatures: Sequence[str | os.PathLike[str]] = (),
    attestations: Sequence[str | os.PathLike[str]] = (),
    overrides: Overrides | None = None,
    now: dt.datetime | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> GateResult:
    """Verify a model against a policy and decide.

    Raises:
        UsageError: the model path does not exist; flags that loosen the policy when it
            does not allow overrides. ConfigError: a signer's verifier cannot be built.
    """
    model = Path(model_path)
    if not model.exists() and not model.is_symlink():
        raise UsageError("model path does not exist", path=str(model), code="model.missing")
    overrides = overrides or Overrides()
    policy = apply_overrides(policy, overrides)
    sig_paths = [Path(s) for s in signatures]
    att_paths = [Path(a) for a in attestations]
    side = sidecars(
        model,
        sig_paths,
        att_paths,
        allow_overrides=policy.allow_overrides,
        policy_name=policy.name,
        policy_path=policy.path,
    )
    evidence = gather_evidence(
        model,
        policy,
        signatures=sig_paths,
        attestations=att_paths,
        sidecars=side.paths,
        overrides=overrides,
        now=now,
        workers=workers,
        progress=progress,
    )
    decision = evaluate(
        policy,
        evidence,
        now=now,
        mode=overrides.mode,
        overrides=[*overrides.describe(), *side.flags],
    )
    return GateResult(model, policy, decision, evidence)
