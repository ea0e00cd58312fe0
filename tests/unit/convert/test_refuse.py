"""Refusals: malicious, incomplete and unconvertible inputs write nothing and never run."""

from __future__ import annotations

import importlib.util
import io
import pickle
import sys
import zipfile
from pathlib import Path

import pytest

from weightguard.convert import convert
from weightguard.errors import IncompleteError, UsageError, WeightguardError
from weightguard.report import Verdict

MALICIOUS = Path(__file__).resolve().parents[2] / "scan_corpus" / "malicious.py"


def _malicious_corpus(root: Path) -> list:
    spec = importlib.util.spec_from_file_location("convert_tests_malicious", MALICIOUS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.build(root)


def _torch_zip(data_pkl: bytes, records: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", b"little")
        for name, data in (records or {}).items():
            z.writestr(f"archive/data/{name}", data)
    return buf.getvalue()


def test_malicious_corpus_is_refused_and_nothing_runs_or_is_written(tmp_path: Path) -> None:
    samples = _malicious_corpus(tmp_path / "corpus")
    assert len(samples) >= 50
    outcomes = {}
    for sample in samples:
        out_dir = tmp_path / "out" / sample.name
        out_dir.mkdir(parents=True)
        try:
            result = convert(sample.path, out_dir / "model.safetensors")
            assert not result.accepted, sample.name
            assert result.reasons and result.reasons[0].code == "convert.refused"
            outcomes[sample.name] = result.verdict
        except WeightguardError as err:  # unreadable or unsupported: still refused
            assert err.exit_code != 0
            outcomes[sample.name] = err.code
        assert list(out_dir.iterdir()) == [], sample.name
        assert not sample.marker.exists(), f"{sample.name} ran its payload"
    assert sum(v is Verdict.REJECTED for v in outcomes.values()) >= 40


def test_unsafe_is_rejected_with_findings(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    payload = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    evil.write_bytes(_torch_zip(payload))
    result = convert(evil, tmp_path / "out.safetensors")
    assert result.verdict is Verdict.REJECTED
    assert result.scan_verdict == "unsafe"
    assert any(f["global"] == "posix.system" for f in result.findings)
    assert not (tmp_path / "out.safetensors").exists()


def test_truncated_checkpoint_is_incomplete(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01")  # a pickle without STOP
    result = convert(cut, tmp_path / "cut.safetensors")
    assert result.verdict is Verdict.INCOMPLETE
    assert not (tmp_path / "cut.safetensors").exists()


def test_storage_record_missing_or_short_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.ones(4)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    short = tmp_path / "short.pt"
    short.write_bytes(_torch_zip(pkl, {"0": b"\x00" * 8}))  # 4 floats need 16 bytes
    outcome: object
    try:
        outcome = convert(short, tmp_path / "short.safetensors").verdict
    except IncompleteError as err:
        outcome = err.code
    assert outcome in (Verdict.INCOMPLETE, Verdict.REJECTED, "convert.unsupported_tensor")
    assert not (tmp_path / "short.safetensors").exists()


def test_existing_output_needs_force_and_input_is_never_overwritten(tmp_path: Path) -> None:
    src = tmp_path / "m.pkl"
    src.write_bytes(pickle.dumps({"x": 1}))
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(UsageError) as exc:
        convert(src, out)
    assert exc.value.code == "output.exists"
    assert out.read_bytes() == b"keep me"
    with pytest.raises(UsageError) as exc:
        convert(src, src, force=True)
    assert exc.value.code == "output.is_input"
    with pytest.raises(UsageError):
        convert(src, tmp_path / "x.safetensors", attestation=tmp_path / "rec.json")


def test_unsupported_formats_are_refused_clearly(tmp_path: Path) -> None:
    st = tmp_path / "already.safetensors"
    st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}              ")
    with pytest.raises(IncompleteError) as exc:
        convert(st, tmp_path / "again.safetensors")
    assert exc.value.code == "convert.unsupported_format"
    assert "already safetensors" in exc.value.message


def test_top_level_convert_checkpoint_is_the_convert_function(tmp_path: Path) -> None:
    import weightguard
    import weightguard.convert

    src = tmp_path / "m.pkl"
    np = pytest.importorskip("numpy")
    src.write_bytes(pickle.dumps({"w": np.ones(2)}, protocol=4))
    assert weightguard.convert_checkpoint is weightguard.convert.convert
    first = weightguard.convert_checkpoint(src, tmp_path / "a.safetensors")
    second = weightguard.convert_checkpoint(src, tmp_path / "b.safetensors")
    assert first.accepted and second.accepted


def test_failed_conversion_leaves_no_new_directories(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    src = tmp_path / "c.pkl"
    src.write_bytes(pickle.dumps({"c": np.zeros(2, np.complex128)}, protocol=4))
    with pytest.raises(IncompleteError):
        convert(src, tmp_path / "new" / "deeper" / "c.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pkl"]
