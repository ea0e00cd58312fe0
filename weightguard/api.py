"""The library API: `sign`, `verify` and `digest` a model.

Library code never prints or exits: `sign` returns a `SignResult`, `verify` returns a
`VerifyResult` whose `verdict` the caller must look at (or call `raise_for_verdict`),
and errors are raised from the `weightguard.errors` tree.

Example:
    >>> from weightguard import sign, verify
    >>> from weightguard.signing.ec import EcKeySigner, EcKeyVerifier
    >>> sign("model/", EcKeySigner.from_file("key.pem"))            # doctest: +SKIP
    >>> result = verify("model/", EcKeyVerifier.from_files(["key.pub.pem"]))  # doctest: +SKIP
    >>> result.accepted                                               # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightguard.bundle import (
    encode_statement,
    manifest_from_statement,
    parse_bundle,
    parse_statement,
    statement_for_manifest,
)
from weightguard.check import check_model
from weightguard.digest import ProgressCallback
from weightguard.errors import (
    BundleError,
    ModelReadError,
    RejectedError,
    SignatureError,
    UsageError,
    WeightguardError,
)
from weightguard.manifest import Manifest, build_manifest, enumerate_model
from weightguard.report import Reason, Verdict, reason_from_error, verdict_for_error
from weightguard.signing import Signer, SignerInfo, Verifier
from weightguard.untrusted import MAX_BUNDLE_BYTES, read_regular

SIGNATURE_NAME = "model.sig"


def default_signature_path(model_path: str | os.PathLike[str]) -> Path:
    """`MODEL_DIR/model.sig` for a directory, `FILE.sig` for a single file."""
    p = Path(model_path)
    return p / SIGNATURE_NAME if p.is_dir() else p.with_name(p.name + ".sig")


def default_evidence_dir(model_path: str | os.PathLike[str]) -> Path:
    """Where co-signatures, attestations and in-toto links live: `MODEL_DIR/model.sig.d`
    for a directory, `FILE.sig.d` beside a single file (never part of the model)."""
    sig = default_signature_path(model_path)
    return sig.with_name(sig.name + ".d")


def signature_ignores(model_path: Path, signature: Path) -> list[str]:
    """Model-relative paths that hold signatures, never model content: for a directory,
    `model.sig`, the co-signature folder `model.sig.d/` and the chosen bundle path."""
    if not model_path.is_dir():
        return []
    names = [SIGNATURE_NAME, SIGNATURE_NAME + ".d"]
    rel = _relative_inside(model_path, signature)
    if rel and rel not in names and not rel.startswith(SIGNATURE_NAME + ".d/"):
        names.append(rel)
    return names


def _relative_inside(model_path: Path, signature: Path) -> str | None:
    if not model_path.is_dir():
        return None
    try:
        rel = signature.resolve().relative_to(model_path.resolve())
    except ValueError:
        return None
    return rel.as_posix()


@dataclass(frozen=True)
class SignResult:
    """What `sign` wrote."""

    signature_path: Path
    root_digest: str
    manifest: Manifest


def sign(
    model_path: str | os.PathLike[str],
    signer: Signer,
    *,
    signature_path: str | os.PathLike[str] | None = None,
    hash_type: str = "sha256",
    shard_size: int | None = None,
    ignore_paths: Iterable[str] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    predicate_extra: Mapping[str, Any] | None = None,
) -> SignResult:
    """Hash a model and write an OMS signature bundle for it (atomically).

    Args:
        model_path: a model directory or a single weight file.
        signer: an `EcKeySigner`, `CertificateSigner` or Sigstore signer.
        signature_path: where to write; default `default_signature_path(model_path)`.
        hash_type: ``sha256`` (default), ``blake2b`` or ``blake3``.
        shard_size: sign in `shards` mode with this shard size (bytes).
        ignore_paths: model-relative paths to leave out (recorded in the bundle).
        predicate_extra: extra ``weightguard_*`` predicate fields to sign with the
            manifest, e.g. ``weightguard_version`` for policy rollback floors (OMS
            verifiers ignore unknown predicate fields).

    Raises:
        UsageError, RejectedError (empty model, refused content), ModelReadError,
        ModelChangedError, KeyLoadError.
    """
    model = Path(model_path)
    sig_path = Path(signature_path) if signature_path else default_signature_path(model)
    manifest = _hash_model(
        model,
        sig_path,
        hash_type=hash_type,
        shard_size=shard_size,
        ignore_paths=ignore_paths,
        ignore_git_paths=ignore_git_paths,
        allow_symlinks=allow_symlinks,
        workers=workers,
        progress=progress,
    )
    statement = statement_for_manifest(manifest)
    for name, value in (predicate_extra or {}).items():
        if not name.startswith("weightguard_") or name in statement["predicate"]:
            raise UsageError(f"extra predicate field {name!r} must be a new weightguard_* field")
        statement["predicate"][name] = value
    payload = encode_statement(statement)
    bundle = signer.sign_payload(payload)
    from weightguard.fileio import write_atomic

    write_atomic(sig_path, bundle)
    return SignResult(sig_path, manifest.root_digest, manifest)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `verify`. Check `verdict` (or `accepted`); never assume success."""

    verdict: Verdict
    model_path: Path
    signature_path: Path
    reasons: tuple[Reason, ...]
    root_digest: str | None = None
    signer: SignerInfo | None = None
    manifest: Manifest | None = None
    files_checked: int = 0
    bytes_hashed: int = 0

    @property
    def accepted(self) -> bool:
        """True only when every check passed."""
        return self.verdict is Verdict.ACCEPTED

    def raise_for_verdict(self) -> None:
        """Raise `RejectedError` (or the incomplete/internal equivalent) unless accepted."""
        if self.accepted:
            return
        first = next((r for r in self.reasons if r.severity == "error"), None)
        message = first.message if first else "verification did not pass"
        from weightguard.errors import IncompleteError, InternalError

        cls: type[WeightguardError] = {
            Verdict.REJECTED: RejectedError,
            Verdict.INCOMPLETE: IncompleteError,
        }.get(self.verdict, InternalError)
        raise cls(message, code=first.code if first else None, path=first.path if first else None)

    def to_json_dict(self) -> dict[str, Any]:
        """Command-specific JSON fields for the report."""
        ser = self.manifest.serialization if self.manifest else None
        return {
            "model": {
                "path": str(self.model_path),
                "root_digest": f"sha256:{self.root_digest}" if self.root_digest else None,
                "name": self.manifest.model_name if self.manifest else None,
            },
            "signature": str(self.signature_path),
            "signer": self.signer.to_json_dict() if self.signer else None,
            "manifest": {
                "method": ser.method,
                "hash_type": ser.hash_type,
                "shard_size": ser.shard_size,
                "resources": len(self.manifest.resources) if self.manifest else 0,
                "ignore_paths": list(ser.ignore_paths),
            }
            if ser
            else None,
            "files_checked": self.files_checked,
            "bytes_hashed": self.bytes_hashed,
        }


