"""Atomic file writes: a temp file beside the target, fsync, then rename.

A crash or a refused write never leaves a partial file at the target path.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from weightguard.errors import ModelReadError, UsageError


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically.

    Raises:
        UsageError: the target's folder does not exist (``output.dir_missing``).
        ModelReadError: the directory is not writable or the disk is full.
    """
    target = Path(path)
    try:
        st = os.stat(target)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # A device or FIFO (`/dev/stdout`, `/dev/null`): renaming a temp file over it would
        # replace the device node itself, so write straight into it instead.
        try:
            with open(target, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise ModelReadError(
                f"cannot write: {exc.strerror}", path=str(target), code="output.unwritable"
            ) from exc
        return
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except (FileNotFoundError, NotADirectoryError) as exc:
        # The user named a folder that is not there: a usage error with its fix (exit 2),
        # not "incomplete" (exit 3).
        raise UsageError(
            "the output folder does not exist",
            path=str(target),
            code="output.dir_missing",
            hint=f"create {directory} first",
        ) from exc
    except OSError as exc:
        raise ModelReadError(
            f"cannot write: {exc.strerror}", path=str(target), code="output.unwritable"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ModelReadError(
            f"cannot write: {exc.strerror}", path=str(target), code="output.unwritable"
        ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
