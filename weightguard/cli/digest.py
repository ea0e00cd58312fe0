"""`weightguard digest`: print the OMS root digest of a model."""

from __future__ import annotations

from pathlib import Path

import click

from weightguard.cli._common import handle_errors
from weightguard.cli.options import parse_size, with_progress


@click.command()
@click.argument("model_path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--hash",
    "hash_type",
    type=click.Choice(["sha256", "blake2b", "blake3"]),
    default="sha256",
    show_default=True,
)
@click.option("--shards", is_flag=False, flag_value="1000000000", default=None, metavar="[SIZE]")
@click.option("--ignore", "ignore_paths", multiple=True)
@click.option("--no-ignore-git-paths", is_flag=True)
@click.option("--allow-symlinks", is_flag=True)
@handle_errors
def digest(
    model_path: Path,
    hash_type: str,
    shards: str | None,
    ignore_paths: tuple[str, ...],
    no_ignore_git_paths: bool,
    allow_symlinks: bool,
) -> None:
    """Print sha256:<root digest>, the value of the OMS subject digest."""
    from weightguard.api import digest as model_digest

    root = with_progress(
        "hashing",
        lambda bar: model_digest(
            model_path,
            hash_type=hash_type,
            shard_size=parse_size(shards) if shards else None,
            ignore_paths=ignore_paths,
            ignore_git_paths=not no_ignore_git_paths,
            allow_symlinks=allow_symlinks,
            progress=bar,
        ),
    )
    click.echo(f"sha256:{root}")
