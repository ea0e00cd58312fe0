"""weightguard.digest: algorithms, ranged streaming hashing, the parallel scheduler, and
detection of files that change while they are being hashed (fail closed)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import blake3
import pytest

from weightguard import digest as digest_mod
from weightguard.digest import (
    FileState,
    HashTask,
    canonical_algorithm,
    hash_bytes,
    hash_range,
    hash_tasks,
    new_hasher,
)
from weightguard.errors import ModelChangedError, ModelReadError, UsageError

ABC = {
    "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "blake2b": hashlib.blake2b(b"abc").hexdigest(),
    "blake3": "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
}


def _reference(algorithm: str, data: bytes) -> str:
    if algorithm == "blake3":
        return blake3.blake3(data).hexdigest()
    return hashlib.new(algorithm, data).hexdigest()


@pytest.mark.parametrize("algorithm", sorted(ABC))
def test_known_vectors(algorithm: str) -> None:
    assert hash_bytes(algorithm, b"abc") == ABC[algorithm]


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("sha256", "sha256"), ("SHA256", "sha256"), ("blake2", "blake2b"), ("BLAKE3", "blake3")],
)
def test_canonical_algorithm(name: str, canonical: str) -> None:
    assert canonical_algorithm(name) == canonical


@pytest.mark.parametrize("name", ["md5", "sha1", "", "blake2s", "sha512"])
def test_unsupported_algorithms_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError) as info:
        canonical_algorithm(name)
    assert info.value.code == "hash.unsupported"
    with pytest.raises(UsageError):
        new_hasher(name)


@pytest.mark.parametrize("algorithm", sorted(ABC))
@pytest.mark.parametrize(
    ("start", "end"), [(0, None), (0, 0), (5, 6), (1000, 70_001), (0, 3 << 20)]
)
def test_hash_range_matches_reference(
    tmp_path: Path, algorithm: str, start: int, end: int | None
) -> None:
    data = os.urandom((3 << 20) + 17)
    f = tmp_path / "blob"
    f.write_bytes(data)
    # A small buffer forces many reads, including a short last one.
    got = hash_range(HashTask(str(f), start, end), algorithm, buffer=bytearray(4096 + 3))
    assert got == _reference(algorithm, data[start:end])


def test_lone_blake3_file_uses_library_threads_and_agrees(tmp_path: Path) -> None:
    data = os.urandom(9 << 20)
    f = tmp_path / "big"
    f.write_bytes(data)
    assert hash_tasks([HashTask(str(f), 0, None)], "blake3") == [blake3.blake3(data).hexdigest()]


def test_hash_tasks_keeps_task_order_and_reports_progress(tmp_path: Path) -> None:
    blobs = [os.urandom(n) for n in (0, 1, 4097, 1 << 20, (1 << 20) + 1, 333)]
    tasks = []
    for i, b in enumerate(blobs):
        p = tmp_path / f"f{i}"
        p.write_bytes(b)
        tasks.append(HashTask(str(p), 0, None, display=p.name))
    seen = []
    lock = threading.Lock()

    def progress(n: int) -> None:
        with lock:
            seen.append(n)

    serial = hash_tasks(tasks, "sha256", workers=1)
    parallel = hash_tasks(tasks, "sha256", workers=4, progress=progress)
    assert serial == parallel == [hashlib.sha256(b).hexdigest() for b in blobs]
    assert sum(seen) == sum(len(b) for b in blobs)
    assert hash_tasks([], "sha256") == []


def test_missing_file_is_unreadable_not_rejected(tmp_path: Path) -> None:
    task = HashTask(str(tmp_path / "nope"), 0, None, display="nope")
    with pytest.raises(ModelReadError) as info:
        hash_range(task, "sha256")
    assert info.value.code == "model.unreadable"
    assert info.value.path == "nope"


def test_directory_is_not_hashed(tmp_path: Path) -> None:
    with pytest.raises(ModelReadError, match="not a regular file"):
        hash_range(HashTask(str(tmp_path), 0, None), "sha256")


def test_symlink_is_not_followed_at_open(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(ModelReadError):
        hash_range(HashTask(str(tmp_path / "link"), 0, None), "sha256")


def test_range_past_end_of_file_fails_closed(tmp_path: Path) -> None:
    f = tmp_path / "short"
    f.write_bytes(b"12345")
    with pytest.raises(ModelChangedError, match="shorter"):
        hash_range(HashTask(str(f), 0, 10), "sha256")


def test_file_changed_between_listing_and_hashing(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 100)
    listed = FileState.of(os.stat(f))
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same size, new mtime
    with pytest.raises(ModelChangedError) as info:
        hash_range(HashTask(str(f), 0, 100, listed, "w.bin"), "sha256")
    assert info.value.code == "model.changed_during_hash"
    assert info.value.path == "w.bin"


def _readv_that_mutates(monkeypatch: pytest.MonkeyPatch, mutate: object) -> None:
    """Make the first read of a hash run call `mutate(fd)` first: a writer racing the
    hasher, made deterministic (the real readv still does the reading)."""
    real_readv = os.readv
    fired = []

    def readv(fd: int, buffers: list[memoryview]) -> int:
        if not fired:
            fired.append(fd)
            mutate(fd)  # type: ignore[operator]
        return real_readv(fd, buffers)

    monkeypatch.setattr(digest_mod.os, "readv", readv)


def test_append_during_hashing_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(3 << 20))

    def append(_fd: int) -> None:
        with open(f, "ab") as fh:
            fh.write(b"!")

    _readv_that_mutates(monkeypatch, append)
    with pytest.raises(ModelChangedError, match="changed while"):
        hash_range(HashTask(str(f), 0, 3 << 20, display="w.bin"), "sha256")


def test_in_place_rewrite_during_hashing_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size, new content: caught by the mtime (set explicitly, so the test does not
    depend on the file system's timestamp granularity)."""
    f = tmp_path / "w.bin"
    f.write_bytes(b"\0" * (2 << 20))

    def rewrite(_fd: int) -> None:
        st = os.stat(f)
        with open(f, "r+b") as fh:
            fh.seek(1 << 20)
            fh.write(b"\1")
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))

    _readv_that_mutates(monkeypatch, rewrite)
    with pytest.raises(ModelChangedError):
        hash_tasks([HashTask(str(f), 0, None, display="w.bin")], "sha256", workers=2)


