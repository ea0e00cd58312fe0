"""`weightguard scan PATH...`: static scan of pickle-based model files (no unpickling).

Exit codes: 0 every file clean, 1 something unsafe, 3 something incomplete (could not be
fully parsed, budget hit, unknown format) and nothing unsafe, 4 internal error, 2 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from weightguard.cli._common import report_json
from weightguard.cli.options import HelpCommand
from weightguard.cli.run import Result, contract, current_output
from weightguard.cli.sigstore_options import (
    optional_statement_signer,
    statement_signer_options,
    statement_signer_requested,
)
from weightguard.errors import UsageError
from weightguard.report import Reason, Report, Verdict

if TYPE_CHECKING:
    from weightguard.signing import Signer

_VERDICT = {"clean": Verdict.ACCEPTED, "unsafe": Verdict.REJECTED, "incomplete": Verdict.INCOMPLETE}


def build_report(result: object) -> Report:
    """The shared report contract for a `ScanResult` (files and findings in details)."""
    from weightguard.scan import ScanResult

    assert isinstance(result, ScanResult)
    verdict = Verdict.ERROR if result.errors else _VERDICT[result.outcome.value]
    counts = {
        o: sum(1 for f in result.files if f.outcome.value == o)
        for o in ("clean", "unsafe", "incomplete")
    }
    reasons = [Reason(code=f.rule, message=f.message, path=f.file) for f in result.findings]
    reasons += [Reason(code="internal.error", message=e) for e in result.errors]
    details = {
        "outcome": "error" if result.errors else result.outcome.value,
        "profiles": list(result.profiles),
        "allowed": list(result.allowed),
        "summary": {"files": len(result.files), **counts},
        "files": [f.to_json_dict() for f in result.files],
        "errors": list(result.errors),
    }
    return Report(command="scan", verdict=verdict, reasons=tuple(reasons), details=details)


def render_text(report: Report) -> str:
    """Human summary: one line per file, findings indented under non-clean files."""
    d = report.details
    s = d["summary"]
    lines = [
        f"weightguard scan: {report.verdict.value.upper()} (exit {int(report.exit_code)})"
        f" - {s['files']} file(s): {s['clean']} clean, {s['unsafe']} unsafe, "
        f"{s['incomplete']} incomplete"
    ]
    for f in d["files"]:
        lines.append(f"  {f['path']} [{f['format']}] {f['outcome'].upper()}")
        for x in f["findings"]:
            where = f" {x['member']}" if "member" in x else ""
            at = f" @{x['offset']}" if "offset" in x else ""
            op = f" {x['opcode']}" if "opcode" in x else ""
            lines.append(f"    {x['severity']} {x['rule']}{where}{at}{op}: {x['message']}")
            if "hint" in x:
                lines.append(f"      hint: {x['hint']}")
    for err in d["errors"]:
        lines.append(f"  internal error: {err}")
    return "\n".join(lines) + "\n"


def attest_options(func: Any) -> Any:
    """--attest FILE and its signer: --sign-key [--sign-cert [--sign-chain]] or --sigstore."""
    return click.option(
        "--attest",
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Also write a signed scan attestation (https://weightguard.dev/scan/v1) "
        "about every scanned file, e.g. MODEL/model.sig.d/scan.json where a policy "
        "finds it; needs --sign-key or --sigstore.",
    )(statement_signer_options(func))


def attest_signer(
    attest: str | None,
    key: str | None,
    cert: str | None,
    chain: tuple[str, ...],
    keyless: dict[str, Any],
) -> Signer | None:
    """The attestation signer, or None without --attest (then no signer option is allowed).

    Raises:
        UsageError: signer options without --attest, or --attest without a signer.
    """
    requested = statement_signer_requested(key, cert, chain, keyless)
    if attest is None and requested:
        raise UsageError("--sign-key/--sign-cert/--sign-chain/--sigstore sign --attest FILE")
    if attest is not None and not requested:
        raise UsageError("--attest needs a signer: --sign-key KEY.pem or --sigstore")
    return optional_statement_signer(key, cert, chain, keyless)


def write_attestation(target: str, result: object, signer: Signer, version: str) -> None:
    """Sign the scan statement and write it (parents created); a note goes to stderr."""
    from weightguard.attestation import sign_statement
    from weightguard.fileio import write_atomic
    from weightguard.scan import ScanResult
    from weightguard.scan_attestation import hash_scanned, scan_statement

    assert isinstance(result, ScanResult)
    statement = scan_statement(result, hash_scanned(result), scanner_version=version)
    data = sign_statement(statement, signer)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)
    click.echo(
        f"wrote signed scan attestation {target} (outcome {result.outcome.value}, "
        f"{len(result.files)} file(s))",
        err=True,
    )


@click.command(
    "scan",
    cls=HelpCommand,
    examples=(
        "weightguard scan pytorch_model.bin",
        "weightguard scan checkpoints/ --profile hf-trainer --format sarif -o scan.sarif",
    ),
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="NAME",
    help="Add an allowlist profile: numpy-rng, hf-trainer, lightning, sklearn "
    "(torch and numpy are always on unless --no-default-profiles).",
)
@click.option(
    "--no-default-profiles", is_flag=True, help="Do not enable the torch and numpy profiles."
)
@click.option(
    "--allow",
    "allow",
    multiple=True,
    metavar="MODULE.QUALNAME",
    help="Trust one more global (class or function); repeatable.",
)
@click.option(
    "--exclude",
    "exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out files or folders matching GLOB (repeatable; `*` never crosses `/`; "
    "a GLOB without `/` matches a name at any depth).",
)
@click.option(
    "--output",
    "-o",
    "output",
    default=None,
    help="Write the report (in --format) to FILE instead of stdout (a summary line still "
    "goes to stdout).",
)
@attest_options
@contract("scan", formats=("text", "json", "sarif"), model_param="paths")
def scan(
    paths: tuple[str, ...],
    profiles: tuple[str, ...],
    no_default_profiles: bool,
    allow: tuple[str, ...],
    exclude: tuple[str, ...],
    output: str | None,
    attest: str | None,
    sign_key: str | None,
    sign_cert: str | None,
    sign_chain: tuple[str, ...],
    **keyless: Any,
) -> Result:
    """Scan model files and directories for code that loading them would run.

    Nothing is unpickled or imported: pickles are interpreted symbolically and every
    global is checked against an allowlist by name and role. With --attest, also write
    the result as a signed scan attestation (for policies with `scan: {source: any}`).
    """
    from weightguard import __version__
    from weightguard.scan import scan as run_scan
    from weightguard.scan.allowlist import DEFAULT_PROFILES

    # The signer first: a missing key or token fails before minutes of scanning.
    signer = attest_signer(attest, sign_key, sign_cert, sign_chain, keyless)
    chosen = (() if no_default_profiles else DEFAULT_PROFILES) + profiles
    result = run_scan(list(paths), profiles=chosen, allow=allow, exclude=exclude)
    report = build_report(result)
    if attest is not None and signer is not None:
        write_attestation(attest, result, signer, __version__)

    def sarif(_: Report) -> str:
        import json

        from weightguard.scan.sarif import to_sarif

        return json.dumps(to_sarif(result, version=__version__), indent=2) + "\n"

    if not output:
        return Result(report, render_text, sarif)
    from weightguard.fileio import write_atomic

    fmt = current_output().format
    body = {"json": report_json, "sarif": sarif}.get(fmt, render_text)(report)
    write_atomic(output, body.encode())
    return Result(report, render_text, sarif, stdout=render_text(report).splitlines()[0] + "\n")
