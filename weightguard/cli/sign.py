"""`weightguard sign`: hash a model and write an OMS signature bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from weightguard.cli.options import (
    HelpCommand,
    model_size,
    parse_size,
    require_paths,
    with_progress,
)
from weightguard.cli.run import Result, contract
from weightguard.cli.sigstore_options import (
    SIGN_PARAMS,
    build_signer,
    pop_options,
    sign_options,
)
from weightguard.errors import UsageError
from weightguard.manifest import DEFAULT_SHARD_SIZE
from weightguard.report import Report, Verdict

SIGN_SECTIONS = {
    "Signer": ("key", "cert", "chain"),
    "Keyless (Sigstore)": SIGN_PARAMS,
    "Hashing": (
        "hash_type",
        "shards",
        "ignore_paths",
        "no_ignore_git_paths",
        "allow_symlinks",
    ),
}


def release_fields(version: str) -> dict[str, str]:
    """``weightguard_version`` and ``weightguard_signed_at`` (the signer's clock, UTC)."""
    import datetime as dt

    from weightguard.release import parse_version, release_version

    version = release_version(version)  # a CI tag as it is: v2.4.0 -> 2.4.0
    if parse_version(version) is None:
        raise UsageError(
            f"--model-version must be a release version like 2.3.0 or v2.3.0, got {version!r}",
            code="usage.version",
        )
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return {"weightguard_version": version, "weightguard_signed_at": now.isoformat()}


def refuse_overwrite(target: Path, force: bool) -> None:
    """A bundle already there is someone's signature: replace it only with --force.

    Raises:
        UsageError: ``sign.bundle_exists``, with how to co-sign instead.
    """
    if force or not (target.exists() or target.is_symlink()):
        return
    folder = target.with_name(target.name + ".d")
    raise UsageError(
        "a signature bundle already exists here (possibly another signer's)",
        path=str(target),
        code="sign.bundle_exists",
        hint=f"to co-sign, write yours into {folder}/ (--signature {folder}/NAME.sig); "
        "to replace it, pass --force",
    )


def _text(report: Report) -> str:
    d = report.details
    return (
        f"signed {d['model']['path']}: {d['model']['root_digest']}\n"
        f"wrote {d['signature']} ({d['resources']} resources)\n"
    )


@click.command(
    cls=HelpCommand,
    sections=SIGN_SECTIONS,
    examples=(
        "weightguard sign MODEL --key release.pem",
        "weightguard sign MODEL --key leaf.key --cert leaf.pem --chain ca.pem",
        "weightguard sign MODEL --key second.pem --signature MODEL/model.sig.d/second.sig",
        "weightguard sign MODEL --sigstore            # keyless, in CI",
    ),
)
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option("--key", help="EC private key (PEM).")
@click.option("--cert", "--certificate", "cert", help="Signing (leaf) certificate (PEM).")
@click.option(
    "--chain",
    "--certificate-chain",
    "chain",
    multiple=True,
    help="Intermediate/root certificates to embed, in order (repeatable).",
)
@click.option(
    "--signature",
    "--bundle",
    "signature",
    type=click.Path(path_type=Path),
    help="Output bundle [default: MODEL_DIR/model.sig or FILE.sig].",
)
@click.option("--force", is_flag=True, help="Replace an existing bundle at the output path.")
@click.option(
    "--hash",
    "hash_type",
    type=click.Choice(["sha256", "blake2b", "blake3"]),
    default="sha256",
    show_default=True,
)
@click.option(
    "--shards",
    "shards",
    is_flag=False,
    flag_value=str(DEFAULT_SHARD_SIZE),
    default=None,
    metavar="[SIZE]",
    help="Shards mode; optional shard size: bytes or a unit (1GiB, 512MiB, 1GB).",
)
@click.option(
    "--ignore", "ignore_paths", multiple=True, help="Model-relative path to leave out (repeatable)."
)
@click.option("--no-ignore-git-paths", is_flag=True, help="Also sign .git* at the model root.")
@click.option("--allow-symlinks", is_flag=True, help="Hash symlinked files inside the model.")
@click.option(
    "--model-version",
    metavar="VERSION",
    help="Sign this release version (e.g. 2.4.0 or v2.4.0) and the signing time into the "
    "statement, for policy rollback floors (minVersion, notSignedBefore).",
)
@sign_options
@contract("sign")
def sign(
    model_path: Path,
    key: str | None,
    cert: str | None,
    chain: tuple[str, ...],
    signature: Path | None,
    force: bool,
    hash_type: str,
    shards: str | None,
    ignore_paths: tuple[str, ...],
    no_ignore_git_paths: bool,
    allow_symlinks: bool,
    model_version: str | None,
    **keyless: Any,
) -> Result:
    """Sign MODEL_PATH (a directory or one weight file) into an OMS bundle.

    An existing bundle is never replaced without --force: co-signers write theirs into
    MODEL/model.sig.d/ (a policy counts every bundle there towards its thresholds).
    """
    from weightguard.api import SignResult, default_signature_path
    from weightguard.api import sign as sign_model

    require_paths([model_path], "MODEL_PATH")
    require_paths([p for p in (key, cert, *chain) if p], "--key/--cert/--chain")
    target = signature or default_signature_path(model_path)
    if not target.parent.is_dir():
        raise UsageError(
            "the folder for the signature does not exist",
            path=str(target.parent),
            code="output.dir_missing",
            hint=f"create it first (mkdir -p {target.parent})",
        )
    extra = release_fields(model_version) if model_version is not None else None
    shard_size = parse_size(shards) if shards else None
    signer = build_signer(key, cert, chain, pop_options(keyless, SIGN_PARAMS))
    refuse_overwrite(target, force)
    result = with_progress(
        "hashing",
        lambda bar: sign_model(
            model_path,
            signer,
            signature_path=signature,
            hash_type=hash_type,
            shard_size=shard_size,
            ignore_paths=ignore_paths,
            ignore_git_paths=not no_ignore_git_paths,
            allow_symlinks=allow_symlinks,
            progress=bar,
            predicate_extra=extra,
        ),
        total=model_size(model_path),
    )
    assert isinstance(result, SignResult)
    details = {
        "model": {"path": str(model_path), "root_digest": f"sha256:{result.root_digest}"},
        "signature": str(result.signature_path),
        "resources": len(result.manifest.resources),
        "hash_type": hash_type,
        **({"version": model_version} if model_version else {}),
    }
    return Result(Report("sign", Verdict.ACCEPTED, (), details), _text)
