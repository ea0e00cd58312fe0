"""Atomic output: an interrupted, killed or unverifiable conversion leaves nothing behind."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from weightguard.convert import convert
from weightguard.errors import IncompleteError

np = pytest.importorskip("numpy")


def _checkpoint(path: Path, mib: int = 24) -> Path:
    rng = np.random.default_rng(1)
    arrays = {f"w{i}": rng.random((mib * 2**20 // 8 // 4,)) for i in range(4)}
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    return path


def test_error_inside_the_writer_leaves_no_file(tmp_path: Path) -> None:
    src = _checkpoint(tmp_path / "in.pkl", 4)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def boom(_n: int) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        convert(src, out_dir / "m.safetensors", progress=boom, chunk_size=1 << 20)
    assert list(out_dir.iterdir()) == []


def test_named_temp_fallback_is_cleaned_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)  # platforms without O_TMPFILE
    src = _checkpoint(tmp_path / "in.pkl", 2)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    calls = []

    def boom(n: int) -> None:
        calls.append(n)
        assert list(out_dir.iterdir()), "a hidden temporary file is being written"
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        convert(src, out_dir / "m.safetensors", progress=boom)
    assert calls and list(out_dir.iterdir()) == []
    convert(src, out_dir / "m.safetensors")
    assert [p.name for p in out_dir.iterdir()] == ["m.safetensors"]


def test_sigkill_mid_write_leaves_no_output(tmp_path: Path) -> None:
    src = _checkpoint(tmp_path / "in.pkl", 24)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    script = textwrap.dedent(
        f"""
        import os, signal
        from weightguard.convert import convert
        seen = []
        def kill(n):
            seen.append(n)
            if len(seen) == 3:  # a few chunks are on disk, the rest is not
                os.kill(os.getpid(), signal.SIGKILL)
        convert({str(src)!r}, {str(out_dir / "m.safetensors")!r}, progress=kill,
                chunk_size=1 << 20)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert list(out_dir.iterdir()) == []


def test_verification_mismatch_deletes_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import weightguard.convert.writer as writer

    real = writer._write_all
    calls = []

    def flipping(fd: int, data: object) -> None:
        calls.append(1)
        raw = bytearray(bytes(data))  # type: ignore[call-overload]
        if len(calls) == 2:  # the first tensor piece: a bit flips on its way to the file
            raw[0] ^= 1
        real(fd, raw)

    monkeypatch.setattr(writer, "_write_all", flipping)
    src = _checkpoint(tmp_path / "in.pkl", 1)
    with pytest.raises(IncompleteError) as exc:
        convert(src, tmp_path / "m.safetensors")
    assert exc.value.code == "convert.verify_failed"
    assert "differs from its source bytes" in exc.value.message
    assert not (tmp_path / "m.safetensors").exists()


def test_force_replaces_an_existing_output(tmp_path: Path) -> None:
    src = _checkpoint(tmp_path / "in.pkl", 1)
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"old")
    convert(src, out, force=True)
    assert out.read_bytes()[:8] != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pkl", "m.safetensors"]


def test_user_space_copy_when_the_kernel_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    src = _checkpoint(tmp_path / "in.pkl", 8)  # big arrays: file ranges, copied in-kernel
    convert(src, tmp_path / "kernel.safetensors")

    def exdev(*_a: object) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "copy_file_range", exdev)
    convert(src, tmp_path / "user.safetensors")
    monkeypatch.delattr(os, "copy_file_range")
    convert(src, tmp_path / "none.safetensors")
    data = (tmp_path / "kernel.safetensors").read_bytes()
    assert data == (tmp_path / "user.safetensors").read_bytes()
    assert data == (tmp_path / "none.safetensors").read_bytes()
