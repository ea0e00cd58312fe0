"""`weightguard verify`: check a model against its signature, or against a policy file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from weightguard.cli._common import render_reason
from weightguard.cli.options import HelpCommand, model_size, require_paths, with_progress
from weightguard.cli.run import Result, contract
from weightguard.cli.sigstore_options import (
    VERIFY_PARAMS,
    build_sigstore_verifier,
    pop_options,
    verify_options,
    wants_sigstore,
)
from weightguard.errors import UsageError
from weightguard.report import Report

if TYPE_CHECKING:
    from weightguard.signing import Verifier

VERIFY_SECTIONS = {
    "Trust (without --policy)": ("keys", "cert_roots", "cert_identity", "cert_subject"),
    "Keyless (Sigstore)": (*VERIFY_PARAMS, "certificate_identity"),
    "Policy": ("policy", "attestations", "mode"),
    "Model": ("signatures", "ignore_paths", "allow_symlinks", "allow_unsigned_files"),
}


def build_verifier(
    keys: tuple[str, ...],
    cert_roots: tuple[str, ...],
    cert_identity: str | None,
    cert_subject: str | None,
    sigstore: dict[str, Any] | None = None,
) -> Verifier:
    """The verifier the trust options name (exactly one kind)."""
    if sigstore and wants_sigstore(sigstore):
        if keys or cert_roots or cert_identity or cert_subject:
            raise UsageError("give either --key, --cert-root or --sigstore-identity*, not several")
        return build_sigstore_verifier(sigstore)
    if keys and cert_roots:
        raise UsageError("give either --key or --cert-root, not both")
    if keys:
        if cert_identity or cert_subject:
            raise UsageError("--cert-identity/--cert-subject go with --cert-root")
        from weightguard.signing.ec import EcKeyVerifier

        return EcKeyVerifier.from_files(keys)
    if cert_roots:
        from weightguard.signing.x509 import CertIdentity, CertificateVerifier

        return CertificateVerifier.from_files(
            cert_roots, identity=CertIdentity(san=cert_identity, subject=cert_subject)
        )
    raise UsageError(
        "no trust given: use --key PUB.pem, --cert-root ROOT.pem, or "
        "--sigstore-identity ID --sigstore-issuer URL"
    )


def render_text(report: Report) -> str:
    """Human output: verdict line, signer, then every reason."""
    d = report.details
    model = d.get("model") or {}
    root = model.get("root_digest") or "-"
    lines = [f"{report.verdict.value.upper()}: {model.get('path')} ({root})"]
    if d.get("signer"):
        s = d["signer"]
        lines.append(f"  signer: {s['kind']} {s['identity']}")
        if s["kind"] == "sigstore":
            lines.append(
                f"  issuer: {s.get('issuer')}; log index {s.get('log_index')}; "
                f"signed {s.get('verified_time')} (verified)"
            )
    if report.verdict.value == "accepted":
        lines.append(
            f"  checked {d.get('files_checked', 0)} files, "
            f"{d.get('bytes_hashed', 0):,} bytes hashed"
        )
    lines.extend(render_reason(r) for r in report.reasons)
    return "\n".join(lines) + "\n"


@click.command(
    cls=HelpCommand,
    sections=VERIFY_SECTIONS,
    examples=(
        "weightguard verify MODEL --key release.pub.pem",
        "weightguard verify MODEL --cert-root root.pem --cert-identity signer@example.com",
        "weightguard verify MODEL --certificate-identity ID --certificate-oidc-issuer URL",
        "weightguard verify MODEL --policy policy.yaml --format json --report out.json",
    ),
)
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option(
    "--signature",
    "--bundle",
    "signatures",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Bundle path [default: MODEL_DIR/model.sig or FILE.sig]. With --policy it adds to "
    "MODEL/model.sig and MODEL/model.sig.d/*.sig (repeat for co-signatures); it never "
    "replaces them. A path that does not exist is a usage error (exit 2).",
)
@click.option(
    "--policy",
    type=click.Path(path_type=Path),
    help="Policy file (YAML): trust, rules and evidence come from it.",
)
@click.option(
    "--attestation",
    "attestations",
    multiple=True,
    type=click.Path(path_type=Path),
    help="With --policy: a signed attestation bundle, or a folder of them (repeatable); adds "
    "to MODEL/model.sig.d/.",
)
@click.option(
    "--mode",
    type=click.Choice(["enforce", "warn", "audit"]),
    help="With --policy: run every rule in this mode (loosening needs allowOverrides).",
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="PUB.pem",
    help="Trusted EC public key (PEM); repeat for any-of.",
)
@click.option(
    "--cert-root",
    "cert_roots",
    multiple=True,
    metavar="ROOT.pem",
    help="Trusted root certificate(s) (PEM); never the web PKI.",
)
@click.option("--cert-identity", help="Required SAN (email/URI/DNS) of the signing certificate.")
@click.option("--cert-subject", help="Required subject (RFC 4514) of the signing certificate.")
@click.option(
    "--certificate-identity",
    "certificate_identity",
    help="cosign spelling: --cert-identity with --cert-root, else --sigstore-identity.",
)
@click.option(
    "--ignore",
    "ignore_paths",
    multiple=True,
    help="Model-relative path to leave out (a signed file is always checked).",
)
@click.option("--allow-symlinks", is_flag=True, help="Follow symlinked files inside the model.")
@click.option(
    "--allow-unsigned-files",
    is_flag=True,
    help="Report files missing from the manifest as warnings, not failures.",
)
@verify_options
@contract("verify", formats=("text", "json", "sarif"), policy_param="policy")
def verify(
    model_path: Path,
    signatures: tuple[Path, ...],
    policy: Path | None,
    attestations: tuple[Path, ...],
    mode: str | None,
    keys: tuple[str, ...],
    cert_roots: tuple[str, ...],
    cert_identity: str | None,
    cert_subject: str | None,
    certificate_identity: str | None,
    ignore_paths: tuple[str, ...],
    allow_symlinks: bool,
    allow_unsigned_files: bool,
    **trust: Any,
) -> Result:
    """Verify MODEL_PATH against its OMS signature bundle, or against a --policy.

    Hashing parameters come from the signed bundle. Exit 0 accepted, 1 rejected,
    2 usage/configuration error, 3 incomplete, 4 internal error, 130 interrupted.
    """
    from weightguard.api import VerifyResult
    from weightguard.api import verify as verify_model
    from weightguard.cli.policy import render_sarif

    sigstore = pop_options(trust, VERIFY_PARAMS)
    if certificate_identity:
        if cert_roots:
            cert_identity = cert_identity or certificate_identity
        else:
            given = sigstore.get("sigstore_identity")
            sigstore["sigstore_identity"] = given or certificate_identity
    require_paths(signatures, "--signature")
    require_paths(attestations, "--attestation")
    sarif = render_sarif(str(model_path))
    total = model_size(model_path)
    if policy is not None:
        if keys or cert_roots or cert_identity or cert_subject or wants_sigstore(sigstore):
            raise UsageError(
                "with --policy, trust comes from the policy: drop --key, --cert-root, "
                "--cert-identity, --cert-subject and --sigstore-*",
                code="usage.trust_with_policy",
            )
        from weightguard.cli.policy import render_gate_text
        from weightguard.gate import GateResult, Overrides, run_gate
        from weightguard.policy.load import load_policy

        overrides = Overrides(mode, allow_unsigned_files, allow_symlinks, ignore_paths)
        loaded = load_policy(policy)
        gate = with_progress(
            "verifying",
            lambda bar: run_gate(
                model_path,
                loaded,
                signatures=signatures,
                attestations=attestations,
                overrides=overrides,
                progress=bar,
            ),
            total=total,
        )
        assert isinstance(gate, GateResult)
        return Result(gate.report(), render_gate_text, sarif)
    if attestations or mode:
        raise UsageError("--attestation and --mode need --policy")
    if len(signatures) > 1:
        raise UsageError("several --signature bundles need --policy (thresholds across signers)")
    signature = signatures[0] if signatures else None
    verifier = build_verifier(keys, cert_roots, cert_identity, cert_subject, sigstore)
    result = with_progress(
        "verifying",
        lambda bar: verify_model(
            model_path,
            verifier,
            signature_path=signature,
            ignore_paths=ignore_paths,
            allow_symlinks=allow_symlinks,
            allow_unsigned_files=allow_unsigned_files,
            progress=bar,
        ),
        total=total,
    )
    assert isinstance(result, VerifyResult)
    details = result.to_json_dict()
    sigstore_trust = getattr(verifier, "trust", None)
    if sigstore_trust is not None:  # which Sigstore root decided, even on rejection
        details["trusted_root"] = sigstore_trust.describe()
    report = Report("verify", result.verdict, result.reasons, details)
    return Result(report, render_text, sarif)
