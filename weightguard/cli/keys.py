"""`weightguard keygen`: write an EC key pair for signing."""

from __future__ import annotations

from pathlib import Path

import click

from weightguard.cli._common import handle_errors
from weightguard.cli.options import PASSWORD_ENV
from weightguard.errors import UsageError


@click.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Private key path; the public key goes to OUT with .pub.pem.",
)
@click.option(
    "--curve", type=click.Choice(["p256", "p384", "p521"]), default="p256", show_default=True
)
@click.option(
    "--encrypt",
    is_flag=True,
    help=f"Encrypt the private key with the password in ${PASSWORD_ENV} (or a prompt).",
)
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
@handle_errors
def keygen(out: str, curve: str, encrypt: bool, force: bool) -> None:
    """Generate an ECDSA key pair: OUT (private, mode 0600) and OUT.pub.pem."""
    import os

    from weightguard.fileio import write_atomic
    from weightguard.signing.keys import generate_private_key, private_pem, public_pem

    priv = Path(out)
    stem = priv.name.removesuffix(".pem")
    pub = priv.with_name(f"{stem}.pub.pem")
    for p in (priv, pub):
        if p.exists() and not force:
            raise UsageError("refusing to overwrite an existing key (use --force)", path=str(p))
    password: bytes | None = None
    if encrypt:
        env = os.environ.get(PASSWORD_ENV)
        password = (
            env
            if env is not None
            else click.prompt("New key password", hide_input=True, confirmation_prompt=True)
        ).encode()
    key = generate_private_key(curve)
    write_atomic(priv, private_pem(key, password), mode=0o600)
    write_atomic(pub, public_pem(key.public_key()))
    click.echo(f"wrote {priv} and {pub}")
