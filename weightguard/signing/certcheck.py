"""Checks every signing certificate passes, whichever path verified it (x509, keyless).

Owns: "the signer is an end entity" (RFC 5280 4.2.1.9 and 4.2.1.3: a key that may sign
certificates is a CA key; letting it sign models too would let whoever holds any CA in
the chain mint signers at will), and reading extensions without tracebacks:
`cryptography` parses extensions lazily, so a malformed or duplicated extension only
raises (ValueError, or `DuplicateExtension`, which is not one) when first touched.
"""

from __future__ import annotations

from cryptography import x509

from weightguard.errors import SignatureError


def extensions_of(cert: x509.Certificate) -> x509.Extensions:
    """The certificate's extensions, or `SignatureError` (``cert.malformed``)."""
    try:
        return cert.extensions
    except (ValueError, x509.DuplicateExtension) as exc:
        raise SignatureError(
            f"the signing certificate has malformed extensions: {str(exc).splitlines()[0][:200]}",
            code="cert.malformed",
        ) from None


def require_end_entity(cert: x509.Certificate) -> None:
    """Refuse a signing certificate that is a CA (cA=TRUE) or may sign certificates.

    Raises:
        SignatureError: ``cert.leaf_is_ca``, or ``cert.malformed``.
    """
    exts = extensions_of(cert)
    try:
        bc = exts.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    try:
        ku = exts.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if (bc is not None and bc.ca) or (ku is not None and ku.key_cert_sign):
        raise SignatureError(
            "the signing certificate is a CA certificate (basicConstraints cA or "
            "keyCertSign); only an end-entity certificate may sign a model",
            code="cert.leaf_is_ca",
        )
