"""Gathering the evidence a policy judges: bundles, verified signers, files, scans, layouts.

Owns: the I/O half of the gate. It reads every signature and attestation bundle (told
apart by content: OMS statements are signatures, anything else an attestation), tries
each against every policy signer, compares each verified manifest with the disk (one
hash pass per distinct manifest), hashes the rest of the files once, detects formats by
content, runs the scanner where a rule wants a local scan, and verifies in-toto layouts.
Errors become `Problem`s in the evidence, never silence: `weightguard.policy.evaluate`
decides what they mean.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightguard.api import default_signature_path
from weightguard.bundle import (
    OMS_LEGACY_PREDICATE,
    OMS_PREDICATE,
    Bundle,
    Statement,
    manifest_from_statement,
    parse_bundle,
    parse_statement,
)
from weightguard.digest import ProgressCallback
from weightguard.errors import ExitCode, UsageError, WeightguardError
from weightguard.manifest import Inventory, Manifest, enumerate_model
from weightguard.policy.evidence import (
    BundleFacts,
    FileFacts,
    Problem,
    StatementFacts,
    evidence_dir,
)
from weightguard.policy.layout import LayoutOutcome, verify_layout
from weightguard.policy.schema import KeySigner, Policy, ScanRequirement, weakened_by
from weightguard.policy.sidecars import git_paths_are_model
from weightguard.policy.trust import TrustSet, Verification
from weightguard.report import Reason, reason_from_error
from weightguard.untrusted import MAX_BUNDLE_BYTES, read_regular

_BUNDLE_SUFFIXES = (".sig", ".json", ".bundle")
_DIFFERENCES = ("file.digest_mismatch", "file.size_mismatch", "file.missing")


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that can loosen a policy (allowed only by ``allowOverrides``)."""

    mode: str | None = None
    allow_unsigned_files: bool = False
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = ()

    def weakening(self, policy: Policy) -> list[str]:
        """The flags that would loosen `policy` (a stronger --mode is not loosening)."""
        out = []
        # --mode replaces every rule's mode: weaker than any rule's is loosening.
        weakened = weakened_by(policy, self.mode) if self.mode is not None else []
        if weakened:
            out.append(f"--mode {self.mode} (weakens {', '.join(weakened)})")
        if self.allow_unsigned_files:
            out.append("--allow-unsigned-files")
        if self.allow_symlinks and not policy.allow_symlinks:
            out.append("--allow-symlinks")
        out.extend(f"--ignore {p}" for p in self.ignore_paths)
        return out

    def describe(self) -> list[str]:
        """Every override given, for the report."""
        out = [f"--mode {self.mode}"] if self.mode else []
        out += ["--allow-unsigned-files"] * self.allow_unsigned_files
        out += ["--allow-symlinks"] * self.allow_symlinks
        return out + [f"--ignore {p}" for p in self.ignore_paths]


def check_overrides(policy: Policy, overrides: Overrides) -> None:
    """Refuse command-line flags that loosen a policy that does not allow it.

    Raises:
        UsageError: (exit 2) naming the flags.
    """
    weak = overrides.weakening(policy)
    if weak and not policy.allow_overrides:
        raise UsageError(
            f"{', '.join(weak)} would loosen policy {policy.name!r}, which does not allow "
            "overrides (spec.allowOverrides: false)",
            path=policy.path,
            code="policy.override_refused",
        )


def problem(err: WeightguardError) -> Problem:
    return Problem(reason_from_error(err), err.exit_code == ExitCode.INCOMPLETE)


