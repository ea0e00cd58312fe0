"""Hugging Face hub cache snapshots: which symlink targets a snapshot may use.

Owns: recognising a snapshot folder (`<cache>/models--org--name/snapshots/<rev>/`, the
layout `huggingface_hub` writes; also `datasets--` and `spaces--`), deciding whether a
symlink target is one of that repo's own blobs, and checking a blob's name against its
content (the hub names LFS blobs by their SHA-256 and other files by their git blob SHA-1).

Why a snapshot is special: every file in it is a symlink to `../../blobs/<hash>`, outside
the snapshot, so the usual "targets stay inside the model root" rule refuses it. Only with
symlinks allowed, and only when the model root *is* such a snapshot (by its real path),
targets are allowed that are a plain `blobs/<hex>` file of the same repo folder. Nothing
else outside the snapshot (another repo, a sibling snapshot, `refs/`, the cache root) is.
The signature still covers content under the snapshot's own names, exactly as
model-signing `--allow_symlinks` hashes it, so both tools agree on the root digest.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

_REPO_DIR = re.compile(r"(models|datasets|spaces)--[^/]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")
_CHUNK = 1 << 20


def snapshot_repo(real_root: str) -> str | None:
    """The `models--org--name` folder if `real_root` (a resolved path) is one of its
    snapshots, else None."""
    snapshots, rev = os.path.split(real_root)
    repo, middle = os.path.split(snapshots)
    if middle != "snapshots" or not rev or rev in (".", ".."):
        return None
    if not _REPO_DIR.fullmatch(os.path.basename(repo)):
        return None
    return repo


def is_repo_blob(repo: str, real_target: str) -> bool:
    """True when `real_target` (resolved) is `repo/blobs/<hex name>` itself."""
    parent, name = os.path.split(real_target)
    if parent != os.path.join(repo, "blobs"):
        return False
    return bool(_SHA256.fullmatch(name) or _SHA1.fullmatch(name))


@dataclass(frozen=True)
class BlobName:
    """What a blob's file name promises about its content."""

    rel: str  # the snapshot name (model-relative) that links to the blob
    algorithm: str  # "sha256" (LFS) or "git-sha1" (a plain git blob)
    expected: str  # lowercase hex


def blob_name(rel: str, real_target: str) -> BlobName:
    """The content claim a blob's name makes (call only for `is_repo_blob` targets)."""
    name = os.path.basename(real_target)
    return BlobName(rel, "sha256" if len(name) == 64 else "git-sha1", name)


def content_hash(path: str, algorithm: str) -> str:
    """SHA-256, or git's blob SHA-1 (`blob <size>\\0` + content), of a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        size = os.fstat(fd).st_size
        hasher = hashlib.sha256() if algorithm == "sha256" else hashlib.sha1(usedforsecurity=False)
        if algorithm != "sha256":
            hasher.update(b"blob %d\x00" % size)
        while chunk := os.read(fd, _CHUNK):
            hasher.update(chunk)
    finally:
        os.close(fd)
    return hasher.hexdigest()
