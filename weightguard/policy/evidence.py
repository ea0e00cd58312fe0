"""What the gate found out about a model, as plain values for `evaluate` to judge.

Owns: the facts only: files with their detected formats, digests and scan outcomes;
every signature bundle with the policy signers that verified it and how its manifest
compares with the disk; every other signed statement; in-toto layout outcomes; errors
that stopped the gate from looking. Gathering them (I/O, crypto) is
`weightguard.policy.gather.gather_evidence`; deciding is `weightguard.policy.evaluate`.
Keeping the two apart keeps the decision a pure function that tests can feed directly.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightguard.policy.layout import LayoutOutcome
from weightguard.report import Reason
from weightguard.signing import SignerInfo


def evidence_dir(model_path: str | os.PathLike[str]) -> Path:
    """Where extra signatures, attestations and in-toto links live: `M/model.sig.d` for
    a model directory, `F.sig.d` beside a single-file model (never part of the model)."""
    from weightguard.api import default_evidence_dir

    return default_evidence_dir(model_path)


@dataclass(frozen=True)
class Problem:
    """Something that could not be read or made sense of; `incomplete` when it means
    "could not check" (exit 3) rather than "checked and wrong" (exit 1)."""

    reason: Reason
    incomplete: bool = False


@dataclass(frozen=True)
class FileFacts:
    """One model file.

    Attributes:
        path: model-relative POSIX path (the file's name for a single-file model).
        size: bytes.
        format: detected by content (`weightguard.pickle.formats`); None if unreadable.
        sha256: hex digest of the content; None if it could not be computed.
        scans: scanner settings key (`ScanRequirement.scanner_key`) -> (outcome,
            summary) of a local scan: ``clean``/``unsafe``/``incomplete``, or ``error``
            when the scanner failed; the summary is the first finding, or why no scan ran.
        error: why the format or digest is missing.
    """

    path: str
    size: int
    format: str | None
    sha256: str | None
    scans: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class BundleFacts:
    """One OMS signature bundle.

    Attributes:
        source: the bundle file.
        signers: policy signer names whose verifier accepted it (possibly several).
        infos: who signed, as each accepting verifier established it.
        refusals: (signer name, reason code) for the verifiers that refused it.
        root_digest: hex OMS root digest of the verified manifest.
        files: model-relative path -> ``ok``, or the reason code of the difference
            (``file.digest_mismatch``, ``file.size_mismatch``, ``file.missing``), for
            every file the manifest lists. Empty unless verified.
        differences: the reasons behind non-ok entries (with expected/actual).
        error: a bundle that could not be read or parsed (fails the model).
        version: ``weightguard_version`` from the signed predicate, if any.
        signed_at: the verified signing time (keyless), else the signed
            ``weightguard_signed_at`` claim of the (trusted) signer.
        time_verified: `signed_at` comes from a transparency log or timestamp.
        key_hint: the unauthenticated key id the bundle names (for revocation).
        signature_id: sha256 of the signature bytes; copies of a bundle share it.
        signing_keys: key ids (``sha256:<hex>``) of the key that made the verified
            signature; what thresholds count (`weightguard.policy.votes`).
    """

    source: str
    signers: tuple[str, ...] = ()
    infos: tuple[SignerInfo, ...] = ()
    refusals: tuple[tuple[str, str], ...] = ()
    root_digest: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    differences: tuple[Reason, ...] = ()
    error: Problem | None = None
    version: str | None = None
    signed_at: dt.datetime | None = None
    time_verified: bool = False
    key_hint: str | None = None
    signature_id: str = ""
    signing_keys: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        """True when some policy signer's verifier accepted the bundle."""
        return bool(self.signers) and self.error is None

    @property
    def intact(self) -> bool:
        """Verified, and every file it lists is present with the signed content."""
        return self.verified and all(v == "ok" for v in self.files.values())


@dataclass(frozen=True)
class StatementFacts:
    """One signed in-toto statement other than an OMS signature (scan, smoke, SLSA...)."""

    source: str
    predicate_type: str = ""
    subjects: tuple[tuple[str, Mapping[str, str]], ...] = ()
    predicate: Mapping[str, Any] = field(default_factory=dict)
    signers: tuple[str, ...] = ()
    infos: tuple[SignerInfo, ...] = ()
    refusals: tuple[tuple[str, str], ...] = ()
    error: Problem | None = None
    key_hint: str | None = None
    signing_keys: tuple[str, ...] = ()

    def names_digest(self, hex_digest: str) -> bool:
        """True when a subject carries this sha256 digest."""
        want = hex_digest.lower()
        return any(d.get("sha256", "").lower() == want for _, d in self.subjects)


@dataclass(frozen=True)
class Evidence:
    """Everything `evaluate` judges.

    Attributes:
        model: the model path as given.
        files: every model file (signature files and the evidence folder excluded).
        bundles: every OMS signature bundle found or given.
        statements: every other signed statement found or given.
        layouts: rule name -> in-toto layout outcome, for rules that require one.
        model_digest: hex OMS root digest of the files on disk (files mode, sha256),
            when every file could be hashed; the ``model`` subject of attestations.
        errors: what stopped the gate from looking (unreadable or refused model).
    """

    model: str
    files: tuple[FileFacts, ...]
    bundles: tuple[BundleFacts, ...] = ()
    statements: tuple[StatementFacts, ...] = ()
    layouts: Mapping[str, LayoutOutcome] = field(default_factory=dict)
    model_digest: str | None = None
    errors: tuple[Problem, ...] = ()
