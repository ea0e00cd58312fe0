"""Compare a signed manifest with the model on disk: every file, exactly.

Owns: choosing what to hash from the signed serialization (never from flags), hashing
only what the manifest names, and explaining every difference with a stable reason
code. Signature checks happen before this (in `weightguard.api`).
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from weightguard.digest import FileState, HashTask, ProgressCallback, hash_tasks
from weightguard.manifest import (
    GIT_PATHS,
    Inventory,
    Manifest,
    ModelFile,
    blob_mismatches,
    enumerate_model,
    link_target_allowed,
    manifest_tasks,
)
from weightguard.report import Reason


@dataclass(frozen=True)
class ModelCheck:
    """The outcome of comparing a manifest with the files on disk."""

    reasons: tuple[Reason, ...]
    files_checked: int
    bytes_hashed: int

    @property
    def ok(self) -> bool:
        """True when no error-severity reason was found."""
        return not any(r.severity == "error" for r in self.reasons)


def verification_ignores(
    manifest: Manifest, signature_rel: str | None, extra: Iterable[str]
) -> list[str]:
    """Ignore list for verification: the signed `ignore_paths` (git paths for bundles
    that predate recording them, oms-format.md 2.9), the signature file, user extras."""
    ser = manifest.serialization
    recorded = list(ser.ignore_paths)
    if not ser.ignore_paths_recorded and ser.method == "files" and manifest.model_name:
        recorded = list(GIT_PATHS)
    if signature_rel:
        recorded.append(signature_rel)
    recorded.extend(extra)
    return list(dict.fromkeys(recorded))


def _signed_file_outside_inventory(
    inv: Inventory, rel: str, allow_symlinks: bool
) -> ModelFile | None:
    # A signed file can never be ignored away (1.1.1: "cannot ignore a signed file").
    # It must still be a regular file (a symlink only if allowed) inside the model root:
    # an ignored directory may be a symlink the listing never looked at.
    # No parent directory may be a symlink either (the link would decide what is read
    # under a signed name, and what else sits beside it goes unlisted).
    path = inv.root / rel
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) and allow_symlinks:
            st = os.stat(path)
        real, real_root = os.path.realpath(path), os.path.realpath(inv.root)
        parent = os.path.dirname(rel)
        real_parent = os.path.realpath(inv.root / parent)
    except OSError:
        return None  # reported as missing
    if real_parent != (os.path.join(real_root, *parent.split("/")) if parent else real_root):
        return None
    if not stat.S_ISREG(st.st_mode) or not link_target_allowed(real_root, real, allow_symlinks):
        return None
    return ModelFile(rel, real, FileState.of(st))


def check_model(
    model_path: str | os.PathLike[str],
    manifest: Manifest,
    *,
    signature_rel: str | None = None,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    allow_unsigned_files: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> ModelCheck:
    """Hash the model with the manifest's own parameters and compare, file by file.

    Raises:
        RejectedError: refused content while listing (symlink, special file, bad name).
        ModelReadError / ModelChangedError: a file could not be read consistently.
    """
    ser = manifest.serialization
    allow_links = allow_symlinks or ser.allow_symlinks
    single = Path(model_path).is_file()
    inv = enumerate_model(
        model_path,
        ignore_paths=() if single else verification_ignores(manifest, signature_rel, ignore_paths),
        ignore_git_paths=False,
        allow_symlinks=allow_links,
    )
    if single:
        return _compare(inv, manifest, allow_unsigned_files, workers, progress)
    by_rel = inv.by_rel()
    for res in manifest.resources:
        if res.path not in by_rel:
            extra_file = _signed_file_outside_inventory(inv, res.path, allow_links)
            if extra_file is not None:
                by_rel[res.path] = extra_file
    inv = Inventory(
        inv.root, inv.is_file, tuple(by_rel.values()), inv.ignore_paths, inv.symlinks, inv.hf_blobs
    )
    return _with_blob_check(
        inv, manifest, _compare(inv, manifest, allow_unsigned_files, workers, progress)
    )


def _with_blob_check(inv: Inventory, manifest: Manifest, check: ModelCheck) -> ModelCheck:
    """Add a reason for each Hugging Face blob whose name contradicts its content."""
    if not inv.hf_blobs:
        return check
    ser = manifest.serialization
    known: dict[str, str] = {}
    if (ser.method, ser.hash_type) == ("files", "sha256"):
        # A file that matched its signed digest has exactly that SHA-256: no second read.
        differs = {r.path for r in check.reasons if r.code == "file.digest_mismatch"}
        known = {r.name: r.digest for r in manifest.resources if r.name not in differs}
    extra = [
        Reason(
            "model.hf_blob_mismatch",
            f"Hugging Face blob name does not match its content ({blob.algorithm})",
            blob.rel,
            expected=blob.expected,
            actual=actual,
        )
        for blob, actual in blob_mismatches(inv, known)
    ]
    return ModelCheck((*check.reasons, *extra), check.files_checked, check.bytes_hashed)


def _compare(
    inv: Inventory,
    manifest: Manifest,
    allow_unsigned: bool,
    workers: int | None,
    progress: ProgressCallback | None,
) -> ModelCheck:
    ser = manifest.serialization
    reasons: list[Reason] = []
    expected: dict[str, dict[str, str]] = defaultdict(dict)  # path -> resource name -> digest
    for res in manifest.resources:
        path, name = res.path, res.name
        if inv.is_file:
            # Single-file bundles name the file "." (1.1.1) or by its basename (spec).
            if path not in (".", inv.root.name):
                reasons.append(Reason("file.missing", "signed file is not the model file", path))
                continue
            name = "." + name[len(path) :]
            path = "."
        expected[path][name] = res.digest
    on_disk = inv.by_rel()
    empty_signed = set(manifest.empty_files or ())
    for rel in sorted(set(expected) - set(on_disk)):
        reasons.append(Reason("file.missing", "signed file is missing from the model", rel))
    for rel in sorted(empty_signed - set(on_disk)):
        reasons.append(Reason("file.missing", "signed empty file is missing from the model", rel))
    for rel, f in sorted(on_disk.items()):
        if rel in expected or rel in empty_signed:
            continue
        if ser.method == "shards" and f.state.size == 0 and manifest.empty_files is None:
            reasons.append(
                Reason(
                    "shards.empty_file_unsigned",
                    "empty file present; shards-mode manifests from other tools cannot cover it",
                    rel,
                    severity="warning",
                )
            )
            continue
        severity = "warning" if allow_unsigned else "error"
        reasons.append(
            Reason("file.unsigned", "file is not in the signed manifest", rel, severity=severity)
        )
    for rel in sorted(empty_signed & set(on_disk)):
        if on_disk[rel].state.size != 0:
            reasons.append(
                Reason(
                    "file.size_mismatch",
                    "signed as empty but now has content",
                    rel,
                    expected="0",
                    actual=str(on_disk[rel].state.size),
                )
            )
    # Build the hash tasks for the present, signed files.
    names: list[tuple[str, str]] = []  # (rel, resource name)
    tasks: list[HashTask] = []
    for rel, f in sorted(on_disk.items()):
        if rel not in expected:
            continue
        sub = Inventory(inv.root, inv.is_file, (f,), ())
        pairs = manifest_tasks(sub, method=ser.method, shard_size=ser.shard_size)
        want = expected[rel]
        if {n for n, _ in pairs} != set(want):
            reasons.append(
                Reason(
                    "file.size_mismatch",
                    "file size differs from the signed shards",
                    rel,
                    expected=str(max((int(n.rsplit(":", 1)[1]) for n in want), default=0)),
                    actual=str(f.state.size),
                )
            )
            continue
        for name, task in pairs:
            names.append((rel, name))
            tasks.append(task)
    digests = hash_tasks(tasks, ser.hash_type, workers=workers, progress=progress)
    mismatched: set[str] = set()
    for (rel, name), actual in zip(names, digests):
        want_digest = expected[rel][name]
        if actual != want_digest and rel not in mismatched:
            mismatched.add(rel)
            where = (
                f" (shard {name.rsplit(':', 2)[1]}-{name.rsplit(':', 1)[1]})"
                if (ser.method == "shards")
                else ""
            )
            reasons.append(
                Reason(
                    "file.digest_mismatch",
                    f"content differs from the signed digest{where}",
                    rel,
                    expected=want_digest,
                    actual=actual,
                )
            )
    hashed = sum((t.end or 0) - t.start for t in tasks)
    return ModelCheck(tuple(reasons), len({r for r, _ in names}), hashed)
