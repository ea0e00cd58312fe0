"""Reading `spec.signers`: named EC keys, X.509 roots with identity pins, Sigstore identities.

Owns: loading every trust file a signer names (relative to the policy file's directory)
at policy load time, so unreadable or wrong trust material is a configuration error with
the line that names it, never a verification-time surprise. The Sigstore identity object
is `weightguard.signing.identity.IdentityPolicy`, read with its own `from_dict`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from weightguard.errors import ConfigError, KeyLoadError
from weightguard.policy._read import Ctx, Field, get, items, mapping, string, token
from weightguard.policy._yaml import LocatedDict
from weightguard.policy.values import KeySigner, SignerSpec, SigstoreSigner, X509Signer
from weightguard.signing.identity import IdentityPolicy
from weightguard.untrusted import read_regular

SIGNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # fullmatch only
KEY_ID = re.compile(r"sha256:[0-9a-f]{64}")  # fullmatch only
_KINDS = ("key", "x509", "sigstore")


def resolve(base: Path, text: str) -> Path:
    """A trust file path: absolute, or relative to the policy file's directory."""
    p = Path(text)
    return p if p.is_absolute() else base / p


def _read_file(ctx: Ctx, f: Field, base: Path, what: str) -> tuple[Path, bytes] | None:
    text = string(ctx, f, what=f"a path to {what}")
    if text is None:
        return None
    path = resolve(base, text)
    try:
        return path, read_regular(path)
    except OSError as exc:
        ctx.add(
            f.line,
            f.key,
            f"cannot read {what} {str(path)!r}: {exc.strerror}",
            "policy.trust_unreadable",
        )
        return None


def read_pinned(ctx: Ctx, f: Field, base: Path, what: str) -> tuple[Path, bytes] | None:
    """A trust file pinned by digest: ``{file: PATH, digest: "sha256:<hex>"}``.

    The policy digest (`--policy-digest`) pins the YAML; this pins what it trusts, so a
    swapped mounted file is a configuration error, never a new trust anchor. The bytes
    returned are the ones hashed: callers parse them, never the path again. A bare path
    is refused with the digest to pin (what `sha256sum PATH` prints, with `sha256:`).
    """
    if isinstance(f.value, str):
        loaded = _read_file(ctx, f, base, what)
        if loaded is not None:
            digest = "sha256:" + hashlib.sha256(loaded[1]).hexdigest()
            ctx.add(
                f.line,
                f.key,
                f'{what} must be pinned by digest: {{file: {f.value}, digest: "{digest}"}}',
                "policy.trust_unpinned",
            )
        return None
    d = mapping(ctx, f.value, f.key, f.line, required=("file", "digest"))
    if d is None:
        return None
    file_f, digest_f = get(d, f.key, "file"), get(d, f.key, "digest")
    pinned = token(ctx, digest_f, '"sha256:<64 hex>"') if digest_f else None
    if pinned is not None and digest_f is not None and not KEY_ID.fullmatch(pinned):
        ctx.add(digest_f.line, digest_f.key, 'expected "sha256:<64 lowercase hex>"')
        pinned = None
    loaded = _read_file(ctx, file_f, base, what) if file_f else None
    if loaded is None or pinned is None:
        return None
    actual = "sha256:" + hashlib.sha256(loaded[1]).hexdigest()
    if actual != pinned:
        assert digest_f is not None
        ctx.add(
            digest_f.line,
            digest_f.key,
            f"{loaded[0]} has digest {actual}, not the pinned {pinned}",
            "policy.trust_digest_mismatch",
        )
        return None
    return loaded


def read_signers(ctx: Ctx, f: Field, base: Path) -> dict[str, SignerSpec]:
    """Every valid signer by name (invalid ones are reported and left out)."""
    out: dict[str, SignerSpec] = {}
    signers = mapping(ctx, f.value, f.key, f.line, free_keys=True)
    if signers is None:
        return out
    seen_keys: dict[str, str] = {}
    for name in signers:
        entry = Field(signers[name], f"{f.key}.{name}", signers.key_lines[name])
        if not SIGNER_NAME.fullmatch(name):
            ctx.add(
                entry.line,
                entry.key,
                "signer names use letters, digits, '.', '_' and '-'",
                "policy.bad_name",
            )
            continue
        spec = _read_signer(ctx, name, entry, base)
        if spec is None:
            continue
        if isinstance(spec, KeySigner):
            # Two names for one key would let one signature count twice toward a threshold.
            if spec.key_id in seen_keys:
                ctx.add(
                    entry.line,
                    entry.key,
                    f"same key as signer {seen_keys[spec.key_id]!r}",
                    "policy.duplicate",
                )
                continue
            seen_keys[spec.key_id] = name
        out[name] = spec
    return out


def _read_signer(ctx: Ctx, name: str, f: Field, base: Path) -> SignerSpec | None:
    d = mapping(ctx, f.value, f.key, f.line, optional=_KINDS)
    if d is None:
        return None
    kinds = [k for k in _KINDS if k in d]
    if len(kinds) != 1:
        ctx.add(f.line, f.key, "give exactly one of key, x509 or sigstore", "policy.bad_value")
        return None
    inner = get(d, f.key, kinds[0])
    assert inner is not None
    if kinds[0] == "key":
        return _key_signer(ctx, name, inner, base)
    if kinds[0] == "x509":
        return _x509_signer(ctx, name, inner, base)
    return _sigstore_signer(ctx, name, inner, base)