@dataclass
class Gather:
    model: Path
    policy: Policy
    overrides: Overrides
    trust: TrustSet
    workers: int | None
    progress: ProgressCallback | None
    sidecars: list[str] = field(default_factory=list)  # model-relative paths to leave out
    errors: list[Problem] = field(default_factory=list)
    _checks: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    _sha_from_manifest: dict[str, str] = field(default_factory=dict)

    @property
    def allow_symlinks(self) -> bool:
        return self.policy.allow_symlinks or self.overrides.allow_symlinks

    def rel(self, path: Path) -> str | None:
        if not self.model.is_dir():
            return None
        try:
            return path.resolve().relative_to(self.model.resolve()).as_posix()
        except ValueError:
            return None

    def inventory(self) -> Inventory | None:
        try:
            return enumerate_model(
                self.model,
                ignore_paths=[*self.sidecars, *self.overrides.ignore_paths],
                ignore_git_paths=not git_paths_are_model(self.policy.unmatched_files),
                allow_symlinks=self.allow_symlinks,
            )
        except UsageError:
            raise
        except WeightguardError as err:
            self.errors.append(problem(err))
            return None

    def display(self, rel: str) -> str:
        return self.model.name if rel == "." else rel

    # -- bundles -------------------------------------------------------------------
    def read(
        self, path: Path, origin: str
    ) -> tuple[BundleFacts | StatementFacts, Bundle | None, Statement | None]:
        try:
            data = read_regular(path, limit=MAX_BUNDLE_BYTES)
            bundle = parse_bundle(data)
            stmt = parse_statement(bundle.envelope.payload)
        except OSError as exc:
            reason = Reason("evidence.unreadable", f"cannot read: {exc.strerror}", str(path))
            return BundleFacts(str(path), error=Problem(reason, True)), None, None
        except WeightguardError as err:
            reason = Reason(err.code, err.message, None)
            if _is_plain_statement(data):
                reason = Reason(
                    "evidence.unsigned",
                    "an unsigned in-toto statement; policies only accept signed evidence",
                )
            return BundleFacts(str(path), error=Problem(reason)), None, None
        is_oms = stmt.predicate_type in (OMS_PREDICATE, OMS_LEGACY_PREDICATE)
        if origin == "signature" and not is_oms:
            reason = Reason(
                "bundle.not_a_signature", f"not an OMS model signature ({stmt.predicate_type})"
            )
            return BundleFacts(str(path), error=Problem(reason)), None, None
        if is_oms:
            # Copies of one bundle carry the same signature bytes (ECDSA is randomised, so
            # separate signings never do): they must count as one signature.
            sig_id = hashlib.sha256(bundle.envelope.signatures[0].sig).hexdigest()
            return (
                BundleFacts(str(path), key_hint=bundle.key_hint, signature_id=sig_id),
                bundle,
                stmt,
            )
        return StatementFacts(str(path), key_hint=bundle.key_hint), bundle, stmt

    def signature(self, facts: BundleFacts, bundle: Bundle, stmt: Statement) -> BundleFacts:
        v = self.trust.verify(bundle)
        facts = dataclasses.replace(
            facts, signers=v.signers, infos=v.infos, refusals=v.refusals, signing_keys=v.keys
        )
        if not v.signers:
            if v.incomplete and not any(c == "signature.invalid" for _, c in v.refusals):
                reason = Reason(
                    "signer.unavailable", f"could not check with {', '.join(v.incomplete)}"
                )
                return dataclasses.replace(facts, error=Problem(reason, True))
            return facts
        try:
            manifest = manifest_from_statement(stmt)
        except WeightguardError as err:
            return dataclasses.replace(facts, signers=(), error=problem(err))
        files, differences, digests = self.compare(manifest, Path(facts.source))
        version = stmt.predicate.get("weightguard_version")
        signed_at, verified_time = _signing_time(v, stmt)
        self._sha_from_manifest.update(digests)
        return dataclasses.replace(
            facts,
            root_digest=manifest.root_digest,
            files=files,
            differences=differences,
            version=None if version is None else str(version),
            signed_at=signed_at,
            time_verified=verified_time,
        )

    def compare(
        self, manifest: Manifest, source: Path
    ) -> tuple[dict[str, str], tuple[Reason, ...], dict[str, str]]:
        from weightguard.check import check_model

        ser = manifest.serialization
        # Keyed on the names and digests themselves, never on the root digest: the root
        # covers only the digest list, so a bundle over another naming of the same bytes
        # has the same root and must still hash its own paths (threat model, class 1).
        signature_rel = self.rel(source)
        key = (manifest.resources, manifest.empty_files, ser, signature_rel)
        if key not in self._checks:
            try:
                self._checks[key] = check_model(
                    self.model,
                    manifest,
                    signature_rel=signature_rel,
                    ignore_paths=[*self.sidecars, *self.overrides.ignore_paths],
                    allow_symlinks=self.allow_symlinks,
                    allow_unsigned_files=True,
                    workers=self.workers,
                    progress=self.progress,
                )
            except UsageError:
                raise
            except WeightguardError as err:
                self.errors.append(problem(err))
                self._checks[key] = None
        check = self._checks[key]
        if check is None:
            return {}, (), {}
        files = {self.display(r.path): "ok" for r in manifest.resources}
        files.update({self.display(e): "ok" for e in manifest.empty_files or ()})
        differences = []
        for reason in check.reasons:
            if reason.code in _DIFFERENCES and reason.path is not None:
                shown = self.display(reason.path)
                files[shown] = reason.code
                differences.append(dataclasses.replace(reason, path=shown))
        digests: dict[str, str] = {}
        if ser.method == "files" and ser.hash_type == "sha256":
            digests = {
                self.display(r.path): r.digest
                for r in manifest.resources
                if files.get(self.display(r.path)) == "ok"
            }
        return files, tuple(differences), digests

    def statement(self, facts: StatementFacts, bundle: Bundle, stmt: Statement) -> StatementFacts:
        v = self.trust.verify(bundle)
        facts = dataclasses.replace(
            facts,
            predicate_type=stmt.predicate_type,
            subjects=stmt.subjects,
            predicate=stmt.predicate,
            signers=v.signers,
            infos=v.infos,
            refusals=v.refusals,
            signing_keys=v.keys,
        )
        from weightguard.smoke.record import PREDICATE_TYPE, record_from_statement

        if stmt.predicate_type == PREDICATE_TYPE:
            try:
                record_from_statement(stmt, None, True)
            except WeightguardError as err:
                return dataclasses.replace(facts, error=problem(err))
        return facts

    # -- files -----------------------------------------------------------------------
    def files(self, inv: Inventory) -> list[FileFacts]:
        from weightguard.digest import HashTask, hash_tasks

        # The scanner's own detector, the one function every part of weightguard asks
        # (threat model, class 14): formats and scan decisions can never disagree with it.
        from weightguard.scan import detect_format

        out: list[FileFacts] = []
        need: list[HashTask] = []
        for f in inv.files:
            shown = self.display(f.rel)
            try:
                fmt, error = detect_format(f.abspath), None
            except OSError as exc:
                fmt, error = None, f"cannot read: {exc.strerror}"
            out.append(
                FileFacts(shown, f.state.size, fmt, self._sha_from_manifest.get(shown), error=error)
            )
            if shown not in self._sha_from_manifest:
                need.append(HashTask(f.abspath, 0, None, f.state, shown))
        if need:
            try:
                digests = dict(
                    zip(
                        (t.display for t in need),
                        hash_tasks(need, "sha256", workers=self.workers, progress=self.progress),
                    )
                )
            except UsageError:
                raise
            except WeightguardError as err:
                self.errors.append(problem(err))
                digests = {}
            out = [dataclasses.replace(f, sha256=f.sha256 or digests.get(f.path)) for f in out]
        return self.scan(inv, out)

    def scan(self, inv: Inventory, files: list[FileFacts]) -> list[FileFacts]:
        """Scan each file once per distinct scanner setting of the rules that want it."""
        wanted: dict[str, tuple[ScanRequirement, list[int]]] = {}
        for index, f in enumerate(files):
            for rule in self.policy.rules:
                s = rule.scan
                if (
                    s is not None
                    and s.source != "attestation"
                    and rule.match(f.path)
                    and s.covers(f.format)
                ):
                    indices = wanted.setdefault(s.scanner_key, (s, []))[1]
                    if index not in indices:
                        indices.append(index)
        abspaths = {self.display(m.rel): m.abspath for m in inv.files}
        results: dict[int, dict[str, tuple[str, str]]] = {}
        for key, (req, indices) in wanted.items():
            for i, outcome in zip(
                indices, _run_scan(req, [abspaths[files[i].path] for i in indices])
            ):
                results.setdefault(i, {})[key] = outcome
        return [
            dataclasses.replace(f, scans=results[i]) if i in results else f
            for i, f in enumerate(files)
        ]


