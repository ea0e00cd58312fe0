"""`weightguard convert INPUT`: pickle checkpoint -> verified safetensors (+ signed record).

Exit codes: 0 converted; 1 the scan found the input unsafe (nothing written); 3 the
scan was incomplete, or a tensor cannot be converted faithfully, or a file cannot be
read (nothing written); 2 usage (an existing output without --force ...); 4 internal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from weightguard.cli._common import render_reason
from weightguard.cli.options import HelpCommand, model_size, require_paths, with_progress
from weightguard.cli.run import Result, contract
from weightguard.cli.sigstore_options import (
    SIGN_PARAMS,
    optional_statement_signer,
    statement_signer_options,
)
from weightguard.report import Report


def render_text(report: Report) -> str:
    """Human summary: one block per converted file, or the findings that refused it."""
    d = report.details
    head = f"weightguard convert: {report.verdict.value.upper()} (exit {int(report.exit_code)})"
    lines = [head if d["files"] else head + " - nothing written"]
    for f in d["files"]:
        if f["format"] == "hf-index":
            lines.append(f"  {f['input']} [shard index] -> {f['output']}: shard names updated")
            continue
        lines.append(
            f"  {f['input']} [{f['format']}] -> {f['output']}: {f['tensors']} tensors, "
            f"{len(f['aliases'])} aliases, {len(f['kept'])} kept, {len(f['dropped'])} dropped"
        )
        if f["input_sha256"]:
            lines.append(f"    sha256 in  {f['input_sha256']}")
        lines.append(f"    sha256 out {f['output_sha256']}")
        if f["state_dict"]:
            lines.append(f"    state dict at {f['state_dict']}")
        lines += [f"    alias {a} -> {k}" for a, k in sorted(f["aliases"].items())]
        lines += [f"    kept {e['path']} = {e['value']}" for e in f["kept"]]
        lines += [f"    dropped {e['path']}: {e['reason']}" for e in f["dropped"]]
    if d.get("attestation"):
        lines.append(f"  provenance: {d['attestation']} (signed)")
    for finding in d["scan"]["findings"]:
        hint = f" (hint: {finding['hint']})" if finding.get("hint") else ""
        lines.append(
            f"  {finding['severity']} {finding['rule']} {finding['file']}: "
            f"{finding['message']}{hint}"
        )
    if not d["scan"]["findings"]:
        lines += [render_reason(r) for r in report.reasons]
    return "\n".join(lines) + "\n"


@click.command(
    "convert",
    cls=HelpCommand,
    sections={
        "Signer (provenance)": ("attest", "sign_key", "sign_cert", "sign_chain", *SIGN_PARAMS),
        "Scan": ("profiles", "no_default_profiles", "allow"),
    },
    examples=(
        "weightguard convert pytorch_model.bin -o model.safetensors",
        "weightguard convert checkpoints/ -o out/ --sign-key release.pem",
    ),
)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output .safetensors file, or directory for a directory INPUT "
    "[default: beside the input, model.pt -> model.safetensors].",
)
@click.option("--force", is_flag=True, help="Replace existing outputs (never the input).")
@click.option(
    "--attest",
    "attest",
    type=click.Path(path_type=Path),
    help="Write the signed provenance record here [default with a signer: OUTPUT.provenance.json].",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="NAME",
    help="Add a scanner allowlist profile (torch and numpy are on unless --no-default-profiles).",
)
@click.option(
    "--no-default-profiles", is_flag=True, help="Do not enable the torch and numpy profiles."
)
@click.option("--allow", multiple=True, metavar="MODULE.QUALNAME", help="Trust one more global.")
@click.option(
    "--prefer",
    multiple=True,
    metavar="NAME",
    help="Tensor name to keep when tied tensors are de-duplicated (repeatable).",
)
@click.option(
    "--state-dict",
    "state_dict_key",
    metavar="PATH",
    help="Dotted path of the state dict inside the checkpoint [default: found "
    "under state_dict, model, module, ...].",
)
@click.option(
    "--builder-id",
    default=None,
    metavar="URI",
    help="SLSA builder id recorded in the provenance (CI systems pass their own).",
)
@statement_signer_options
@contract("convert", model_param="input_path")
def convert(
    input_path: Path,
    output: Path | None,
    force: bool,
    attest: Path | None,
    sign_key: str | None,
    sign_cert: str | None,
    sign_chain: tuple[str, ...],
    profiles: tuple[str, ...],
    no_default_profiles: bool,
    allow: tuple[str, ...],
    prefer: tuple[str, ...],
    state_dict_key: str | None,
    builder_id: str | None,
    **keyless: Any,
) -> Result:
    """Convert a pickle checkpoint (or every one in a directory) to safetensors.

    The input is scanned first and never unpickled; torch is not imported. Tensors are
    streamed into a new file that is verified before it appears.
    """
    from weightguard.convert import convert as run_convert
    from weightguard.convert.provenance import BUILDER_ID
    from weightguard.scan.allowlist import DEFAULT_PROFILES

    require_paths([input_path], "INPUT")
    signer = optional_statement_signer(sign_key, sign_cert, sign_chain, keyless)
    chosen = (() if no_default_profiles else DEFAULT_PROFILES) + profiles
    result = with_progress(
        "converting",
        lambda bar: run_convert(
            input_path,
            output,
            force=force,
            profiles=chosen,
            allow=allow,
            prefer=prefer,
            state_dict_key=state_dict_key,
            signer=signer,
            attestation=attest,
            builder_id=builder_id or BUILDER_ID,
            progress=bar,
        ),
        total=model_size(input_path),
    )
    from weightguard.convert import ConversionResult

    assert isinstance(result, ConversionResult)
    details = result.to_json_dict()
    notes: tuple[str, ...] = ()
    if (
        result.verdict.value == "accepted"
        and input_path.is_dir()
        and output is not None
        and output.resolve() != input_path.resolve()
    ):
        from weightguard.cli.companions import copy_companions

        notes = copy_companions(input_path, output, result.skipped, force=force)
        details["companions"] = list(notes)
    if any(f.get("aliases") for f in details.get("files", [])):
        notes += (
            "tied weights are stored once, with aliases in the metadata: load with "
            "safetensors.torch.load_model(model, path), which re-ties them "
            "(load_file returns only the stored names)",
        )
    report = Report(
        command="convert",
        verdict=result.verdict,
        reasons=result.reasons,
        details=details,
    )
    return Result(report, render_text, notes=notes)
