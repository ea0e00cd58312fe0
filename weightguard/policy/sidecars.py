"""Which paths inside a model directory are signatures and evidence, not model content.

Owns the one rule (threat model, class 2): `MODEL/model.sig` is left out of the model
only when it is a regular file and `MODEL/model.sig.d/` only when it is a real folder,
both at exactly that path (no symlink anywhere on the way). A `--signature` or
`--attestation` path inside the model removes something from what the policy checks,
so it is a loosening flag: refused unless the policy says `allowOverrides: true`, and
even then only the exact regular file named is left out, never a folder and never a
path reached through a symlink. Anything else stays model content and is judged like
every other file (a symlink there is refused unless symlinks are allowed).

Plain (non-policy) `verify` keeps the OMS behaviour (`weightguard.api.signature_ignores`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from weightguard.api import SIGNATURE_NAME
from weightguard.errors import UsageError

EVIDENCE_NAME = SIGNATURE_NAME + ".d"


@dataclass(frozen=True)
class Sidecars:
    """Model-relative paths to leave out, and the loosening flags that asked for some."""

    paths: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


def _exact(root_real: str, rel: str, *, folder: bool) -> bool:
    """`rel` is a regular file (or a real folder) at exactly that path under the root."""
    path = os.path.join(root_real, *rel.split("/"))
    try:
        st = os.lstat(path)
    except OSError:
        return False
    kind_ok = stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)
    # realpath == path: no component on the way (a parent folder) is a symlink either.
    return kind_ok and os.path.realpath(path) == path


def _lexical_rel(model: Path, path: Path) -> str | None:
    """`path` relative to the model, by its spelling (after making it absolute), or None."""
    target = os.path.abspath(path)
    for base in (os.path.abspath(model), os.path.realpath(model)):
        if os.path.commonpath([base, target]) == base:
            rel = os.path.relpath(target, base)
            return "." if rel == "." else Path(rel).as_posix()
    return None


def _lands_inside(model: Path, path: Path) -> bool:
    real_root = os.path.realpath(model)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def sidecars(
    model: Path,
    signatures: Sequence[Path],
    attestations: Sequence[Path],
    *,
    allow_overrides: bool,
    policy_name: str,
    policy_path: str | None,
) -> Sidecars:
    """The sidecar paths to leave out of `model` (a directory; a single-file model's
    sidecars sit beside it and are never part of it).

    Raises:
        UsageError: (exit 2, ``policy.override_refused``) a flag names a file inside the
            model and the policy does not allow overrides.
    """
    if not model.is_dir():
        return Sidecars()
    root_real = os.path.realpath(model)
    paths: list[str] = []
    if _exact(root_real, SIGNATURE_NAME, folder=False):
        paths.append(SIGNATURE_NAME)
    if _exact(root_real, EVIDENCE_NAME, folder=True):
        paths.append(EVIDENCE_NAME)
    flags: list[str] = []
    named = [("--signature", p) for p in signatures] + [("--attestation", p) for p in attestations]
    for flag, given in named:
        rel = _lexical_rel(model, given)
        if rel is None or rel == "." or any(rel == p or rel.startswith(p + "/") for p in paths):
            continue  # outside the model, the model itself, or already a documented sidecar
        if not _lands_inside(model, given) or not _exact(root_real, rel, folder=False):
            continue  # a folder, or reached through a symlink: it stays model content
        if rel not in paths:
            paths.append(rel)
            flags.append(f"{flag} {rel}")
    if flags and not allow_overrides:
        raise UsageError(
            f"{', '.join(flags)} would leave model content out of policy {policy_name!r}, "
            "which does not allow overrides (spec.allowOverrides: false); keep signatures "
            "and attestations outside the model or in model.sig.d/",
            path=policy_path,
            code="policy.override_refused",
        )
    return Sidecars(tuple(paths), tuple(flags))


def git_paths_are_model(unmatched_files: str) -> bool:
    """Whether the root `.git*` paths are model files under a policy (class 10).

    OMS leaves `.git`, `.gitattributes`, `.github` and `.gitignore` at the root out of a
    model, and plain `verify` keeps that. A policy that denies unmatched files promises
    that every file is judged, so there they are files like any other: a rule must name
    them (for example with `signatures: none`) to let them through.
    """
    return unmatched_files == "deny"
