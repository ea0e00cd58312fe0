"""`weightguard sign`: hash a model and write an OMS signature bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from weightguard.cli._common import handle_errors
from weightguard.cli.options import key_password, parse_size, with_progress
from weightguard.cli.sigstore_options import (
    SIGN_PARAMS,
    build_sigstore_signer,
    pop_options,
    sign_options,
)
from weightguard.errors import UsageError
from weightguard.manifest import DEFAULT_SHARD_SIZE


def build_signer(
    key: str | None,
    cert: str | None,
    chain: tuple[str, ...],
    sigstore: dict[str, Any] | None = None,
) -> object:
    """The signer the options name: EC key, key + certificate (+ chain), or keyless."""
    if sigstore and sigstore.get("sigstore") and (key or cert or chain):
        raise UsageError("--sigstore signs keyless: drop --key/--cert/--chain")
    keyless = build_sigstore_signer(sigstore or {})
    if keyless is not None:
        return keyless
    if key is None:
        raise UsageError(
            "a signer is required: --key KEY.pem [--cert LEAF.pem [--chain C.pem]] or --sigstore"
        )
    password = key_password(key)
    if cert:
        from weightguard.signing.x509 import CertificateSigner

        return CertificateSigner.from_files(key, cert, chain, password)
    if chain:
        raise UsageError("--chain needs --cert")
    from weightguard.signing.ec import EcKeySigner

    return EcKeySigner.from_file(key, password)


def release_fields(version: str) -> dict[str, str]:
    """``weightguard_version`` and ``weightguard_signed_at`` (the signer's clock, UTC)."""
    import datetime as dt

    from weightguard.policy.schema import parse_version
    from weightguard.release import release_version

    version = release_version(version)  # a CI tag as it is: v2.4.0 -> 2.4.0
    if parse_version(version) is None:
        raise UsageError(f"--model-version must be dotted numbers like 2.3.0, got {version!r}")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return {"weightguard_version": version, "weightguard_signed_at": now.isoformat()}


@click.command()
@click.argument("model_path", type=click.Path(exists=True, path_type=Path))
@click.option("--key", type=click.Path(dir_okay=False), help="EC private key (PEM).")
@click.option("--cert", type=click.Path(dir_okay=False), help="Signing (leaf) certificate (PEM).")
@click.option(
    "--chain",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Intermediate/root certificates to embed, in order (repeatable).",
)
@click.option(
    "--signature",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output bundle [default: MODEL_DIR/model.sig or FILE.sig].",
)
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
    help="Shards mode; optional shard size (bytes, or 1G/512M).",
)
@click.option(
    "--ignore", "ignore_paths", multiple=True, help="Model-relative path to leave out (repeatable)."
)
@click.option("--no-ignore-git-paths", is_flag=True, help="Also sign .git* at the model root.")
@click.option("--allow-symlinks", is_flag=True, help="Hash symlinked files inside the model.")
@click.option(
    "--model-version",
    metavar="VERSION",
    help="Sign this release version (dotted numbers) and the signing time into the "
    "statement, for policy rollback floors (minVersion, notSignedBefore).",
)
@sign_options
@handle_errors
def sign(
    model_path: Path,
    key: str | None,
    cert: str | None,
    chain: tuple[str, ...],
    signature: Path | None,
    hash_type: str,
    shards: str | None,
    ignore_paths: tuple[str, ...],
    no_ignore_git_paths: bool,
    allow_symlinks: bool,
    model_version: str | None,
    **keyless: Any,
) -> None:
    """Sign MODEL_PATH (a directory or one weight file) into an OMS bundle."""
    from weightguard.api import sign as sign_model

    extra = release_fields(model_version) if model_version is not None else None

    signer = build_signer(key, cert, chain, pop_options(keyless, SIGN_PARAMS))
    result = with_progress(
        "hashing",
        lambda bar: sign_model(
            model_path,
            signer,  # type: ignore[arg-type]
            signature_path=signature,
            hash_type=hash_type,
            shard_size=parse_size(shards) if shards else None,
            ignore_paths=ignore_paths,
            ignore_git_paths=not no_ignore_git_paths,
            allow_symlinks=allow_symlinks,
            progress=bar,
            predicate_extra=extra,
        ),
    )
    from weightguard.api import SignResult

    assert isinstance(result, SignResult)
    click.echo(f"signed {model_path}: sha256:{result.root_digest}")
    click.echo(f"wrote {result.signature_path} ({len(result.manifest.resources)} resources)")
