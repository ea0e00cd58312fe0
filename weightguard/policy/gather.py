"""Gathering the evidence a policy judges: bundles, verified signers, files, scans, layouts.

Owns: the I/O half of the gate, as one function, `gather_evidence`, whose only output is
the frozen `Evidence` it returns. It reads every signature and attestation bundle (told
apart by content: OMS statements are signatures, anything else an attestation), tries
each against every policy signer, compares each verified manifest with the disk (one
hash pass per distinct manifest: keyed by its names, digests and bundle path, never by
its root digest), hashes the rest of the files once, detects formats by content, runs
the scanner where a rule wants a local scan, and verifies in-toto layouts. Errors become
`Problem`s in the evidence, never silence: `weightguard.policy.evaluate` decides what
they mean. The steps are small functions over a frozen `_Scope`; nothing is kept
between calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from weightguard.manifest import Inventory, Manifest, Resource, enumerate_model, root_digest
from weightguard.policy.evidence import (
    BundleFacts,
    Evidence,
    FileFacts,
    Problem,
    StatementFacts,
    evidence_dir,
)
from weightguard.policy.layout import LayoutOutcome, verify_layout
from weightguard.policy.overrides import Overrides, check_overrides
from weightguard.policy.sidecars import git_paths_are_model
from weightguard.policy.trust import TrustSet, Verification
from weightguard.policy.values import KeySigner, Policy, ScanRequirement
from weightguard.report import Reason, reason_from_error
from weightguard.untrusted import MAX_BUNDLE_BYTES, read_regular

if TYPE_CHECKING:
    from weightguard.check import ModelCheck

__all__ = ["bundle_paths", "gather_evidence"]

_BUNDLE_SUFFIXES = (".sig", ".json", ".bundle")
_DIFFERENCES = ("file.digest_mismatch", "file.size_mismatch", "file.missing")
# What a manifest check is keyed on: the names and digests themselves, the serialization
# and the bundle's own path, never the root digest. The root covers only the digest list,
# so a bundle over another naming of the same bytes has the same root and must still
# hash its own paths (threat model, class 1).
_CheckKey = tuple[Any, ...]


def gather_evidence(
    model: Path,
    policy: Policy,
    *,
    signatures: Sequence[Path] = (),
    attestations: Sequence[Path] = (),
    sidecars: Sequence[str] = (),
    overrides: Overrides | None = None,
    now: dt.datetime | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> Evidence:
    """Everything `policy` needs to judge `model`.

    Args:
        signatures, attestations: bundles kept outside the model (``--signature``,
            ``--attestation``), besides ``model.sig`` and the evidence folder.
        sidecars: model-relative paths that are evidence, never model files
            (`weightguard.policy.sidecars`).
        overrides: ``--allow-symlinks`` and ``--ignore`` act here; checked again with
            `weightguard.policy.overrides.check_overrides` so that a library caller
            cannot loosen a policy that does not allow it (`run_gate` checks first).
        now: the time certificates and keyless signatures are verified at.

    Raises:
        UsageError: configuration or usage problems (never a fact about the model),
            among them overrides the policy does not allow (``policy.override_refused``).
        ConfigError: a signer's verifier cannot be built.
    """
    overrides = overrides or Overrides()
    check_overrides(policy, overrides)
    scope = _Scope(
        model,
        policy,
        TrustSet(policy.signers, at=now),
        (*sidecars, *overrides.ignore_paths),
        policy.allow_symlinks or overrides.allow_symlinks,
        workers,
        progress,
    )
    bundles: list[BundleFacts] = []
    statements: list[StatementFacts] = []
    pending: list[tuple[BundleFacts | StatementFacts, Bundle, Statement]] = []
    for path, origin in bundle_paths(model, signatures, attestations):
        facts, bundle, stmt = _read(path, origin)
        if bundle is None or stmt is None:
            bundles.append(facts) if isinstance(facts, BundleFacts) else statements.append(facts)
        else:
            pending.append((facts, bundle, stmt))
    inv, errors = _inventory(scope)
    verified: list[tuple[int, Manifest]] = []  # (index in bundles, its manifest)
    for facts, bundle, stmt in pending:
        if isinstance(facts, StatementFacts):
            statements.append(_statement(scope, facts, bundle, stmt))
        elif inv is None:
            bundles.append(facts)
        else:
            facts, manifest = _signature(scope, facts, bundle, stmt)
            if manifest is not None:
                verified.append((len(bundles), manifest))
            bundles.append(facts)
    checks, problems = _check_manifests(scope, [(m, Path(bundles[i].source)) for i, m in verified])
    errors += problems
    signed_sha256: dict[str, str] = {}  # model file -> sha256 a verified manifest vouches for
    for i, manifest in verified:
        key = _check_key(scope, manifest, Path(bundles[i].source))
        files, differences, digests = _compare(scope, manifest, checks[key])
        bundles[i] = dataclasses.replace(bundles[i], files=files, differences=differences)
        signed_sha256.update(digests)
    facts_of_files: list[FileFacts] = []
    if inv is not None:
        facts_of_files, problems = _files(scope, inv, signed_sha256)
        errors += problems
    model_digest = None
    if facts_of_files and all(f.sha256 for f in facts_of_files):
        model_digest = root_digest(
            Resource(f.path, "sha256", f.sha256 or "") for f in facts_of_files
        )
    return Evidence(
        str(model),
        tuple(facts_of_files),
        tuple(bundles),
        tuple(statements),
        _layouts(policy, facts_of_files, evidence_dir(model)),
        model_digest,
        tuple(errors),
    )


@dataclass(frozen=True)
class _Scope:
    """What every step of one gathering reads."""

    model: Path
    policy: Policy
    trust: TrustSet
    ignore_paths: tuple[str, ...]  # sidecars, then --ignore
    allow_symlinks: bool
    workers: int | None
    progress: ProgressCallback | None

    def rel(self, path: Path) -> str | None:
        """`path` relative to a model folder, if inside it."""
        if not self.model.is_dir():
            return None
        try:
            return path.resolve().relative_to(self.model.resolve()).as_posix()
        except ValueError:
            return None

    def display(self, rel: str) -> str:
        """How a file is named in the evidence (a single-file model by its name)."""
        return self.model.name if rel == "." else rel


def problem(err: WeightguardError) -> Problem:
    """The evidence problem an error stands for (exit 3 errors are could-not-check)."""
    return Problem(reason_from_error(err), err.exit_code == ExitCode.INCOMPLETE)


def _inventory(scope: _Scope) -> tuple[Inventory | None, list[Problem]]:
    try:
        inv = enumerate_model(
            scope.model,
            ignore_paths=list(scope.ignore_paths),
            ignore_git_paths=not git_paths_are_model(scope.policy.unmatched_files),
            allow_symlinks=scope.allow_symlinks,
        )
    except UsageError:
        raise
    except WeightguardError as err:
        return None, [problem(err)]
    return inv, []


# -- bundles -------------------------------------------------------------------------
def _read(
    path: Path, origin: str
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


def _signature(
    scope: _Scope, facts: BundleFacts, bundle: Bundle, stmt: Statement
) -> tuple[BundleFacts, Manifest | None]:
    """The bundle as the policy's signers verify it, and its manifest when one did."""
    v = scope.trust.verify(bundle)
    facts = dataclasses.replace(
        facts, signers=v.signers, infos=v.infos, refusals=v.refusals, signing_keys=v.keys
    )
    if not v.signers:
        if v.incomplete and not any(c == "signature.invalid" for _, c in v.refusals):
            reason = Reason("signer.unavailable", f"could not check with {', '.join(v.incomplete)}")
            return dataclasses.replace(facts, error=Problem(reason, True)), None
        return facts, None
    try:
        manifest = manifest_from_statement(stmt)
    except WeightguardError as err:
        return dataclasses.replace(facts, signers=(), error=problem(err)), None
    version = stmt.predicate.get("weightguard_version")
    signed_at, verified_time = _signing_time(v, stmt)
    return dataclasses.replace(
        facts,
        root_digest=manifest.root_digest,
        version=None if version is None else str(version),
        signed_at=signed_at,
        time_verified=verified_time,
    ), manifest


