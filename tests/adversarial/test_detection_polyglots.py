"""Format detection no polyglot can fool (issue 12, points 1-3 and 5).

The corpus (tests/scan_corpus/polyglots.py) is proven to run under each sample's natural
loader, then none of it may scan clean. Before the fix, seven samples scanned clean
(text pickles starting with `C` or behind a >1 MiB prefix, the GGUF prefix, a valid
safetensors file that is also a pickle, and the 'object', '(2,)O' and 'f4,O' .npy
spellings), the V7 tar and ZF files were only "unknown", the recorded-offset zip was
flagged without its payload being named, and the inflation bomb took minutes.
"""

from __future__ import annotations

import importlib.util
import io
import json
import struct
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import weightguard.scan as wscan
from weightguard.pickle.formats import classify, detect_format
from weightguard.scan import Outcome

CORPUS = Path(__file__).resolve().parents[1] / "scan_corpus"


def _module():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(CORPUS))
    spec = importlib.util.spec_from_file_location("scan_corpus_polyglots", CORPUS / "polyglots.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    return _module().build(tmp_path_factory.mktemp("polyglots"))


def test_every_sample_runs_under_its_natural_loader(corpus: list) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("joblib")
    groups: dict[str, list[str]] = defaultdict(list)
    for s in corpus:
        groups[s.loader].append(str(s.path))
    for loader, paths in groups.items():
        subprocess.run([sys.executable, str(CORPUS / "load_samples.py"), loader, *paths],
                       cwd=Path(paths[0]).parent, timeout=300, check=False, capture_output=True)
    assert [s.name for s in corpus if not s.marker.exists()] == []


def test_no_sample_scans_clean(corpus: list) -> None:
    result = wscan.scan([s.path for s in corpus])
    assert not result.errors
    outcome = {Path(f.path).name: f.outcome for f in result.files}
    assert [s.name for s in corpus if outcome[s.path.name] is Outcome.CLEAN] == []
    # Only the bomb, cut short by the opcode budget, may be merely incomplete.
    assert [s.name for s in corpus if outcome[s.path.name] is Outcome.INCOMPLETE] == [
        "inflate_then_payload"
    ]


def test_payloads_are_named_not_just_flagged(corpus: list) -> None:
    result = wscan.scan([s.path for s in corpus if s.category != "bomb"])
    for f in result.files:
        assert "os.system" in f.globals or "posix.system" in f.globals, f.path


def test_code_running_reading_decides_the_format(corpus: list) -> None:
    by_name = {s.name: s.path for s in corpus}
    # the policy gate's `formats: {allow: [safetensors]}` must not see these as data
    assert detect_format(by_name["safetensors_pickle"]) == "pickle"
    assert detect_format(by_name["gguf_prefix"]) == "pickle"
    assert detect_format(by_name["text_long_prefix"]) == "pickle"
    assert detect_format(by_name["v7_tar"]) == "torch-tar"
    assert detect_format(by_name["zip_case_data_pkl"]) == "torch-zip"


def test_safetensors_crate_loads_the_polyglot(corpus: list) -> None:
    safetensors = pytest.importorskip("safetensors")
    path = next(s.path for s in corpus if s.name == "safetensors_pickle")
    with safetensors.safe_open(str(path), "np") as f:
        assert list(f.keys()) == ["t"]


def _safetensors(n: int) -> bytes:
    """A valid safetensors file whose header is exactly `n` bytes long."""
    full = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    if n >= len(full):
        return struct.pack("<Q", n) + full.ljust(n) + b"\x00" * 8
    return struct.pack("<Q", n) + b"{}".ljust(n)


def test_every_header_length_is_safetensors() -> None:
    # 8 to 64 KiB in steps of 8 (the crate pads headers to 8); 128, 384, ... read as PROTO.
    wrong = []
    for n in range(8, 65536 + 1, 8):
        data = _safetensors(n)
        det = classify(io.BytesIO(data), len(data))
        if det.kind != "safetensors" or det.view is not None:
            wrong.append(n)
    assert wrong == []


def test_proto_length_headers_scan_clean(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    st = pytest.importorskip("safetensors.numpy")
    seen = set()
    for k in range(0, 1400):
        data = st.save({"w": np.zeros(2, np.float32)}, metadata={"m": "x" * k})
        n = struct.unpack_from("<Q", data)[0]
        if n % 256 == 128 and n not in seen:  # bytes 80 0k: PROTO k
            seen.add(n)
            (tmp_path / f"h{n}.safetensors").write_bytes(data)
    assert len(seen) >= 4
    result = wscan.scan([tmp_path])
    assert {f.format for f in result.files} == {"safetensors"}
    assert result.outcome is Outcome.CLEAN


def test_text_files_are_not_pickles(tmp_path: Path) -> None:
    texts = ["Introduction to the model\n", "pytorch weights\n", "gpt2 vocab\n",
             "Float16 weights\n", "Licensed under MIT\n", "h1 title\n", "jax\n"]
    for i, text in enumerate(texts):
        (tmp_path / f"t{i}.txt").write_text(text * 3)
    result = wscan.scan([tmp_path])
    assert {f.format for f in result.files} == {"text"}
    assert result.outcome is Outcome.CLEAN


def test_bombs_cost_time_linear_in_input(tmp_path: Path) -> None:
    import zipfile

    body = b"\x80\x02" + b"N0" * 25_000_000 + b"}."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("archive/data.pkl", body)
        z.writestr("archive/byteorder", b"little")
    bomb = tmp_path / "bomb.pt"
    bomb.write_bytes(buf.getvalue())
    started = time.monotonic()
    result = wscan.scan([bomb])
    elapsed = time.monotonic() - started
    assert result.files[0].outcome is Outcome.INCOMPLETE
    assert any(f.rule == "pickle.budget" for f in result.files[0].findings)
    assert elapsed < 20  # was 23 s quiet / 95 s loaded: 50M opcodes from 49 KB


def test_convert_refuses_what_scan_refuses(corpus: list, tmp_path: Path) -> None:
    from weightguard.convert.run import convert

    for name in ("zip_case_data_pkl", "safetensors_pickle", "zip_recorded_offsets"):
        path = next(s.path for s in corpus if s.name == name)
        out = tmp_path / f"{name}.out.safetensors"
        result = convert(path, out)
        assert result.scan_verdict != "clean", name
        assert not out.exists(), name