def _key_signer(ctx: Ctx, name: str, f: Field, base: Path) -> KeySigner | None:
    d = mapping(ctx, f.value, f.key, f.line, required=("publicKey",), optional=("keyId",))
    if d is None:
        return None
    key_field, id_field = get(d, f.key, "publicKey"), get(d, f.key, "keyId")
    pinned = string(ctx, id_field, what='"sha256:<64 hex>"') if id_field else None
    if id_field and pinned is not None and not KEY_ID.fullmatch(pinned):
        ctx.add(id_field.line, id_field.key, 'expected "sha256:<64 lowercase hex>"')
        pinned = None
    loaded = _read_file(ctx, key_field, base, "a public key") if key_field else None
    if loaded is None:
        if id_field is None:
            ctx.add(d.line, f"{f.key}.keyId", "required key is missing", "policy.missing_key")
        return None
    path, data = loaded
    from weightguard.signing.keys import key_hint, parse_public_key

    try:
        key = parse_public_key(data, str(path))  # the bytes kept below, not a re-read
    except KeyLoadError as exc:
        assert key_field is not None
        ctx.add(key_field.line, key_field.key, f"{path}: {exc.message}", "policy.trust_unreadable")
        return None
    actual = f"sha256:{key_hint(key)}"
    if id_field is None:
        # The pin is what makes a swapped key file a configuration error, not a new trust.
        ctx.add(
            d.line, f"{f.key}.keyId", f"required; this key's id is {actual}", "policy.missing_key"
        )
        return None
    if pinned is None:
        return None
    if pinned != actual:
        ctx.add(
            id_field.line,
            id_field.key,
            f"the key in {path} has id {actual}, not {pinned}",
            "policy.key_id_mismatch",
        )
        return None
    return KeySigner(name, actual, data, str(path))


def _x509_signer(ctx: Ctx, name: str, f: Field, base: Path) -> X509Signer | None:
    d = mapping(ctx, f.value, f.key, f.line, required=("roots", "identity"))
    if d is None:
        return None
    roots: list[bytes] = []
    sources: list[str] = []
    ok = True
    roots_field = get(d, f.key, "roots")
    if roots_field is not None:
        from cryptography import x509

        entries = list(items(ctx, roots_field))
        if not entries and isinstance(roots_field.value, list):
            ctx.add(
                roots_field.line, roots_field.key, "expected at least one root certificate file"
            )
        ok = bool(entries)
        for item in entries:
            loaded = read_pinned(ctx, item, base, "a root certificate file")
            if loaded is None:
                ok = False
                continue
            try:
                certs = x509.load_pem_x509_certificates(loaded[1])
            except ValueError:
                certs = []
            if not certs:
                ctx.add(
                    item.line,
                    item.key,
                    f"{loaded[0]}: no PEM certificate could be read",
                    "policy.trust_unreadable",
                )
                ok = False
                continue
            roots.append(loaded[1])
            sources.append(str(loaded[0]))
    ident = get(d, f.key, "identity")
    san = subject = None
    if ident is not None:
        idd = mapping(ctx, ident.value, ident.key, ident.line, optional=("san", "subject"))
        if idd is None:
            return None
        san_f, subject_f = get(idd, ident.key, "san"), get(idd, ident.key, "subject")
        san = token(ctx, san_f, "a SAN") if san_f else None
        subject = token(ctx, subject_f, "a subject DN") if subject_f else None
        if san_f is None and subject_f is None:
            ctx.add(ident.line, ident.key, "pin the leaf certificate: give san and/or subject")
            return None
    if not ok or ident is None or (san is None and subject is None):
        return None
    return X509Signer(name, tuple(roots), san, subject, tuple(sources))


def _sigstore_signer(ctx: Ctx, name: str, f: Field, base: Path) -> SigstoreSigner | None:
    try:
        identity = IdentityPolicy.from_dict(f.value, f.key, extra_keys=("trustedRoot",))
    except ConfigError as exc:
        code = "policy.unknown_key" if "unknown key" in exc.message else "policy.bad_value"
        ctx.add(f.line, "", exc.message, code)
        return None
    root_field = get(f.value, f.key, "trustedRoot") if isinstance(f.value, LocatedDict) else None
    if root_field is None:
        return SigstoreSigner(name, identity, None)
    from weightguard.signing.trust_root import TrustRoot

    try:
        if isinstance(root_field.value, str) and root_field.value.startswith("embedded:"):
            # Inside the installed sigstore package, not on a mounted volume.
            trust = TrustRoot.load(root_field.value)
        else:
            loaded = read_pinned(ctx, root_field, base, "a Sigstore trusted root")
            if loaded is None:
                return None
            trust = TrustRoot.from_bytes(loaded[1], loaded[0])
    except ConfigError as exc:
        ctx.add(root_field.line, root_field.key, exc.message, "policy.trust_unreadable")
        return None
    return SigstoreSigner(name, identity, trust)