def test_truncation_during_hashing_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(4 << 20))
    _readv_that_mutates(monkeypatch, lambda fd: os.truncate(f, 1 << 20))
    with pytest.raises(ModelChangedError):
        hash_range(HashTask(str(f), 0, None, display="w.bin"), "blake3")


def test_read_error_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"x" * 10)

    def failing_readv(fd: int, buffers: list[memoryview]) -> int:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(digest_mod.os, "readv", failing_readv)
    with pytest.raises(ModelReadError, match="Input/output error"):
        hash_range(HashTask(str(f), 0, None, display="w.bin"), "sha256")


def test_first_failure_fails_the_whole_run(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"g" * 1000)
    tasks = [HashTask(str(good), 0, None)] * 5 + [HashTask(str(tmp_path / "gone"), 0, None)]
    with pytest.raises(ModelReadError):
        hash_tasks(tasks, "sha256", workers=3)


def test_rewrite_that_restores_mtime_is_still_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the writer puts mtime (and size) back; ctime still moves."""
    f = tmp_path / "w.bin"
    f.write_bytes(b"\0" * (2 << 20))
    st0 = os.stat(f)
    time.sleep(0.05)  # timestamps tick coarsely (a jiffy): let ctime be able to move

    def sneaky(_fd: int) -> None:
        with open(f, "r+b") as fh:
            fh.seek(1 << 20)
            fh.write(b"\1")
        os.utime(f, ns=(st0.st_atime_ns, st0.st_mtime_ns))

    _readv_that_mutates(monkeypatch, sneaky)
    with pytest.raises(ModelChangedError):
        hash_range(HashTask(str(f), 0, None, display="w.bin"), "sha256")


def test_read_buffers_are_page_aligned() -> None:
    """The page-cache copy is much cheaper into a page-aligned buffer (benchmarks/README.md)."""
    import ctypes
    import mmap

    from weightguard.digest import READ_BUFFER, read_buffer

    buf = read_buffer(READ_BUFFER)
    address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    assert address % mmap.PAGESIZE == 0 and len(buf) == READ_BUFFER
