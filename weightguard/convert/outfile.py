"""A streamed output file that appears at its path only once it is complete and checked.

`weightguard.fileio.write_atomic` takes the whole content as bytes; a conversion streams
gigabytes, so it needs the same guarantee for a file written piece by piece. On Linux the
file is created unnamed in the target directory (``O_TMPFILE``, open(2)): a conversion
that is killed, even with SIGKILL, leaves nothing behind. `commit` gives it its name with
``linkat(AT_SYMLINK_FOLLOW)`` on ``/proc/self/fd/N``, which fails if the name exists (no
overwrite, no race), or, with ``force``, links a temporary name and renames it over the
old file. Elsewhere a hidden temporary file beside the target is used, removed on every
error path Python sees.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from weightguard.errors import ModelReadError, UsageError

_MODE = 0o644


def _unwritable(target: Path, exc: OSError) -> ModelReadError:
    return ModelReadError(
        f"cannot write: {exc.strerror or exc}", path=str(target), code="output.unwritable"
    )


class PendingFile:
    """An output being written: `commit` publishes it, `close` always runs (and drops it
    unless it was published).

    Attributes:
        target: the final path.
        fd: a read-write descriptor of the (still unnamed or hidden) file.
        read_path: a path that opens the same file for reading (for verification).
    """

    def __init__(self, target: Path, *, force: bool) -> None:
        self.target = target
        self.force = force
        self.directory = target.parent if str(target.parent) else Path(".")
        self._named: str | None = None
        self._published = False
        try:
            self._dir_fd = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            raise _unwritable(target, exc) from exc
        try:
            self.fd = self._open()
        except OSError as exc:
            os.close(self._dir_fd)
            raise _unwritable(target, exc) from exc
        self.read_path = f"/proc/self/fd/{self.fd}" if self._named is None else self._named

    def _open(self) -> int:
        tmpfile = getattr(os, "O_TMPFILE", 0)
        if tmpfile and os.path.isdir("/proc/self/fd"):
            try:
                return os.open(self.directory, tmpfile | os.O_RDWR | os.O_CLOEXEC, _MODE)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    raise
        fd, name = tempfile.mkstemp(
            prefix=f".{self.target.name}.", suffix=".tmp", dir=self.directory
        )
        self._named = name
        os.fchmod(fd, _MODE & ~_umask())
        return fd

    def commit(self) -> None:
        """fsync and publish the file at `target`.

        Raises:
            UsageError: the target exists and `force` is off (``output.exists``).
            ModelReadError: the file cannot be published.
        """
        try:
            os.fsync(self.fd)
            if self._named is None:
                self._link_unnamed()
            elif self.force:
                os.replace(self._named, self.target)
            else:
                os.link(self._named, self.target)
                os.unlink(self._named)
            self._named = None
            self._published = True
            with contextlib.suppress(OSError):
                os.fsync(self._dir_fd)
        except FileExistsError:
            raise UsageError(
                "the output exists (use --force to replace it)",
                code="output.exists",
                path=str(self.target),
            ) from None
        except OSError as exc:
            raise _unwritable(self.target, exc) from exc

    def _link_unnamed(self) -> None:
        source = f"/proc/self/fd/{self.fd}"

        def link(name: str) -> None:
            # Explicit dir fds make CPython call linkat(AT_SYMLINK_FOLLOW); plain link()
            # would try to hard-link the /proc symlink itself (EXDEV).
            os.link(
                source,
                name,
                src_dir_fd=self._dir_fd,
                dst_dir_fd=self._dir_fd,
                follow_symlinks=True,
            )

        if not self.force:
            link(self.target.name)
            return
        fd, staging = tempfile.mkstemp(
            prefix=f".{self.target.name}.", suffix=".tmp", dir=self.directory
        )
        os.close(fd)
        os.unlink(staging)
        link(Path(staging).name)
        try:
            os.replace(staging, self.target)
        except OSError:
            Path(staging).unlink(missing_ok=True)
            raise

    def unpublish(self) -> None:
        """Remove the published file (rolls back a multi-file conversion)."""
        if self._published:
            Path(self.target).unlink(missing_ok=True)
            self._published = False

    def close(self) -> None:
        """Close descriptors; drop the file unless it was published."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(OSError):
            os.close(self._dir_fd)
        if self._named is not None:
            Path(self._named).unlink(missing_ok=True)
            self._named = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
