"""The model manifest: which files make up a model, and their digests, in OMS form.

Owns: enumerating a model directory or file by the OMS rules (oms-format.md 2.7), the
resource list in `files` or `shards` serialization (2.5, 2.6), resource order and the
root digest exactly as model-signing 1.1.1 computes them, and comparing an expected
manifest with the files on disk. It does no cryptography and knows no bundle format.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from weightguard.digest import (
    DIGEST_SIZES,
    FileState,
    HashTask,
    ProgressCallback,
    canonical_algorithm,
    hash_tasks,
)
from weightguard.errors import ModelReadError, RejectedError, UsageError
from weightguard.hfcache import BlobName, blob_name, content_hash, is_repo_blob, snapshot_repo

# OMS 2.7 rule 2: git metadata at the model root is not part of the model.
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
DEFAULT_SHARD_SIZE = 1_000_000_000  # model-signing's default (PR #356/#357)


@dataclass(frozen=True)
class Resource:
    """One manifest entry: a file (files mode) or a byte range of one (shards mode)."""

    name: str
    algorithm: str
    digest: str  # lowercase hex

    @property
    def path(self) -> str:
        """The model-relative file path (shard names parsed from the right, spec 2.10)."""
        return parse_shard_name(self.name)[0] if "-sharded-" in self.algorithm else self.name


@dataclass(frozen=True)
class Serialization:
    """How the manifest was computed (`predicate.serialization`)."""

    method: str  # "files" | "shards"
    hash_type: str
    allow_symlinks: bool = False
    shard_size: int | None = None
    ignore_paths: tuple[str, ...] = ()
    # False only for bundles without an `ignore_paths` key (before 1.1, or 1.1.1 when
    # nothing was ignored): verifiers then ignore the root git paths (2.9).
    ignore_paths_recorded: bool = True


@dataclass(frozen=True)
class Manifest:
    """An ordered resource list plus the parameters that produced it."""

    model_name: str
    resources: tuple[Resource, ...]
    serialization: Serialization
    # Shards mode gives empty files no resource (oms-format.md 2.5). weightguard records
    # them (possibly none) so adding one is caught; None: not recorded (other producers).
    empty_files: tuple[str, ...] | None = None

    @property
    def root_digest(self) -> str:
        """OMS root digest: SHA-256 over the raw resource digests, in listed order (2.4)."""
        return root_digest(self.resources)


def root_digest(resources: Iterable[Resource]) -> str:
    """SHA-256 of the concatenated raw digest bytes, in the order given."""
    outer = hashlib.sha256()
    for res in resources:
        outer.update(bytes.fromhex(res.digest))
    return outer.hexdigest()


_OFFSET = re.compile(r"0|[1-9][0-9]{0,18}")


def parse_shard_name(name: str) -> tuple[str, int, int]:
    """Split ``path:start:end`` from the right, so paths may contain ``:``."""
    path, sep1, rest = name.rpartition(":")
    path, sep2, start_s = path.rpartition(":")
    # Canonical ASCII offsets only: `isdigit()` and `int()` also take other Unicode digits
    # ("١٠") and leading zeros, so two names could denote one shard, and a 5000-digit
    # offset makes `int()` raise ValueError.
    if not (sep1 and sep2 and path and _OFFSET.fullmatch(start_s) and _OFFSET.fullmatch(rest)):
        raise RejectedError(f"malformed shard name {name!r}", code="manifest.bad_name")
    start, end = int(start_s), int(rest)
    if end < start:
        raise RejectedError(
            f"shard range ends before it starts: {name!r}", code="manifest.bad_name"
        )
    return path, start, end


def sort_key(rel: str) -> tuple[str, ...]:
    """model-signing 1.1.1 order: PurePosixPath ordering, i.e. by component list (2.5)."""
    return PurePosixPath(rel).parts


def validate_relative_name(name: str) -> None:
    """Refuse names that could escape the model root or mean different files elsewhere."""
    bad = (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in name.split("/"))
    )
    if bad:
        raise RejectedError(f"unsafe resource name {name!r}", code="manifest.unsafe_name")


@dataclass(frozen=True)
class ModelFile:
    """A regular file found in the model, with the stat we hash against."""

    rel: str  # POSIX, relative to the root; "." for a single-file model
    abspath: str
    state: FileState


@dataclass(frozen=True)
class Inventory:
    """The files of a model as found on disk."""

    root: Path
    is_file: bool
    files: tuple[ModelFile, ...]
    ignore_paths: tuple[str, ...]  # what was ignored (model-relative), to record
    symlinks: tuple[str, ...] = field(default=())  # symlinked files hashed (allow_symlinks)
    # Files that are links to a Hugging Face cache blob, whose name claims their content.
    hf_blobs: tuple[BlobName, ...] = field(default=())

    @property
    def model_name(self) -> str:
        """OMS subject name: last component of the model path."""
        return self.root.name

    def by_rel(self) -> dict[str, ModelFile]:
        """Map of relative name to file."""
        return {f.rel: f for f in self.files}


def _is_ignored(rel_parts: tuple[str, ...], ignores: Sequence[tuple[str, ...]]) -> bool:
    return any(rel_parts[: len(ig)] == ig for ig in ignores)


def _decode_name(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedError(
            f"file name is not valid UTF-8: {raw!r}", path=where, code="model.non_utf8_name"
        ) from None


def enumerate_model(
    model_path: str | os.PathLike[str],
    *,
    ignore_paths: Iterable[str] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
) -> Inventory:
    """List the regular files of a model by the OMS rules (oms-format.md 2.7).

    Args:
        model_path: a directory or a single regular file.
        ignore_paths: paths relative to the model root, matched by whole components.
        ignore_git_paths: ignore `.git`, `.gitattributes`, `.github`, `.gitignore` at the root.
        allow_symlinks: hash symlinked files under the link's name (targets must stay
            inside the model root, or be a blob of the same repo when the root is a
            Hugging Face cache snapshot, see `weightguard.hfcache`). A symlinked
            directory is refused (`model.symlink_dir`): OMS skips it silently, which
            would leave content reachable under the model's names unsigned.

    Raises:
        UsageError: the path does not exist or is not a file/directory.
        ModelReadError: unreadable directory, special file, non-UTF-8 name, refused symlink.
    """
    root = Path(os.fspath(model_path))
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        raise UsageError(
            "model path does not exist", path=str(root), code="model.missing"
        ) from None
    except OSError as exc:
        raise ModelReadError(f"cannot stat: {exc.strerror}", path=str(root)) from exc
    if stat.S_ISLNK(st.st_mode) and not allow_symlinks:
        raise RejectedError("model path is a symlink", path=str(root), code="model.symlink")
    if stat.S_ISLNK(st.st_mode):
        st = os.stat(root)
    if stat.S_ISREG(st.st_mode):
        return Inventory(
            root=root,
            is_file=True,
            files=(ModelFile(".", str(root), FileState.of(st)),),
            ignore_paths=GIT_PATHS if ignore_git_paths else (),
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError("model path is neither a file nor a directory", path=str(root))

    user_ignores = [_normalise_ignore(p) for p in ignore_paths]
    ignores: list[tuple[str, ...]] = [PurePosixPath(p).parts for p in user_ignores]
    recorded = list(dict.fromkeys(user_ignores))
    if ignore_git_paths:
        ignores.extend((g,) for g in GIT_PATHS)
        recorded.extend(g for g in GIT_PATHS if g not in recorded)

    files: list[ModelFile] = []
    symlinks: list[str] = []
    blobs: list[BlobName] = []
    real_root = os.path.realpath(root)
    hf_repo = snapshot_repo(real_root) if allow_symlinks else None
    stack: list[tuple[bytes, tuple[str, ...]]] = [(os.fsencode(root), ())]
    while stack:
        dir_bytes, dir_parts = stack.pop()
        try:
            entries = list(os.scandir(dir_bytes))
        except OSError as exc:
            where = "/".join(dir_parts) or str(root)
            raise ModelReadError(f"cannot list directory: {exc.strerror}", path=where) from exc
        for entry in entries:
            name = _decode_name(entry.name, "/".join((*dir_parts, repr(entry.name))))
            parts = (*dir_parts, name)
            rel = "/".join(parts)
            if _is_ignored(parts, ignores):
                continue  # ignores are applied before the symlink check (upstream #550)
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError as exc:  # e.g. deleted between listing and stat: fail closed
                raise ModelReadError(f"cannot stat: {exc.strerror}", path=rel) from exc
            if stat.S_ISLNK(est.st_mode):
                if not allow_symlinks:
                    raise RejectedError(
                        "is a symlink; symlinks are refused unless allowed",
                        path=rel,
                        code="model.symlink",
                    )
                target = os.fsdecode(os.path.realpath(entry.path))
                blob = hf_repo is not None and is_repo_blob(hf_repo, target)
                if not blob and os.path.commonpath([real_root, target]) != real_root:
                    raise RejectedError(
                        "symlink points outside the model root",
                        path=rel,
                        code="model.symlink_escape",
                    )
                try:
                    est = os.stat(entry.path)
                except OSError as exc:
                    raise ModelReadError(f"dangling symlink: {exc.strerror}", path=rel) from exc
                if stat.S_ISDIR(est.st_mode):
                    # Stricter than OMS (which skips it): whatever a loader finds under
                    # the link's name would be covered by no signature.
                    raise RejectedError(
                        "is a symlink to a directory; only symlinked files are allowed",
                        path=rel,
                        code="model.symlink_dir",
                    )
                if blob:
                    blobs.append(blob_name(rel, target))
                symlinks.append(rel)
                abspath = target
            elif stat.S_ISDIR(est.st_mode):
                stack.append((entry.path, parts))
                continue
            else:
                abspath = os.fsdecode(entry.path)
            if not stat.S_ISREG(est.st_mode):
                raise RejectedError(
                    "is a special file (FIFO, socket or device)",
                    path=rel,
                    code="model.special_file",
                )
            files.append(ModelFile(rel, abspath, FileState.of(est)))
    files.sort(key=lambda f: sort_key(f.rel))
    return Inventory(
        root=root,
        is_file=False,
        files=tuple(files),
        ignore_paths=tuple(recorded),
        symlinks=tuple(symlinks),
        hf_blobs=tuple(blobs),
    )


def link_target_allowed(real_root: str, real_target: str, allow_symlinks: bool) -> bool:
    """Whether a resolved symlink target may be hashed for a model whose resolved root
    is `real_root`: inside the root, or a same-repo blob of a Hugging Face snapshot."""
    if os.path.commonpath([real_root, real_target]) == real_root:
        return True
    repo = snapshot_repo(real_root) if allow_symlinks else None
    return repo is not None and is_repo_blob(repo, real_target)


def blob_mismatches(
    inventory: Inventory, known_sha256: dict[str, str]
) -> list[tuple[BlobName, str]]:
    """Hugging Face blobs whose content does not match their name, with the actual hash.

    `known_sha256` maps model-relative names to content SHA-256 already computed (files
    mode, sha256), so LFS blobs are not read twice; anything else is hashed here.
    """
    by_rel = inventory.by_rel()
    out: list[tuple[BlobName, str]] = []
    for blob in inventory.hf_blobs:
        f = by_rel.get(blob.rel)
        if f is None:
            continue
        actual = known_sha256.get(blob.rel) if blob.algorithm == "sha256" else None
        if actual is None:
            try:
                actual = content_hash(f.abspath, blob.algorithm)
            except OSError as exc:
                raise ModelReadError(f"cannot read blob: {exc.strerror}", path=blob.rel) from exc
        if actual != blob.expected:
            out.append((blob, actual))
    return out


def _normalise_ignore(path: str) -> str:
    pure = PurePosixPath(path.replace(os.sep, "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or str(pure) == ".":
        raise UsageError(
            f"ignore path must be relative to the model root and inside it: {path!r}",
            code="usage.bad_ignore_path",
        )
    return str(pure)


def manifest_tasks(
    inventory: Inventory, *, method: str, shard_size: int | None
) -> list[tuple[str, HashTask]]:
    """The (resource name, hash task) list for an inventory, in OMS order."""
    out: list[tuple[str, HashTask]] = []
    for f in inventory.files:
        if method == "files":
            out.append((f.rel, HashTask(f.abspath, 0, f.state.size, f.state, f.rel)))
            continue
        assert shard_size is not None
        for start in range(0, f.state.size, shard_size):
            end = min(start + shard_size, f.state.size)
            out.append((f"{f.rel}:{start}:{end}", HashTask(f.abspath, start, end, f.state, f.rel)))
    return out


def build_manifest(
    inventory: Inventory,
    *,
    hash_type: str = "sha256",
    method: str = "files",
    shard_size: int | None = None,
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> Manifest:
    """Hash an inventory into a manifest (1.1.1 resource names, order and algorithms).

    Raises:
        RejectedError: an empty model (OMS v1.0 requires at least one file).
        ModelReadError / ModelChangedError: from hashing.
    """
    hash_type = canonical_algorithm(hash_type)
    if method not in ("files", "shards"):
        raise UsageError(f"unknown serialization method {method!r}")
    if method == "shards":
        shard_size = shard_size or DEFAULT_SHARD_SIZE
        if shard_size <= 0:
            raise UsageError("shard size must be positive")
    if not inventory.files:
        raise RejectedError(
            "the model has no files to sign", path=str(inventory.root), code="manifest.empty"
        )
    pairs = manifest_tasks(inventory, method=method, shard_size=shard_size)
    digests = hash_tasks([t for _, t in pairs], hash_type, workers=workers, progress=progress)
    algorithm = hash_type if method == "files" else f"{hash_type}-sharded-{shard_size}"
    resources = tuple(Resource(name, algorithm, d) for (name, _), d in zip(pairs, digests))
    empty = (
        tuple(f.rel for f in inventory.files if f.state.size == 0) if method == "shards" else None
    )
    known = (
        {r.name: r.digest for r in resources} if (method, hash_type) == ("files", "sha256") else {}
    )
    for blob, actual in blob_mismatches(inventory, known):
        raise RejectedError(
            f"Hugging Face blob {blob.expected} holds content with {blob.algorithm} {actual}",
            path=blob.rel,
            code="model.hf_blob_mismatch",
        )
    return Manifest(
        model_name=inventory.model_name,
        resources=resources,
        serialization=Serialization(
            method=method,
            hash_type=hash_type,
            allow_symlinks=allow_symlinks,
            shard_size=shard_size if method == "shards" else None,
            ignore_paths=inventory.ignore_paths,
        ),
        empty_files=empty,
    )


def expected_digest_size(algorithm: str) -> int:
    """Digest byte length for a resource algorithm (plain or ``<hash>-sharded-<N>``)."""
    base = algorithm.split("-sharded-")[0]
    return DIGEST_SIZES[canonical_algorithm(base)]


ProgressFactory = Callable[[int], ProgressCallback | None]
