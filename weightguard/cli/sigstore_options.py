"""Sigstore keyless options for `weightguard sign` and `weightguard verify`.

Kept apart from sign.py/verify.py so those stay short: each command adds one decorator
and hands the collected values (a dict) to its `build_signer` / `build_verifier`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

from weightguard.errors import UsageError

if TYPE_CHECKING:
    from weightguard.signing import Signer, Verifier

# Same value as weightguard.signing.sigstore.TOKEN_ENV (a test checks it). Importing that
# module here would load the keyless back end (and cryptography.x509) on every
# `weightguard verify --key` start-up: ~35 ms of a ~150 ms run (benchmarks/README.md).
TOKEN_ENV = "WEIGHTGUARD_IDENTITY_TOKEN"  # noqa: S105 - a variable name

# Shortcut flag -> Fulcio extension (Fulcio docs/oid-info.md).
_EXTENSION_FLAGS = {
    "sigstore_source_repository": "sourceRepositoryURI",
    "sigstore_source_ref": "sourceRepositoryRef",
    "sigstore_workflow": "buildConfigURI",
    "sigstore_trigger": "buildTrigger",
}
SIGN_PARAMS = ("sigstore", "identity_token", "staging", "trust_config")
VERIFY_PARAMS = (
    "sigstore_identity",
    "sigstore_identity_glob",
    "sigstore_identity_regex",
    "sigstore_issuer",
    *_EXTENSION_FLAGS,
    "sigstore_extension",
    "trusted_root",
    "trust_config",
    "staging",
)


def _apply(func: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


def sign_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--sigstore``, ``--identity-token``, ``--staging``, ``--trust-config``."""
    return _apply(
        func,
        [
            click.option(
                "--sigstore",
                is_flag=True,
                help="Sign keyless: OIDC identity -> Fulcio certificate -> Rekor entry.",
            ),
            click.option(
                "--identity-token",
                envvar=TOKEN_ENV,
                metavar="TOKEN",
                help=f"OIDC ID token for --sigstore [env {TOKEN_ENV}]; default: ambient CI "
                "credentials (GitHub Actions, GitLab, Buildkite, CircleCI, GCP).",
            ),
            click.option(
                "--staging", is_flag=True, help="Use Sigstore's staging instance (testing only)."
            ),
            click.option(
                "--trust-config",
                type=click.Path(dir_okay=False),
                help="ClientTrustConfig JSON of a private Sigstore instance.",
            ),
        ],
    )


def verify_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Identity, issuer, extension and trusted-root options for keyless verification."""
    return _apply(
        func,
        [
            click.option("--sigstore-identity", help="Keyless signer identity, exact match."),
            click.option(
                "--sigstore-identity-glob",
                help="Keyless signer identity glob; `*` never matches `/`.",
            ),
            click.option(
                "--sigstore-identity-regex",
                "--certificate-identity-regexp",
                "sigstore_identity_regex",
                help="Keyless signer identity regex, anchored at both ends.",
            ),
            click.option(
                "--sigstore-issuer",
                "--certificate-oidc-issuer",
                "sigstore_issuer",
                metavar="URL",
                help="OIDC issuer the identity must come from (required with an identity).",
            ),
            click.option(
                "--sigstore-source-repository",
                metavar="URI",
                help="Require Fulcio extension sourceRepositoryURI.",
            ),
            click.option(
                "--sigstore-source-ref", help="Require Fulcio extension sourceRepositoryRef."
            ),
            click.option(
                "--sigstore-workflow",
                metavar="URI",
                help="Require Fulcio extension buildConfigURI (the workflow file@ref).",
            ),
            click.option("--sigstore-trigger", help="Require Fulcio extension buildTrigger."),
            click.option(
                "--sigstore-extension",
                multiple=True,
                metavar="NAME=VALUE",
                help="Require any Fulcio extension (exact value); repeatable.",
            ),
            click.option(
                "--trusted-root",
                help="Pinned Sigstore trusted_root.json [default: the production root "
                "shipped with sigstore].",
            ),
            click.option(
                "--trust-config",
                help="ClientTrustConfig JSON (private instance); its trusted root is used.",
            ),
            click.option(
                "--staging",
                is_flag=True,
                help="Use the staging trusted root shipped with sigstore.",
            ),
        ],
    )


def pop_options(kwargs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Remove these options from a command's kwargs and return them."""
    return {name: kwargs.pop(name, None) for name in names}


def build_sigstore_signer(opts: Mapping[str, Any]) -> Signer | None:
    """A `SigstoreSigner` when ``--sigstore`` is given, else None (after sanity checks)."""
    if not opts.get("sigstore"):
        ctx = click.get_current_context(silent=True)
        source = ctx.get_parameter_source("identity_token") if ctx else None
        if opts.get("identity_token") and source is click.core.ParameterSource.COMMANDLINE:
            raise UsageError("--identity-token needs --sigstore")
        if opts.get("staging") or opts.get("trust_config"):
            raise UsageError("--staging/--trust-config need --sigstore")
        return None
    from weightguard.signing.sigstore import SigstoreSigner

    return SigstoreSigner(
        identity_token=opts.get("identity_token") or None,
        trust_config=opts.get("trust_config"),
        staging=bool(opts.get("staging")),
    )