def _check_key(scope: _Scope, manifest: Manifest, source: Path) -> _CheckKey:
    return (manifest.resources, manifest.empty_files, manifest.serialization, scope.rel(source))


def _check_manifests(
    scope: _Scope, manifests: Sequence[tuple[Manifest, Path]]
) -> tuple[dict[_CheckKey, ModelCheck | None], list[Problem]]:
    """Each distinct (manifest, bundle path) compared with the disk once, in order; a
    comparison that could not run is None (and one problem)."""
    from weightguard.check import check_model

    out: dict[_CheckKey, ModelCheck | None] = {}
    problems: list[Problem] = []
    for manifest, source in manifests:
        key = _check_key(scope, manifest, source)
        if key in out:
            continue
        try:
            out[key] = check_model(
                scope.model,
                manifest,
                signature_rel=scope.rel(source),
                ignore_paths=list(scope.ignore_paths),
                allow_symlinks=scope.allow_symlinks,
                allow_unsigned_files=True,
                workers=scope.workers,
                progress=scope.progress,
            )
        except UsageError:
            raise
        except WeightguardError as err:
            problems.append(problem(err))
            out[key] = None
    return out, problems


def _compare(
    scope: _Scope, manifest: Manifest, check: ModelCheck | None
) -> tuple[dict[str, str], tuple[Reason, ...], dict[str, str]]:
    """(file -> ok or difference code, the differences, file -> sha256 it vouches for)."""
    if check is None:
        return {}, (), {}
    ser = manifest.serialization
    files = {scope.display(r.path): "ok" for r in manifest.resources}
    files.update({scope.display(e): "ok" for e in manifest.empty_files or ()})
    differences = []
    for reason in check.reasons:
        if reason.code in _DIFFERENCES and reason.path is not None:
            shown = scope.display(reason.path)
            files[shown] = reason.code
            differences.append(dataclasses.replace(reason, path=shown))
    digests: dict[str, str] = {}
    if ser.method == "files" and ser.hash_type == "sha256":
        digests = {
            scope.display(r.path): r.digest
            for r in manifest.resources
            if files.get(scope.display(r.path)) == "ok"
        }
    return files, tuple(differences), digests


