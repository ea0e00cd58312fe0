"""Property-based fuzzing: mutated pickles and containers never make the scanner raise."""

from __future__ import annotations

import collections
import gzip
import io
import pickle
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weightguard.scan import Limits, Outcome
from weightguard.scan.allowlist import Allowlist
from weightguard.scan.containers import Scanner
from weightguard.scan.filescan import FileScan

SCANNER = Scanner(
    Allowlist(("torch", "numpy")),
    Limits(max_items=100_000, max_string=1 << 20, max_decompressed=1 << 22),
)
_OBJ = {
    "a": [1, 2.5, "x", b"y", None, True],
    "od": collections.OrderedDict(k=1),
    "s": {1, 2},
    "t": (1, (2, 3)),
    "c": 1 + 2j,
    "big": 2**80,
    "dd": collections.defaultdict(list),
}
SEEDS = [pickle.dumps(_OBJ, protocol=p) for p in range(6)]


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/data/0", b"\x00" * 16)
    return buf.getvalue()


SEEDS += [_zip(SEEDS[2]), _zip(SEEDS[4]), gzip.compress(SEEDS[5])]


def _scan(data: bytes) -> FileScan:
    fs = FileScan("<fuzz>", SCANNER.allow, SCANNER.limits)
    SCANNER.dispatch(fs, io.BytesIO(data), len(data), None, 0)
    for f in fs.findings:  # every finding carries a real outcome
        assert f.outcome in (Outcome.UNSAFE, Outcome.INCOMPLETE)
    return fs


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 2 and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data = data[: pos + 1]
    return bytes(data)


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_inputs_never_raise(data: bytes) -> None:
    _scan(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=256))
def test_random_bytes_never_raise(data: bytes) -> None:
    _scan(b"\x80\x04" + data)


def test_unmutated_seeds_are_clean() -> None:
    for seed in SEEDS:
        assert _scan(seed).findings == []