def wants_sigstore(opts: Mapping[str, Any]) -> bool:
    """True when any keyless verification option was given."""
    return any(bool(opts.get(name)) for name in VERIFY_PARAMS)


def build_sigstore_verifier(opts: Mapping[str, Any]) -> Verifier:
    """A `SigstoreVerifier` from the verify options (UsageError when incomplete)."""
    from weightguard.signing.identity import IdentityPolicy, Matcher, extension_name
    from weightguard.signing.sigstore import SigstoreVerifier
    from weightguard.signing.trust_root import TrustRoot

    kinds = [
        Matcher(kind, opts[f"sigstore_identity{suffix}"])
        for kind, suffix in (("exact", ""), ("glob", "_glob"), ("regex", "_regex"))
        if opts.get(f"sigstore_identity{suffix}")
    ]
    if len(kinds) != 1:
        raise UsageError(
            "keyless verification needs exactly one of --sigstore-identity, "
            "--sigstore-identity-glob, --sigstore-identity-regex"
        )
    if not opts.get("sigstore_issuer"):
        raise UsageError("keyless verification needs --sigstore-issuer URL")
    extensions: dict[str, str] = {}
    for flag, name in _EXTENSION_FLAGS.items():
        if opts.get(flag):
            extensions[name] = opts[flag]
    for item in opts.get("sigstore_extension") or ():
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise UsageError(f"--sigstore-extension {item!r}: use NAME=VALUE")
        canonical = extension_name(name.strip())
        if canonical in extensions:
            raise UsageError(f"Fulcio extension {canonical} is constrained twice")
        extensions[canonical] = value
    trust_given = [o for o in ("trusted_root", "trust_config", "staging") if opts.get(o)]
    if len(trust_given) > 1:
        raise UsageError("give one of --trusted-root, --trust-config or --staging")
    if opts.get("staging"):
        trust = TrustRoot.embedded("staging")
    elif opts.get("trusted_root") or opts.get("trust_config"):
        trust = TrustRoot.from_file(opts.get("trusted_root") or opts["trust_config"])
    else:
        trust = TrustRoot.embedded("production")
    policy = IdentityPolicy.create(kinds[0], opts["sigstore_issuer"], extensions=extensions)
    return SigstoreVerifier(policy, trust)


def statement_signer_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--sign-key``, ``--sign-cert``, ``--sign-chain`` and the keyless options: the signer
    of a statement a command writes beside its main output (scan --attest, convert's
    provenance, smoke records). `sign` itself spells them ``--key/--cert/--chain``."""
    return sign_options(
        _apply(
            func,
            [
                click.option(
                    "--sign-key", type=click.Path(dir_okay=False), help="EC private key (PEM)."
                ),
                click.option(
                    "--sign-cert",
                    type=click.Path(dir_okay=False),
                    help="Leaf certificate (PEM) of --sign-key.",
                ),
                click.option(
                    "--sign-chain",
                    multiple=True,
                    type=click.Path(dir_okay=False),
                    help="Intermediate/root certificates to embed with --sign-cert (repeatable).",
                ),
            ],
        )
    )


def statement_signer_requested(
    key: str | None, cert: str | None, chain: tuple[str, ...], keyless: Mapping[str, Any]
) -> bool:
    """Whether any `statement_signer_options` option names a signer."""
    return bool(key or cert or chain or keyless.get("sigstore"))


def optional_statement_signer(
    key: str | None, cert: str | None, chain: tuple[str, ...], keyless: dict[str, Any]
) -> Signer | None:
    """The signer `statement_signer_options` name, or None when none is named.

    Pops the keyless options from the command's `keyless` kwargs; the signer itself (and
    with it the key loading and any password prompt) is built by `build_signer` only when
    a signer is named.

    Raises:
        UsageError: --sign-cert without --sign-key, keyless flags without --sigstore, or an
            unusable key, certificate or chain.
    """
    sigstore = pop_options(keyless, SIGN_PARAMS)
    if not statement_signer_requested(key, cert, chain, sigstore):
        build_sigstore_signer(sigstore)  # refuses --identity-token etc. without --sigstore
        return None
    if cert and not key:
        raise UsageError("--sign-cert needs --sign-key")
    return build_signer(key, cert, chain, sigstore)


def build_signer(
    key: str | None,
    cert: str | None,
    chain: tuple[str, ...],
    sigstore: dict[str, Any] | None = None,
) -> Signer:
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
    from weightguard.cli.options import key_password

    password = key_password(key)
    if cert:
        from weightguard.signing.keys import load_certificates
        from weightguard.signing.preflight import check_signing_chain
        from weightguard.signing.x509 import CertificateSigner

        certs = [load_certificates(cert)[0], *(c for p in chain for c in load_certificates(p))]
        check_signing_chain(certs, cert)
        return CertificateSigner.from_files(key, cert, chain, password)
    if chain:
        raise UsageError("--chain needs --cert")
    from weightguard.signing.ec import EcKeySigner

    return EcKeySigner.from_file(key, password)
