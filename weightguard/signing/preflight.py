"""Checks a signer runs before signing, so that it never writes a bundle verify must reject.

`check_signing_chain` looks at the certificate chain a `sign --cert` run would embed: the
leaf must allow code signing (KeyUsage digitalSignature and EKU codeSigning, what
`CertificateVerifier` requires) and every certificate must be valid now (a bundle has no
timestamp: verification happens at verification time, so an expired leaf never verifies).
The chain's path to a root is not checked here: the signer does not know the verifier's
roots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from weightguard.errors import ConfigError


def check_signing_chain(
    chain: Sequence[x509.Certificate], path: str, *, at: dt.datetime | None = None
) -> None:
    """Refuse a chain that `weightguard verify` would always reject.

    Raises:
        ConfigError: ``sign.cert_usage`` (the leaf may not sign code) or
            ``sign.cert_not_valid`` (a certificate is expired or not yet valid).
    """
    when = at or dt.datetime.now(dt.timezone.utc)
    leaf = chain[0]
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        digital_signature = ku.digital_signature
    except x509.ExtensionNotFound:
        digital_signature = False
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        code_signing = ExtendedKeyUsageOID.CODE_SIGNING in eku
    except x509.ExtensionNotFound:
        code_signing = False
    missing = [
        name
        for name, ok in (
            ("KeyUsage digitalSignature", digital_signature),
            ("ExtendedKeyUsage codeSigning", code_signing),
        )
        if not ok
    ]
    if missing:
        raise ConfigError(
            f"the signing certificate lacks {' and '.join(missing)}: verify would reject "
            "every bundle it signs",
            path=path,
            code="sign.cert_usage",
            hint="issue a code-signing certificate (keyUsage=digitalSignature, "
            "extendedKeyUsage=codeSigning)",
        )
    for index, cert in enumerate(chain):
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            what = "signing certificate" if index == 0 else f"chain certificate {index}"
            raise ConfigError(
                f"the {what} ({cert.subject.rfc4514_string()}) is not valid now (valid "
                f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})",
                path=path,
                code="sign.cert_not_valid",
                hint="renew the certificate; verify checks validity at verification time",
            )
