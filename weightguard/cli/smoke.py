"""`weightguard smoke record|check`: record reference outputs at release, check them at deploy.

Factories (`--factory module:function`) are imported by name from sys.path; the current
directory is appended to it (last, so it never shadows an installed module), which makes
`examples.models.mlp:build` work from the repository root. torch is imported only when
a subcommand runs.

`check` fails closed: it needs trust for the record (`--record-key`, `--record-cert-root`
or `--record-sigstore-identity` + `--record-sigstore-issuer`), or an explicit, loud
`--allow-unsigned-record`; without either it is a usage error (exit 2).

Exit codes: 0 recorded / outputs match, 1 mismatch or bad record (other weights, bad
signature, unsigned when trust is given), 2 usage (bad flags, no record trust,
`--device cuda` without a GPU, unknown factory, torch not installed), 3 the model cannot
be loaded, built or run (missing/unexpected keys, shape or dtype mismatch), 4 internal
error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from weightguard.cli._common import render_reason
from weightguard.cli.options import HelpCommand, require_paths
from weightguard.cli.run import Result, contract, require_extra
from weightguard.cli.sigstore_options import optional_statement_signer, statement_signer_options
from weightguard.errors import UsageError
from weightguard.report import Reason, Report, Verdict

DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda or cuda:N; cuda never falls back."


def _factories_from_cwd() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise click.BadParameter(f"not a shape: {text!r} (use e.g. 8,16)") from None
    if not dims or any(d <= 0 for d in dims):
        raise click.BadParameter(f"not a shape: {text!r} (use e.g. 8,16)")
    return dims


def _tolerance(rtol: float | None, atol: float | None, dtype: str | None) -> Any:
    if rtol is None and atol is None:
        return None
    from weightguard.smoke import Tolerance, default_tolerance

    base = default_tolerance(dtype or "float32")
    if (rtol is not None and rtol < 0) or (atol is not None and atol < 0):
        raise UsageError("--rtol and --atol must not be negative")
    return Tolerance(base.rtol if rtol is None else rtol, base.atol if atol is None else atol)


def _signer_info(signer: Any) -> dict[str, str] | None:
    if signer is None:
        return None
    if type(signer).__name__ == "EcKeySigner":
        from weightguard.signing.keys import key_hint

        return {"kind": "key", "identity": f"sha256:{key_hint(signer.private_key.public_key())}"}
    kind = "sigstore" if "Sigstore" in type(signer).__name__ else "x509"
    return {"kind": kind, "identity": f"{kind} certificate (see the bundle)"}


def _llm_request(
    llm: bool,
    prompts_file: Path | None,
    prompts: str | None,
    new_tokens: int,
    top_k: int,
) -> Any:
    if not llm:
        if prompts_file or prompts:
            raise UsageError("--prompts/--prompts-file need --llm", code="smoke.llm")
        return None
    from weightguard.smoke.llm import LlmRequest, read_prompts

    if prompts_file is not None and prompts is not None:
        raise UsageError("give --prompts N,L or --prompts-file, not both", code="smoke.llm")
    if prompts_file is not None:
        return LlmRequest(new_tokens, top_k, read_prompts(prompts_file), prompts_file.name)
    count, length = (2, 8)
    if prompts is not None:
        dims = _shape(prompts)
        if dims is None or len(dims) != 2:
            raise click.BadParameter(f"--prompts must be COUNT,LENGTH, got {prompts!r}")
        count, length = dims
    return LlmRequest(new_tokens, top_k, None, "seeded", count, length)


def _llm_options(func: Any) -> Any:
    options = [
        click.option(
            "--llm", is_flag=True, help="LLM mode: greedy-decode prompts, record tokens + top-k."
        ),
        click.option(
            "--prompts", metavar="COUNT,LENGTH", help="Seeded prompts of token ids [default: 2,8]."
        ),
        click.option(
            "--prompts-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Or: a JSON list of token-id lists.",
        ),
        click.option("--new-tokens", type=int, default=8, show_default=True),
        click.option(
            "--top-k", type=int, default=5, show_default=True, help="Log-probs kept per token."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


TRANSFORMERS_HELP = (
    "Build the architecture from MODEL_DIR/config.json with transformers (no remote code, "
    "no network) instead of --factory."
)
QUANTIZE_HELP = "Quantise after loading: int8-dynamic (torch dynamic int8 Linear, CPU)."


def _inside_model(model: Path, target: Path) -> bool:
    """True when writing `target` would change the model's digest.

    `MODEL/model.sig.d/` (where a policy looks for evidence) is never part of the digest,
    so a record may go there; anywhere else inside a model directory may not.
    """
    if not model.is_dir():
        return False
    root, where = model.resolve(), target.resolve()
    return where.is_relative_to(root) and not where.is_relative_to(root / "model.sig.d")


def default_record_path(model: Path) -> Path:
    """`MODEL.smoke.json` beside the model file or directory (never inside it)."""
    resolved = model.resolve()
    return resolved.with_name(resolved.name + ".smoke.json")


def _device_line(d: dict[str, Any]) -> str:
    why = f" ({d['requested']}: {d['why']})" if d.get("why") else ""
    return f"  device: {d['used']} [{d['name']}]{why}"


def _timing_line(d: Any) -> str:
    return (
        f"  load {d.get('load_seconds', 0):.4f} s ({d.get('tensors', 0)} tensors, "
        f"{d.get('bytes', 0):,} bytes); run {d.get('run_seconds', 0):.4f} s"
    )


def render_record(report: Report) -> str:
    """Text output of `smoke record`."""
    d = report.details
    rec = d["record"]
    signed = f"signed by {rec['signer']['identity']}" if rec.get("signer") else "unsigned"
    lines = [
        f"RECORDED: {d['model']['path']} ({d['model']['root_digest']})",
        _device_line(d["device"]) + f"; dtype {d['dtype']}",
        _timing_line(d),
    ]
    for out in d["outputs"]:
        lines.append(f"  {out['name']}: {out['dtype']}{out['shape']} ({out['encoding']})")
    for i, seq in enumerate(d.get("llm", [])):
        lines.append(f"  prompt {i} {seq['prompt']} -> greedy tokens {seq['tokens']}")
    lines.append(f"  wrote {rec['path']} ({signed})")
    return "\n".join(lines) + "\n"


def render_check(report: Report) -> str:
    """Text output of `smoke check`."""
    d = report.details
    model = d.get("model", {})
    lines = [
        f"{report.verdict.value.upper()}: {model.get('path')} ({model.get('root_digest', '-')})"
    ]
    rec = d.get("record", {})
    if rec.get("root_digest"):
        who = (
            f"signed by {rec['signer']['identity']}"
            if rec.get("signer")
            else ("signed, not verified" if rec.get("signed") else "unsigned")
        )
        where = (rec.get("device") or {}).get("used", "?")
        lines.append(f"  record: {rec.get('path', '-')} ({who}; recorded on {where})")
    if d.get("device"):
        lines.append(_device_line(d["device"]) + f"; dtype {d.get('dtype')}")
        lines.append(_timing_line(d))
    for out in d.get("outputs", []):
        mark = "ok" if out["ok"] else "MISMATCH"
        lines.append(
            f"  {out['name']}: {mark}, max deviation {out['max_deviation']:.3g} at "
            f"{out['where']} (tolerance {out['tolerance']:.3g})"
            if isinstance(out["max_deviation"], float)
            else f"  {out['name']}: {mark}, non-finite output at {out['where']}"
        )
    drift = d.get("drift") or {}
    measured = drift.get("measured") or {}
    if measured:
        parts = [f"max abs {measured['max_abs']:.4g} at {measured.get('max_abs_at', '-')}"]
        parts.append(f"max rel {measured['max_rel']:.4g}")
        if "top1" in measured:
            parts.append(f"top-1 agreement {measured['top1']:.3f}")
            parts.append(f"max KL {measured['kl']:.4g}")
            parts.append(f"max log-prob error {measured['logprob']:.4g}")
        budget = d.get("budget")
        lines.append("  drift: " + ", ".join(parts) + (f" (budget {budget})" if budget else ""))
    for seq in drift.get("sequences") or []:
        first = seq["first_divergence"]
        lines.append(
            f"  prompt {seq['prompt']}: "
            + ("all tokens match" if first is None else f"first diverging token at {first}")
        )
    lines.extend(render_reason(r) for r in report.reasons)
    if d.get("check_record"):
        cr = d["check_record"]
        signed = "signed" if cr.get("signer") else "unsigned"
        lines.append(f"  wrote check record {cr['path']} (outcome {cr['outcome']}, {signed})")
    return "\n".join(lines) + "\n"


@click.group()
def smoke() -> None:
    """Smoke inference: record outputs at release, check them on the deploy device.

    Exit codes: 0 recorded / match, 1 mismatch or bad record, 2 usage, 3 the model cannot
    be loaded, built or run, 4 internal error.
    """


@smoke.command(
    cls=HelpCommand,
    examples=(
        "weightguard smoke record model.safetensors --factory pkg.models:build "
        "--input-shape 8,16 --sign-key release.pem",
        "weightguard smoke record MODEL_DIR --transformers --llm --sigstore "
        "--out MODEL_DIR/model.sig.d/smoke.json",
    ),
)
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option("--factory", help="Model factory, module:function (no arguments).")
@click.option("--transformers", "use_transformers", is_flag=True, help=TRANSFORMERS_HELP)
@_llm_options
@click.option("--quantize", type=click.Choice(["int8-dynamic"]), help=QUANTIZE_HELP)
@click.option("--input-factory", help="Input factory, module:function(seed) -> tensor(s).")
@click.option(
    "--input-shape", help="Or: one seeded standard-normal input of this shape, e.g. 8,16."
)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64", "float16", "bfloat16"]),
    help="Cast the model to this dtype before loading [default: as the factory builds it].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rtol", type=float, help="Relative tolerance for checks [default: by dtype].")
@click.option(
    "--atol", type=float, help="Absolute tolerance, in units of output RMS [default: by dtype]."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Record file [default: MODEL.smoke.json beside the model].",
)
@statement_signer_options
@contract("smoke record")
def record(
    model_path: Path,
    factory: str | None,
    use_transformers: bool,
    llm: bool,
    prompts: str | None,
    prompts_file: Path | None,
    new_tokens: int,
    top_k: int,
    quantize: str | None,
    input_factory: str | None,
    input_shape: str | None,
    device: str,
    dtype: str | None,
    seed: int,
    rtol: float | None,
    atol: float | None,
    out: Path | None,
    sign_key: str | None,
    sign_cert: str | None,
    sign_chain: tuple[str, ...],
    **keyless: Any,
) -> Result:
    """Run MODEL_PATH (safetensors file or directory) once and write a smoke record.

    The record binds the outputs to the weights' root digest (as `weightguard digest`
    prints it), so write it outside a model directory.
    """
    from weightguard.fileio import write_atomic
    from weightguard.smoke import record_smoke

    require_paths([model_path], "MODEL_PATH")
    require_extra("torch")
    target = out or default_record_path(model_path)
    if _inside_model(model_path, target):
        raise UsageError(
            "the record must not be written inside the model directory "
            "(it would change the digest it records)",
            path=str(target),
        )
    if (factory is None) == (not use_transformers):
        raise UsageError("give exactly one of --factory module:function or --transformers")
    request = _llm_request(llm, prompts_file, prompts, new_tokens, top_k)
    signer = optional_statement_signer(sign_key, sign_cert, sign_chain, keyless)
    _factories_from_cwd()
    result = record_smoke(
        model_path,
        factory,
        input_factory=input_factory,
        input_shape=_shape(input_shape),
        device=device,
        dtype=dtype,
        seed=seed,
        tolerance=_tolerance(rtol, atol, dtype),
        signer=signer,
        transformers=use_transformers,
        llm=request,
        quantize=quantize,
    )
    write_atomic(target, result.data)
    signer_info = _signer_info(signer)
    outputs = result.statement["predicate"]["outputs"]
    details = {
        "model": {"path": str(model_path), "root_digest": f"sha256:{result.root_digest}"},
        "record": {"path": str(target), "signed": result.signed, "signer": signer_info},
        "device": result.run.device.to_json_dict(),
        "dtype": result.run.dtype,
        **result.run.timings(),
        "outputs": [
            {"name": o["name"], "shape": o["shape"], "dtype": o["dtype"], "encoding": o["encoding"]}
            for o in outputs
        ],
    }
    llm_section = result.statement["predicate"].get("llm")
    if llm_section:
        details["llm"] = [
            {"prompt": p, "tokens": seq["tokens"]}
            for p, seq in zip(llm_section["prompts"], llm_section["sequences"], strict=True)
        ]
    return Result(Report("smoke record", Verdict.ACCEPTED, (), details), render_record)


@smoke.command(
    cls=HelpCommand,
    sections={
        "Record trust (one is required)": (
            "record_keys",
            "record_cert_roots",
            "record_cert_identity",
            "record_sigstore_identity",
            "record_sigstore_issuer",
            "record_trusted_root",
            "allow_unsigned_record",
        ),
    },
    examples=(
        "weightguard smoke check model.safetensors --record model.smoke.json "
        "--record-key release.pub.pem --factory pkg.models:build --device cuda",
        "weightguard smoke check VARIANT_DIR --transformers --record ref.smoke.json "
        "--record-key release.pub.pem --budget top1=0.9,kl=0.05",
    ),
)
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option("--record", "record_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--record-key",
    "record_keys",
    multiple=True,
    help="Trusted EC public key(s) of the record signer; the record must be signed by one.",
)
@click.option(
    "--record-cert-root",
    "record_cert_roots",
    multiple=True,
    help="Or: trusted root certificate(s) for an X.509-signed record.",
)
@click.option("--record-cert-identity", help="With --record-cert-root: required SAN.")
@click.option("--record-sigstore-identity", help="Or: keyless record signer identity (exact).")
@click.option("--record-sigstore-issuer", metavar="URL", help="Its OIDC issuer (required).")
@click.option("--record-trusted-root", help="Pinned Sigstore trusted_root.json for the record.")
@click.option(
    "--allow-unsigned-record",
    is_flag=True,
    help="Compare against a record nobody vouches for (unsigned or unverified); loud.",
)
@click.option("--factory", help="Model factory, module:function (no arguments).")
@click.option("--transformers", "use_transformers", is_flag=True, help=TRANSFORMERS_HELP)
@click.option(
    "--budget",
    metavar="METRIC=N,...",
    help="Variant drift budget: max_abs, max_rel, top1, kl, logprob (e.g. top1=0.9,kl=0.05).",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64", "float16", "bfloat16"]),
    help="With --budget: cast the variant [default: its own dtype].",
)
@click.option("--quantize", type=click.Choice(["int8-dynamic"]), help=QUANTIZE_HELP)
@click.option(
    "--write-record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a check record (outcome passed/failed) here, for a policy's smoke rule.",
)
@statement_signer_options
@click.option("--input-factory", help="Input factory; required when the record used one.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--rtol", type=float, help="Override the record's relative tolerance.")
@click.option("--atol", type=float, help="Override the record's absolute tolerance (units of RMS).")
@contract("smoke check")
def check(
    model_path: Path,
    record_path: Path,
    record_keys: tuple[str, ...],
    record_cert_roots: tuple[str, ...],
    record_cert_identity: str | None,
    record_sigstore_identity: str | None,
    record_sigstore_issuer: str | None,
    record_trusted_root: str | None,
    allow_unsigned_record: bool,
    factory: str | None,
    use_transformers: bool,
    budget: str | None,
    dtype: str | None,
    quantize: str | None,
    write_record: Path | None,
    sign_key: str | None,
    sign_cert: str | None,
    sign_chain: tuple[str, ...],
    input_factory: str | None,
    device: str,
    rtol: float | None,
    atol: float | None,
    **keyless: Any,
) -> Result:
    """Load and run MODEL_PATH here and compare its outputs with --record.

    The record must be signed by someone you trust (--record-key, --record-cert-root or
    --record-sigstore-identity), unless --allow-unsigned-record says otherwise. TF32 is
    off and deterministic kernels are requested for the run. Exit 0 match, 1 mismatch
    (largest deviation and where) or bad record, 2 usage, 3 cannot load.
    """
    import hashlib

    from weightguard.smoke import check_smoke
    from weightguard.smoke.budget import parse_budget

    require_paths([model_path], "MODEL_PATH")
    require_paths([record_path], "--record")
    sigstore = {
        "sigstore_identity": record_sigstore_identity,
        "sigstore_issuer": record_sigstore_issuer,
        "trusted_root": record_trusted_root,
    }
    trusted = bool(record_keys or record_cert_roots or any(sigstore.values()))
    if record_cert_identity and not record_cert_roots:
        raise UsageError("--record-cert-identity goes with --record-cert-root")
    if not trusted and not allow_unsigned_record:
        raise UsageError(
            "the record is trusted by nobody: anyone who can write it could make any weights pass",
            path=str(record_path),
            code="smoke.record_trust_missing",
            hint="give --record-key PUB.pem (or --record-cert-root / --record-sigstore-identity"
            " with --record-sigstore-issuer); --allow-unsigned-record accepts it unchecked",
        )
    if trusted and allow_unsigned_record:
        raise UsageError("--allow-unsigned-record contradicts the record trust options given")
    if (factory is None) == (not use_transformers):
        raise UsageError("give exactly one of --factory module:function or --transformers")
    require_extra("torch")
    drift_budget = parse_budget(budget) if budget is not None else None
    if dtype is not None and drift_budget is None:
        raise UsageError("--dtype needs --budget (a variant is judged against a budget)")
    signer = optional_statement_signer(sign_key, sign_cert, sign_chain, keyless)
    if signer is not None and write_record is None:
        raise UsageError("signing options need --write-record")
    if write_record is not None and _inside_model(model_path, write_record):
        raise UsageError(
            "the check record must not be written inside the model directory",
            path=str(write_record),
        )
    verifier = None
    if trusted:
        from weightguard.cli.verify import build_verifier

        verifier = build_verifier(
            record_keys,
            record_cert_roots,
            record_cert_identity,
            None,
            sigstore if any(sigstore.values()) else None,
        )
    _factories_from_cwd()
    result = check_smoke(
        model_path,
        record_path,
        factory,
        verifier=verifier,
        input_factory=input_factory,
        device=device,
        tolerance=_tolerance(rtol, atol, None),
        transformers=use_transformers,
        budget=drift_budget,
        dtype=dtype,
        quantize=quantize,
    )
    details = dict(result.details)
    if write_record is not None:
        from weightguard.fileio import write_atomic
        from weightguard.smoke.run import check_record
        from weightguard.untrusted import read_regular

        data = check_record(
            result,
            hashlib.sha256(read_regular(record_path)).hexdigest(),
            model_name=model_path.resolve().name,
            signer=signer,
        )
        write_atomic(write_record, data)
        details["check_record"] = {
            "path": str(write_record),
            "outcome": "passed" if result.accepted else "failed",
            "signer": _signer_info(signer),
        }
    reasons = result.reasons
    notes: tuple[str, ...] = ()
    if verifier is None:
        loud = (
            "WARNING: --allow-unsigned-record: the record's signature was not checked; this "
            "run proves nothing about who recorded the reference outputs"
        )
        reasons = (
            Reason("smoke.record_unverified_allowed", loud, str(record_path), severity="warning"),
            *reasons,
        )
        notes = (loud,)
    report = Report("smoke check", result.verdict, reasons, details)
    return Result(report, render_check, notes=notes)
