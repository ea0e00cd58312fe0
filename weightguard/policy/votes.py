"""Who a signature counts as: one vote per signing key or signer identity.

Owns: the key id of the key that made a verified signature, and the grouping of
bundles into votes for thresholds. ECDSA signatures are malleable ((r, s) and
(r, n - s) both verify), so signature bytes cannot tell two signing events apart: an
attacker holding one signed bundle can mint a second, different-looking one. A vote is
therefore keyed on what only a signer has: the signing key (EC key, certificate key,
Fulcio's per-signing key) and, for certificates, the verified identity (issuer + name).
Bundles sharing any of these are one vote, however many signer definitions accept them
(docs/policy.md, "Several signatures").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from weightguard.bundle import Bundle
from weightguard.policy.values import KeySigner, SignerSpec
from weightguard.signing import SignerInfo


class Countable(Protocol):
    """What `votes` needs of a bundle's facts."""

    @property
    def signing_keys(self) -> tuple[str, ...]: ...

    @property
    def infos(self) -> tuple[SignerInfo, ...]: ...

    @property
    def signature_id(self) -> str: ...

    @property
    def source(self) -> str: ...


def _leaf_der(bundle: Bundle) -> bytes | None:
    cert = bundle.material.get("certificate")
    raw = cert.get("rawBytes") if isinstance(cert, Mapping) else None
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except ValueError:
            return None
    try:
        return bundle.chain_der()[0]
    except Exception:  # BundleError: no chain; the caller falls back to the spec
        return None


def signing_key_id(bundle: Bundle, spec: SignerSpec) -> str | None:
    """``sha256:<hex>`` of the SubjectPublicKeyInfo PEM of the key that signed `bundle`
    (the OMS key id, comparable with `keyIds`), for a bundle `spec` has verified."""
    if isinstance(spec, KeySigner):
        return spec.key_id  # the only key this signer's verifier tries
    der = _leaf_der(bundle)
    if der is None:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key = x509.load_der_x509_certificate(der).public_key()
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError):
        return None
    return "sha256:" + hashlib.sha256(pem).hexdigest()


def _tokens(b: Countable) -> set[str]:
    out = {f"key:{k}" for k in b.signing_keys}
    for info in b.infos:
        if info.kind in ("x509", "sigstore"):
            issuer = info.details.get("issuer", "")
            out.add(f"id:{info.kind}:{issuer}:{info.identity}")
    if not out:  # nothing known about the signer: at least copies count once
        out.add(f"sig:{b.signature_id or b.source}")
    return out


def votes(bundles: Sequence[Countable]) -> list[list[int]]:
    """Indices of `bundles` grouped into votes: bundles sharing a signing key or a
    certificate identity (transitively) are one vote."""
    parent = list(range(len(bundles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, b in enumerate(bundles):
        for token in _tokens(b):
            if token in owner:
                parent[find(index)] = find(owner[token])
            else:
                owner[token] = index
    groups: dict[int, list[int]] = {}
    for index in range(len(bundles)):
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())
