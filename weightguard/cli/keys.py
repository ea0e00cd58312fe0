"""`weightguard keygen` (write an EC key pair) and `weightguard key id` (print a key's id)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from weightguard.cli.options import PASSWORD_ENV, HelpCommand
from weightguard.cli.run import Result, contract
from weightguard.errors import UsageError
from weightguard.report import Report, Verdict


def _text(report: Report) -> str:
    d = report.details
    if "private_key" in d:
        return f"wrote {d['private_key']} and {d['public_key']}\nkey id: {d['key_id']}\n"
    return f"{d['key_id']}\n"


def new_password() -> bytes:
    """The password for a new encrypted key: $WEIGHTGUARD_KEY_PASSWORD, else a prompt.

    Raises:
        UsageError: neither is available (no terminal): exit 2 with the fix, not a bug.
    """
    import os

    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env.encode()
    if not sys.stdin.isatty():
        raise UsageError(
            "--encrypt needs a password, but there is no terminal to ask on",
            code="key.password_needed",
            hint=f"set {PASSWORD_ENV} (e.g. from a secret store) or run on a terminal",
        )
    text = click.prompt("New key password", hide_input=True, confirmation_prompt=True)
    return str(text).encode()


@click.command(
    cls=HelpCommand,
    examples=(
        "weightguard keygen --out release.pem",
        "WEIGHTGUARD_KEY_PASSWORD=... weightguard keygen --out release.pem --encrypt",
    ),
)
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
@contract("keygen")
def keygen(out: str, curve: str, encrypt: bool, force: bool) -> Result:
    """Generate an ECDSA key pair: OUT (private, mode 0600) and OUT.pub.pem; print its id.

    The key id (sha256 of the public key PEM) is what a policy's `keyId` pins.
    """
    from weightguard.fileio import write_atomic
    from weightguard.signing.keys import (
        generate_private_key,
        key_hint,
        private_pem,
        public_pem,
    )

    priv = Path(out)
    stem = priv.name.removesuffix(".pem")
    pub = priv.with_name(f"{stem}.pub.pem")
    for p in (priv, pub):
        if p.exists() and not force:
            raise UsageError(
                "refusing to overwrite an existing key (use --force)",
                path=str(p),
                code="key.exists",
                hint="choose another --out, or pass --force to replace it",
            )
    password = new_password() if encrypt else None
    key = generate_private_key(curve)
    write_atomic(priv, private_pem(key, password), mode=0o600)
    write_atomic(pub, public_pem(key.public_key()))
    details = {
        "private_key": str(priv),
        "public_key": str(pub),
        "key_id": f"sha256:{key_hint(key.public_key())}",
        "curve": curve,
        "encrypted": encrypt,
    }
    return Result(Report("keygen", Verdict.ACCEPTED, (), details), _text)


@click.group()
def key() -> None:
    """Inspect keys."""


@key.command(
    "id",
    cls=HelpCommand,
    examples=("weightguard key id release.pub.pem", "weightguard key id release.pem"),
)
@click.argument("key_path", metavar="FILE")
@contract("key id", model_param="key_path")
def key_id(key_path: str) -> Result:
    """Print the key id of FILE (public key, private key or certificate): sha256:<hex>.

    This is the value a policy's `keyId` pins and OMS's publicKey.hint carries.
    """
    from weightguard.signing.keys import key_hint

    public = _public_key_of(key_path)
    details: dict[str, Any] = {"key": key_path, "key_id": f"sha256:{key_hint(public)}"}
    return Result(Report("key id", Verdict.ACCEPTED, (), details), _text)


def _public_key_of(path: str) -> Any:
    from weightguard.errors import KeyLoadError
    from weightguard.signing.keys import load_certificates, load_private_key, load_public_key

    try:
        head = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError("file not found", path=path, code="usage.path_missing") from None
    except OSError as exc:
        raise KeyLoadError(f"cannot read key: {exc.strerror}", path=path) from exc
    if b"PRIVATE KEY" in head:
        from weightguard.cli.options import key_password

        return load_private_key(path, key_password(path)).public_key()
    if b"CERTIFICATE" in head:
        cert_key = load_certificates(path)[0].public_key()
        from cryptography.hazmat.primitives.asymmetric import ec

        if not isinstance(cert_key, ec.EllipticCurvePublicKey):
            raise KeyLoadError(
                "the certificate's key is not an EC key", path=path, code="key.unsupported"
            )
        return cert_key
    return load_public_key(path)