def read_signature(path: Path) -> bytes:
    """Read a bundle file; a missing one is a rejection (the model is unsigned)."""
    try:
        return read_regular(path, limit=MAX_BUNDLE_BYTES)
    except FileNotFoundError:
        raise RejectedError(
            "no signature found (the model is unsigned)", path=str(path), code="signature.missing"
        ) from None
    except OSError as exc:
        raise ModelReadError(f"cannot read signature: {exc.strerror}", path=str(path)) from exc


def verify(
    model_path: str | os.PathLike[str],
    verifier: Verifier,
    *,
    signature_path: str | os.PathLike[str] | None = None,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    allow_unsigned_files: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> VerifyResult:
    """Verify a model against its OMS signature bundle.

    Order: read and parse the bundle; check the signature over the exact payload bytes
    and the signer's identity; parse the statement (one subject, root digest, safe
    names); hash the model with the signed parameters and compare every file.

    Returns:
        A VerifyResult; its verdict is ``accepted`` only if every step passed.

    Raises:
        UsageError: the model path does not exist.
    """
    model = Path(model_path)
    if not model.exists() and not model.is_symlink():
        raise UsageError("model path does not exist", path=str(model), code="model.missing")
    sig_path = Path(signature_path) if signature_path else default_signature_path(model)
    base = VerifyResult(Verdict.ERROR, model, sig_path, ())
    signer: SignerInfo | None = None
    manifest: Manifest | None = None
    try:
        bundle = parse_bundle(read_signature(sig_path))
        signer = verifier.verify_bundle(bundle)
        manifest = manifest_from_statement(parse_statement(bundle.envelope.payload))
        check = check_model(
            model,
            manifest,
            signature_rel=_relative_inside(model, sig_path),
            ignore_paths=[*ignore_paths, *signature_ignores(model, sig_path)],
            allow_symlinks=allow_symlinks,
            allow_unsigned_files=allow_unsigned_files,
            workers=workers,
            progress=progress,
        )
    except (BundleError, SignatureError, RejectedError) as err:
        return _with(base, Verdict.REJECTED, (reason_from_error(err),), signer, manifest)
    except WeightguardError as err:
        if isinstance(err, UsageError):
            raise
        return _with(base, verdict_for_error(err), (reason_from_error(err),), signer, manifest)
    verdict = Verdict.ACCEPTED if check.ok else Verdict.REJECTED
    return VerifyResult(
        verdict,
        model,
        sig_path,
        check.reasons,
        manifest.root_digest,
        signer,
        manifest,
        check.files_checked,
        check.bytes_hashed,
    )


def _with(
    base: VerifyResult,
    verdict: Verdict,
    reasons: tuple[Reason, ...],
    signer: SignerInfo | None,
    manifest: Manifest | None,
) -> VerifyResult:
    return VerifyResult(
        verdict,
        base.model_path,
        base.signature_path,
        reasons,
        manifest.root_digest if manifest else None,
        signer,
        manifest,
    )


def digest(
    model_path: str | os.PathLike[str],
    *,
    hash_type: str = "sha256",
    shard_size: int | None = None,
    ignore_paths: Iterable[str] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> str:
    """The OMS root digest (hex) of a model, as `sign` would put in the subject.

    Signature paths (`model.sig`, `model.sig.d/` inside a directory) are ignored, like `sign`.
    """
    model = Path(model_path)
    return _hash_model(
        model,
        default_signature_path(model),
        hash_type=hash_type,
        shard_size=shard_size,
        ignore_paths=ignore_paths,
        ignore_git_paths=ignore_git_paths,
        allow_symlinks=allow_symlinks,
        workers=workers,
        progress=progress,
    ).root_digest


def _hash_model(
    model: Path,
    signature: Path,
    *,
    hash_type: str,
    shard_size: int | None,
    ignore_paths: Iterable[str],
    ignore_git_paths: bool,
    allow_symlinks: bool,
    workers: int | None,
    progress: ProgressCallback | None,
) -> Manifest:
    """List (signature paths left out) and hash a model, as `sign` and `digest` share."""
    if hash_type == "blake3" and shard_size:
        raise UsageError("BLAKE3 is only used in files mode; drop --shards or use sha256")
    inventory = enumerate_model(
        model,
        ignore_paths=[*ignore_paths, *signature_ignores(model, signature)],
        ignore_git_paths=ignore_git_paths,
        allow_symlinks=allow_symlinks,
    )
    return build_manifest(
        inventory,
        hash_type=hash_type,
        method="shards" if shard_size else "files",
        shard_size=shard_size,
        allow_symlinks=allow_symlinks,
        workers=workers,
        progress=progress,
    )