def _statement(
    scope: _Scope, facts: StatementFacts, bundle: Bundle, stmt: Statement
) -> StatementFacts:
    v = scope.trust.verify(bundle)
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


# -- files ---------------------------------------------------------------------------
def _files(
    scope: _Scope, inv: Inventory, signed_sha256: Mapping[str, str]
) -> tuple[list[FileFacts], list[Problem]]:
    """Every file's facts: format, sha256 (from a verified manifest that matched the
    disk, else hashed now) and local scans."""
    from weightguard.digest import HashTask, hash_tasks

    # The scanner's own detector, the one function every part of weightguard asks
    # (threat model, class 14): formats and scan decisions can never disagree with it.
    from weightguard.scan import detect_format

    out: list[FileFacts] = []
    need: list[HashTask] = []
    problems: list[Problem] = []
    for f in inv.files:
        shown = scope.display(f.rel)
        try:
            fmt, error = detect_format(f.abspath), None
        except OSError as exc:
            fmt, error = None, f"cannot read: {exc.strerror}"
        out.append(FileFacts(shown, f.state.size, fmt, signed_sha256.get(shown), error=error))
        if shown not in signed_sha256:
            need.append(HashTask(f.abspath, 0, None, f.state, shown))
    if need:
        try:
            digests = dict(
                zip(
                    (t.display for t in need),
                    hash_tasks(need, "sha256", workers=scope.workers, progress=scope.progress),
                )
            )
        except UsageError:
            raise
        except WeightguardError as err:
            problems.append(problem(err))
            digests = {}
        out = [dataclasses.replace(f, sha256=f.sha256 or digests.get(f.path)) for f in out]
    return _scan(scope, inv, out), problems


def _scan(scope: _Scope, inv: Inventory, files: list[FileFacts]) -> list[FileFacts]:
    """Scan each file once per distinct scanner setting of the rules that want it."""
    wanted: dict[str, tuple[ScanRequirement, list[int]]] = {}
    for index, f in enumerate(files):
        for rule in scope.policy.rules:
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
    abspaths = {scope.display(m.rel): m.abspath for m in inv.files}
    results: dict[int, dict[str, tuple[str, str]]] = {}
    for key, (req, indices) in wanted.items():
        for i, outcome in zip(indices, _run_scan(req, [abspaths[files[i].path] for i in indices])):
            results.setdefault(i, {})[key] = outcome
    return [
        dataclasses.replace(f, scans=results[i]) if i in results else f for i, f in enumerate(files)
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
    """Every bundle to read, once each, with where it came from: ``signature``
    (``--signature``, then ``model.sig``), ``evidence`` (the evidence folder) or
    ``attestation`` (``--attestation``)."""
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


def _layouts(
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