def _run_scan(req: ScanRequirement, paths: list[str]) -> list[tuple[str, str]]:
    """(outcome, summary) per path; a scanner that cannot run gives ``error`` for all."""
    from weightguard.scan import scan as run_scan

    try:
        result = run_scan(paths, profiles=req.profiles, allow=[n for n, _ in req.allow])
    except WeightguardError as err:
        return [("error", err.message)] * len(paths)
    failed = bool(result.errors)
    out: list[tuple[str, str]] = []
    for fr in result.files:
        outcome = "error" if failed and fr.outcome.value != "unsafe" else fr.outcome.value
        first = fr.findings[0] if fr.findings else None
        out.append((outcome, f"{first.message} ({first.rule})" if first else ""))
    # A scan that stopped early (file budget) leaves the rest without a result.
    out += [("error", "the scanner returned no result")] * (len(paths) - len(out))
    return out


def _is_plain_statement(data: bytes) -> bool:
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return isinstance(doc, dict) and "_type" in doc and "dsseEnvelope" not in doc


def _signing_time(v: Verification, stmt: Statement) -> tuple[dt.datetime | None, bool]:
    for info in v.infos:
        text = info.details.get("verified_time")
        if isinstance(text, str):
            return dt.datetime.fromisoformat(text), True
    claim = stmt.predicate.get("weightguard_signed_at")
    if isinstance(claim, str):
        try:
            when = dt.datetime.fromisoformat(claim.replace("Z", "+00:00"))
        except ValueError:
            return None, False
        return (when if when.tzinfo else None), False
    return None, False


