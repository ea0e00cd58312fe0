"""Static pickle scanning: find what loading a model file would import and call, without loading it.

Public API:
- `scan(paths, *, profiles=..., allow=..., limits=...) -> ScanResult`: scan files and
  directories (walked recursively, ``.git`` skipped). Never raises for file content:
  unreadable or unparsable input is an `incomplete` finding, a scanner bug is recorded
  in `ScanResult.errors` (the CLI exits 4). Raises `UsageError` for unknown profiles,
  bad ``--allow`` entries and paths that do not exist.
- `detect_format(path) -> str`, `FORMATS` and `Limits`, from the shared pickle core
  (`weightguard.pickle`), which also holds the symbolic machine other tools (the
  converter) use; see docs/scanning.md. Also `weightguard.scan_path` at the top level.

This package never imports torch, numpy or joblib, and never unpickles.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import PurePosixPath

from weightguard.errors import UsageError
from weightguard.pickle.formats import FORMATS, detect_format
from weightguard.pickle.limits import Limits
from weightguard.scan.model import (
    FileResult,
    Finding,
    Outcome,
    Role,
    ScanResult,
    Severity,
)

__all__ = [
    "FORMATS",
    "FileResult",
    "Finding",
    "Limits",
    "Outcome",
    "Role",
    "ScanResult",
    "Severity",
    "detect_format",
    "scan",
]

PathLike = str | os.PathLike[str]


# pathlib's is_dir()/exists() treat these as "not there" and raise any other OSError.
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _display(path: str) -> str:
    """``str(pathlib.Path(path))``, without importing pathlib on every scan's start-up.

    Repeated separators and ``.`` parts are dropped, ``..`` is kept, a trailing separator
    goes, and an empty path is ``.`` (PurePosixPath parsing; other systems use pathlib).
    """
    if os.sep != "/":  # pragma: no cover - POSIX here; Windows parsing has drives
        from pathlib import Path

        return str(Path(path))
    root = "/" if path.startswith("/") else ""
    if path.startswith("//") and not path.startswith("///"):
        root = "//"  # POSIX keeps exactly two leading slashes
    return root + "/".join(p for p in path.split("/") if p and p != ".") or "."


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        raise
    except ValueError:  # an embedded NUL byte
        return None


def _excluded(rel: str, exclude: Sequence[str]) -> bool:
    # pathlib matching from the right: `*` never crosses `/`; a pattern without `/`
    # matches a name at any depth, `a/*.bin` any `.../a/x.bin`.
    path = PurePosixPath(rel)
    return any(path.match(glob) for glob in exclude)


def _walk(root: str, exclude: Sequence[str] = ()) -> Iterator[str]:
    # Sorted for stable reports; .git holds zlib objects that are not model files.
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames if d != ".git" and not _excluded(rel_dir + d, exclude)
        )
        for name in sorted(filenames):
            if not _excluded(rel_dir + name, exclude):
                yield _display(os.path.join(dirpath, name))


def _files(paths: Iterable[PathLike], exclude: Sequence[str] = ()) -> Iterator[str]:
    for raw in paths:
        path = _display(os.fspath(raw))
        st = _stat(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            yield from _walk(path, exclude)
        elif st is not None:
            if not _excluded(path.replace(os.sep, "/"), exclude):
                yield path
        else:
            raise UsageError(f"{raw}: no such file or directory", code="scan.no_such_path")


def scan(
    paths: PathLike | Iterable[PathLike],
    *,
    profiles: Iterable[str] | None = None,
    allow: Iterable[str] = (),
    limits: Limits | None = None,
    exclude: Iterable[str] = (),
) -> ScanResult:
    """Scan files and directories for code that loading them would run.

    Args:
        paths: one path or several; directories are walked recursively.
        profiles: allowlist profiles (default: ``torch`` and ``numpy``).
        allow: extra ``module.qualname`` (or ``module:qualname``) entries to trust.
        limits: budgets; defaults when None.
        exclude: globs of files or folders to leave out of directory walks and of the
            paths given (`*` never crosses `/`; a glob without `/` matches a name at any
            depth), e.g. ``*.md``, ``.cache``, ``onnx/*.onnx``.

    Returns:
        A `ScanResult` with one `FileResult` per file.

    Raises:
        UsageError: unknown profile, empty or malformed allow entry, missing path.
    """
    from weightguard.scan.allowlist import DEFAULT_PROFILES, Allowlist, user_entry
    from weightguard.scan.containers import Scanner
    from weightguard.scan.denylist import known_primitive

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    chosen = tuple(profiles) if profiles is not None else DEFAULT_PROFILES
    entries = []
    for spec in allow:
        name = spec.replace(":", ".", 1)
        if "." not in name.strip(".") or any(not part for part in name.split(".")):
            raise UsageError(f"--allow {spec!r}: expected module.qualname", code="scan.bad_allow")
        if known_primitive(name):
            raise UsageError(
                f"--allow {spec!r}: a known code-execution primitive cannot be allowlisted",
                code="scan.bad_allow",
            )
        entries.append(user_entry(spec))
    try:
        allowlist = Allowlist(chosen, entries)
    except KeyError as exc:
        raise UsageError(f"unknown profile {exc.args[0]!r}", code="scan.bad_profile") from None
    scanner = Scanner(allowlist, limits or Limits())
    results: list[FileResult] = []
    errors: list[str] = []
    globs = tuple(exclude)
    if any(not g or g.startswith("/") for g in globs):
        raise UsageError(
            "--exclude GLOB must be a non-empty relative glob", code="scan.bad_exclude"
        )
    for count, path in enumerate(_files(paths, globs)):
        if count >= scanner.limits.max_files:
            errors.append(f"more than {scanner.limits.max_files} files; scan stopped")
            break
        results.append(_scan_one(scanner, path, errors))
    return ScanResult(
        files=tuple(results),
        profiles=allowlist.profiles,
        allowed=tuple(e.qualname for e in entries),
        errors=tuple(errors),
    )


def _scan_one(scanner: object, path: str, errors: list[str]) -> FileResult:
    from weightguard.scan.containers import Scanner

    assert isinstance(scanner, Scanner)
    try:
        return scanner.scan_file(path)
    except OSError as exc:
        finding = Finding(
            "file.unreadable",
            Outcome.INCOMPLETE,
            Severity.MEDIUM,
            f"cannot read the file: {exc.strerror or exc}",
            file=path,
        )
        return FileResult(path, "unreadable", Outcome.INCOMPLETE, (finding,))
    except Exception as exc:  # a scanner bug: recorded, never clean (CLI exit 4)
        errors.append(f"{path}: {type(exc).__name__}: {exc}")
        finding = Finding(
            "internal.error",
            Outcome.INCOMPLETE,
            Severity.HIGH,
            f"internal error while scanning: {type(exc).__name__}",
            file=path,
        )
        return FileResult(path, "error", Outcome.INCOMPLETE, (finding,))
