"""`weightguard digest`: print the OMS root digest of a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from weightguard.cli.options import HelpCommand, model_size, parse_size, require_paths
from weightguard.cli.run import Result, contract
from weightguard.errors import UsageError
from weightguard.report import Report, Verdict


def _text(report: Report) -> str:
    return f"{report.details['root_digest']}\n"


def bundle_serialization(signature: Path) -> Any:
    """The hashing parameters a bundle was made with (its signature is not checked)."""
    from weightguard.api import read_signature
    from weightguard.bundle import manifest_from_statement, parse_bundle, parse_statement

    bundle = parse_bundle(read_signature(signature))
    return manifest_from_statement(parse_statement(bundle.envelope.payload)).serialization


@click.command(
    cls=HelpCommand,
    examples=(
        "weightguard digest MODEL",
        "weightguard digest MODEL --signature other/model.sig   # hash as that bundle did",
        "weightguard digest MODEL --shards 1GiB --hash blake3",
    ),
)
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option(
    "--hash",
    "hash_type",
    type=click.Choice(["sha256", "blake2b", "blake3"]),
    default=None,
    help="Hash [default: sha256, or the bundle's with --signature].",
)
@click.option(
    "--shards",
    is_flag=False,
    flag_value="1000000000",
    default=None,
    metavar="[SIZE]",
    help="Shards mode; optional shard size with a unit (1GiB, 1GB) [default 10^9 bytes].",
)
@click.option("--ignore", "ignore_paths", multiple=True)
@click.option("--no-ignore-git-paths", is_flag=True)
@click.option("--allow-symlinks", is_flag=True)
@click.option(
    "--signature",
    "--bundle",
    "signature",
    type=click.Path(path_type=Path),
    help="Hash with this bundle's parameters (method, hash, shard size, ignored paths, "
    "symlinks); its signature is not checked (use verify).",
)
@contract("digest")
def digest(
    model_path: Path,
    hash_type: str | None,
    shards: str | None,
    ignore_paths: tuple[str, ...],
    no_ignore_git_paths: bool,
    allow_symlinks: bool,
    signature: Path | None,
) -> Result:
    """Print sha256:<root digest>, the value of the OMS subject digest."""
    from weightguard.api import digest as model_digest

    require_paths([model_path], "MODEL_PATH")
    shard_size = parse_size(shards) if shards else None
    ignore_git = not no_ignore_git_paths
    if signature is not None:
        require_paths([signature], "--signature")
        if hash_type or shards or ignore_paths or no_ignore_git_paths or allow_symlinks:
            raise UsageError(
                "--signature takes every hashing parameter from the bundle: drop --hash, "
                "--shards, --ignore, --no-ignore-git-paths and --allow-symlinks",
                code="usage.invalid",
            )
        ser = bundle_serialization(signature)
        hash_type, shard_size = ser.hash_type, ser.shard_size
        ignore_paths, allow_symlinks = ser.ignore_paths, ser.allow_symlinks
        ignore_git = not ser.ignore_paths_recorded and ser.method == "files"
    root = with_progress_digest(
        model_path,
        hash_type=hash_type or "sha256",
        shard_size=shard_size,
        ignore_paths=ignore_paths,
        ignore_git_paths=ignore_git,
        allow_symlinks=allow_symlinks,
        run=model_digest,
    )
    details = {
        "model": {"path": str(model_path)},
        "root_digest": f"sha256:{root}",
        "hash_type": hash_type or "sha256",
        "method": "shards" if shard_size else "files",
        **({"shard_size": shard_size} if shard_size else {}),
        **({"signature": str(signature)} if signature else {}),
    }
    return Result(Report("digest", Verdict.ACCEPTED, (), details), _text)


def with_progress_digest(model_path: Path, *, run: Any, **kwargs: Any) -> str:
    """Hash with a progress bar whose total is the model's size."""
    from weightguard.cli.options import with_progress

    return str(
        with_progress(
            "hashing",
            lambda bar: run(model_path, progress=bar, **kwargs),
            total=model_size(model_path),
        )
    )
