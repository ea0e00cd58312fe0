"""write_atomic: temp file + rename for regular targets, straight writes into devices/FIFOs."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from weightguard.errors import UsageError
from weightguard.fileio import write_atomic


def test_regular_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temp left


def test_fifo_target_is_written_not_replaced(tmp_path: Path) -> None:
    # Regression: renaming over a device node once replaced /dev/null with a regular file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, b"report")
    reader.join(timeout=10)
    assert got == [b"report"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_dev_null_stays_a_device() -> None:
    write_atomic("/dev/null", b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    # issue 14: a folder the user named that is not there is a usage error with its fix
    with pytest.raises(UsageError) as info:
        write_atomic(tmp_path / "nope" / "out.json", b"x")
    assert info.value.code == "output.dir_missing" and info.value.hint