def bundle_paths(
    model: Path, signatures: Sequence[Path], attestations: Sequence[Path]
) -> list[tuple[Path, str]]:
    # --signature adds to MODEL/model.sig (README, "Policy files"); it never hides it.
    found: list[tuple[Path, str]] = [(Path(s), "signature") for s in signatures]
    if default_signature_path(model).is_file():
        found.append((default_signature_path(model), "signature"))
    folder = evidence_dir(model)
    for origin, paths in (("evidence", [folder]), ("attestation", list(attestations))):
        for p in paths:
            p = Path(p)
            if p.is_dir():
                found += [
                    (c, origin)
                    for c in sorted(p.iterdir())
                    if c.is_file() and c.suffix in _BUNDLE_SUFFIXES
                ]
            elif origin == "attestation":
                found.append((p, origin))
    seen: set[Path] = set()
    unique = []
    for path, origin in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, origin))
    return unique


def layouts(
    policy: Policy, files: Iterable[FileFacts], folder: Path
) -> Mapping[str, LayoutOutcome]:
    out: dict[str, LayoutOutcome] = {}
    files = list(files)
    for rule in policy.rules:
        req = rule.layout
        if req is None or not any(rule.match(f.path) for f in files):
            continue
        if any(f.sha256 is None for f in files):
            out[rule.name] = LayoutOutcome(
                False, "layout.unchecked", "some files could not be hashed", True
            )
            continue
        keys = [
            s.public_key_pem for n in req.signers if isinstance(s := policy.signers[n], KeySigner)
        ]
        digests = {f.path: f.sha256 or "" for f in files}
        out[rule.name] = verify_layout(req.layout_bytes, keys, folder / req.links, digests)
    return out
