"""Memo, stack, nesting and value-graph bombs cost time and memory linear in the file.

Before: a 6 MB memo chain took 2 s and 200 MiB, 3M nested one-tuples (6 MB) 8.9 s and
600 MiB, and a 273-byte pickle whose argument is 24 levels of ``[x, x]`` (memo GETs)
took 31 s in the "plain arguments" check (30 levels: half an hour). Each bomb runs in a
subprocess under a memory rlimit, so a regression fails the test, not the machine.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from weightguard import scan as wscan
from weightguard.scan.model import Outcome

_SYSTEM = b"cos\nsystem\n(S'echo pwned'\ntR"
_PROTO2 = b"\x80\x02"

# Scans one file in a fresh interpreter under a 1 GiB address-space cap; prints the
# outcome, the rules found and the peak RSS in MiB (VmHWM: ru_maxrss would carry the
# pytest parent's peak over fork and exec).
_RUNNER = """
import json, re, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from weightguard import scan
r = scan.scan([sys.argv[1]])
f = r.files[0]
with open("/proc/self/status") as fh:
    rss = int(re.search(r"VmHWM:\\s*(\\d+)", fh.read()).group(1)) // 1024
print(json.dumps({"outcome": f.outcome.value, "rules": sorted({x.rule for x in f.findings}),
                  "rss": rss}))
"""


def memo_chain(depth: int) -> bytes:
    """[[[...]]] `depth` deep, each list memoised, then a payload after it."""
    return _PROTO2 + b"]\x94" * depth + b"a" * (depth - 1) + b"0" + _SYSTEM + b"."


def nested_tuples(depth: int) -> bytes:
    """((((None,),),),) `depth` deep with TUPLE1 + MEMOIZE: stack depth stays 1."""
    return _PROTO2 + b"N" + b"\x85\x94" * depth + b"0" + _SYSTEM + b"."


def self_append(count: int) -> bytes:
    """One list appended to itself `count` times through the memo: one event, not count."""
    return _PROTO2 + b"]\x94" + b"h\x00a" * count + _SYSTEM + b"."


def doubling_dag(levels: int) -> bytes:
    """collections.Counter(x_n) where x_{i+1} = [x_i, x_i] through the memo."""
    body = _PROTO2 + b"ccollections\nCounter\nK\x01q\x000"
    for i in range(levels):
        body += b"](h%ch%ceq%c0" % (i, i, i + 1)
    return body + b"h%c\x85R." % levels


def _scan_in_subprocess(path: Path, timeout: float) -> tuple[dict[str, object], float]:
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(path)],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), elapsed


@pytest.mark.parametrize(
    ("build", "depth", "outcome", "rules"),
    [
        (memo_chain, 2_000_000, "incomplete", ["pickle.budget"]),
        (nested_tuples, 3_000_000, "incomplete", ["pickle.budget"]),
        (self_append, 2_000_000, "unsafe", ["global.denied", "pickle.stack_leftover"]),
    ],
    ids=["memo_chain", "tuples", "self_append"],
)
def test_six_megabyte_bombs_are_bounded(
    tmp_path: Path, build, depth: int, outcome: str, rules: list[str]
) -> None:
    bomb = tmp_path / "bomb.pkl"
    bomb.write_bytes(build(depth))
    assert 5_900_000 < bomb.stat().st_size < 6_100_000
    result, elapsed = _scan_in_subprocess(bomb, timeout=120)
    assert result["outcome"] == outcome
    assert result["rules"] == rules
    # ~75 MiB and ~1 s when idle; the old code needed 200, 600 and 280 MiB.
    assert isinstance(result["rss"], int) and result["rss"] < 140, result
    assert elapsed < 30


def test_shared_subgraphs_are_walked_once(tmp_path: Path) -> None:
    bomb = tmp_path / "dag.pkl"
    bomb.write_bytes(doubling_dag(30))  # 2**30 paths to the leaf, 330 bytes
    result, elapsed = _scan_in_subprocess(bomb, timeout=60)
    assert result["outcome"] == "clean"  # Counter of plain lists is plain data
    assert elapsed < 20


def test_cycles_and_deep_nesting_are_not_plain(tmp_path: Path) -> None:
    # a list that contains itself, given to Counter: never plain data
    cyclic = _PROTO2 + b"ccollections\nCounter\n]q\x00h\x00a\x85R."
    # 40 nested lists: deeper than the 32 levels a plain argument may nest
    deep = _PROTO2 + b"ccollections\nCounter\n" + b"]" * 40 + b"a" * 39 + b"\x85R."
    for name, body in (("cyclic.pkl", cyclic), ("deep.pkl", deep)):
        (tmp_path / name).write_bytes(body)
    result = wscan.scan([tmp_path])
    for f in result.files:
        assert f.outcome is Outcome.UNSAFE, f.path
        assert any(x.rule == "global.condition" for x in f.findings), f.path


def test_honest_large_containers_stay_clean(tmp_path: Path) -> None:
    # a 1M-item tuple (1M values on the stack under one MARK) and 300k memoised strings
    (tmp_path / "tuple.pkl").write_bytes(pickle.dumps(tuple([None] * 1_000_000), 4))
    (tmp_path / "vocab.pkl").write_bytes(pickle.dumps([f"w{i}" for i in range(300_000)], 4))
    nested = []
    for _ in range(400):  # deep, as CPython's recursive pickler allows
        nested = [nested]
    (tmp_path / "nested.pkl").write_bytes(pickle.dumps(nested, 2))
    result = wscan.scan([tmp_path])
    assert [(Path(f.path).name, f.outcome) for f in result.files if f.outcome is not
            Outcome.CLEAN] == []


def test_convert_does_not_expand_shared_subgraphs(tmp_path: Path) -> None:
    # {"meta": x_22}, x_{i+1} = [x_i, x_i]: scan-clean plain data of 300 bytes whose
    # JSON form was expanded path by path (69 s); now refused within a visit budget.
    from weightguard.convert.run import convert
    from weightguard.errors import IncompleteError

    body = _PROTO2 + b"}q\x00X\x04\x00\x00\x00metaq\x01K\x01q\x020"
    for i in range(22):
        body += b"](h%ch%ceq%c0" % (i + 2, i + 2, i + 3)
    src = tmp_path / "dag.pkl"
    src.write_bytes(body + b"h%cs." % 24)
    assert wscan.scan([src]).outcome is Outcome.CLEAN
    started = time.monotonic()
    with pytest.raises(IncompleteError):
        convert(src, tmp_path / "out.safetensors")
    assert time.monotonic() - started < 20
    assert not (tmp_path / "out.safetensors").exists()
