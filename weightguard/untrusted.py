"""Reading attacker-controlled input files: regular files only, never blocking, capped.

Owns: `read_regular`, the one way weightguard reads a bundle, sidecar, policy, key,
certificate or trust file. Anyone who can write to the model volume can put a FIFO
where `model.sig` belongs (a plain `open()` then blocks forever: the gate hangs), a
symlink to `/dev/zero` (reading never ends), or a multi-gigabyte "bundle" (memory).
So the file is opened with O_NONBLOCK (opening a FIFO returns at once), checked with
`fstat` on the open descriptor (no check-then-open race) to be a regular file, and
read up to a size cap. Failures are `OSError`s with a readable `strerror`, so every
caller's existing "cannot read" handling names the file and gives its reason code.
This module imports nothing else from weightguard.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MIB = 1024 * 1024
# A signature bundle lists one digest per file (~200 bytes of base64 JSON each): 64 MiB
# holds ~300k files. Attestations and sidecars share the cap.
MAX_BUNDLE_BYTES = 64 * MIB
# Policies, keys, certificates, trusted roots, layouts: small documents.
MAX_CONFIG_BYTES = 16 * MIB

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((word for test, word in _KINDS if test(mode)), "not a regular file")


def read_regular(
    path: str | os.PathLike[str], *, limit: int = MAX_CONFIG_BYTES, follow_symlinks: bool = True
) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them.

    Raises:
        FileNotFoundError, PermissionError, ...: as `open` does.
        IsADirectoryError: `path` is a directory.
        OSError: (EINVAL) a FIFO, device or socket; (EFBIG) more than `limit` bytes;
            (ELOOP) a symlink when `follow_symlinks` is false.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    name = str(Path(path))
    fd = os.open(name, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EISDIR, "is a directory", name)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_kind(st.st_mode)})", name)
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than the {_size(limit)} limit", name)
        chunks: list[bytes] = []
        left = limit + 1  # one byte more tells a file that grew past the cap
        while left > 0:
            chunk = os.read(fd, min(left, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise OSError(errno.EFBIG, f"larger than the {_size(limit)} limit", name)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"
