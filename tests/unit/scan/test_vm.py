"""The symbolic VM: CPython semantics on valid pickles, refusals on differentials."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import pytest

import weightguard.scan as wscan
from weightguard.pickle.reader import Reader
from weightguard.pickle.values import Dict, FrozenSet, Global, List, Obj, Set, Tuple, Value
from weightguard.pickle.vm import parse_pickle
from weightguard.scan import Limits, Outcome
from weightguard.scan.allowlist import Allowlist
from weightguard.scan.containers import FileScan, Scanner

from .conftest import corpus_module

asm = corpus_module("pickleasm")


def to_py(v: Value) -> object:
    """Plain-data view of a symbolic value (tests only)."""
    if isinstance(v, Tuple):
        return tuple(to_py(x) for x in v.items)
    if isinstance(v, List):
        return [to_py(x) for x in v.items]
    if isinstance(v, Dict):
        return {to_py(k): to_py(x) for k, x in v.items}
    if isinstance(v, Set):
        return {to_py(x) for x in v.items}
    if isinstance(v, FrozenSet):
        return frozenset(to_py(x) for x in v.items)
    return v


def scan_bytes(
    data: bytes, limits: Limits | None = None, profiles: tuple[str, ...] = ("torch", "numpy")
) -> FileScan:
    scanner = Scanner(Allowlist(profiles), limits or Limits())
    fs = FileScan("<mem>", scanner.allow, scanner.limits)
    scanner.dispatch(fs, io.BytesIO(data), len(data), None, 0)
    return fs


def rules(data: bytes, **kw: object) -> set[str]:
    return {f.rule for f in scan_bytes(data, **kw).findings}  # type: ignore[arg-type]


PLAIN = {
    "a": [1, -2, 2**70, -(2**70), 2.5, "x\n\\é", b"y", None, True, False],
    "t": (1, (2,)),
    "e": (),
    "n": {"k": {"v": [0]}},
}


@pytest.mark.parametrize("proto", range(6))
def test_plain_data_round_trips_symbolically(proto: int) -> None:
    data = pickle.dumps(PLAIN, protocol=proto)
    program = parse_pickle(Reader(data))
    assert program.error is None
    if proto >= 3:  # below 3, bytes are spelled with _codecs.encode calls
        assert to_py(program.root) == PLAIN
    assert program.end == len(data)


@pytest.mark.parametrize("proto", range(6))
def test_sets_and_shared_references(proto: int) -> None:
    shared = [1]
    data = pickle.dumps({"a": shared, "b": shared, "s": frozenset([1])}, protocol=proto)
    program = parse_pickle(Reader(data))
    root = program.root
    assert isinstance(root, Dict)
    assert root.items[0][1] is root.items[1][1]  # memo preserves identity


def test_events_name_globals_and_calls() -> None:
    data = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    program = parse_pickle(Reader(data))
    kinds = [e.kind for e in program.events]
    assert kinds[:2] == ["global", "call"]
    call = program.events[1].node
    assert isinstance(call, Obj)
    assert isinstance(call.callee, Global)
    assert call.callee.qualname == "collections.OrderedDict"
    assert call.items == [("a", 1)]


def test_fix_imports_mapping_applies_below_protocol_3() -> None:
    program = parse_pickle(Reader(asm.program(asm.g("__builtin__", "set"), asm.PROTO2)))
    assert isinstance(program.root, Global)
    assert program.root.qualname == "builtins.set"
    program = parse_pickle(Reader(b"\x80\x03" + asm.g("__builtin__", "set") + b"."))
    assert isinstance(program.root, Global)
    assert program.root.qualname == "__builtin__.set"


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (
            b"\x80\x04\x95" + struct.pack("<Q", 2) + b"cX" + b"os\nsystem\n.",
            "pickle.frame_straddle",
        ),
        (
            b"\x80\x04\x95" + struct.pack("<Q", 3) + b"\x8c\x05hello." + b".",
            "pickle.frame_straddle",
        ),
        (
            b"\x80\x04\x95" + struct.pack("<Q", 4) + b"N\x95" + struct.pack("<Q", 1) + b".",
            "pickle.frame_straddle",
        ),
        (
            b"\x80\x04\x95"
            + struct.pack("<Q", 20)
            + b"N\x95"
            + struct.pack("<Q", 1)
            + b"0" * 9
            + b".",
            "pickle.frame_nested",
        ),
        (b"\x80\x04\xff.", "pickle.unknown_opcode"),
        (b"\x80\x04N", "pickle.truncated"),
        (b"\x80\x06N.", "pickle.unsupported_protocol"),
        (b"\x80\x04h\x05.", "pickle.memo_missing"),
        (b"S'a\\x00'\n.", "pickle.string_escape"),
        (b"I010\n.", "pickle.text_quirk"),
        (b"I1_0\n.", "pickle.text_quirk"),
        (b"F1_0\n.", "pickle.text_quirk"),
        (b"\x80\x04N]R.", "pickle.reduce_args"),
        (b"\x80\x04)\x81.", "pickle.stack_underflow"),
        (b"\x80\x04t.", "pickle.no_mark"),
        (b"\x80\x04K\x01K\x02\x93.", "pickle.global_operand"),
        (b"\x80\x04(K\x01d.", "pickle.odd_items"),
        (b"\x80\x04T\xff\xff\xff\xff.", "pickle.negative_length"),
        (b"\x80\x04.", "pickle.stack_underflow"),
    ],
)
def test_rejections(data: bytes, rule: str) -> None:
    program = parse_pickle(Reader(data))
    assert program.error is not None
    assert program.error.rule == rule


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"\x80\x04K\x01\x94K\x02q\x00.", "pickle.memo_overwrite"),
        (b"N0\x80\x02N.", "pickle.proto_position"),
        (b"\x80\x04NN.", "pickle.stack_leftover"),
    ],
)
def test_differentials_are_stepped_over_and_flagged(data: bytes, rule: str) -> None:
    program = parse_pickle(Reader(data))
    assert program.error is None
    assert rule in {a.rule for a in program.anomalies}
    assert scan_bytes(data).findings[0].outcome is Outcome.UNSAFE


def test_pop_at_mark_discards_the_mark_like_cpython() -> None:
    assert pickle.loads(b"(0N.") is None
    assert parse_pickle(Reader(b"(0N.")).error is None


def test_budgets_make_files_incomplete() -> None:
    data = pickle.dumps(list(range(100)), protocol=4)
    fs = scan_bytes(data, limits=Limits(max_items=10))
    assert {f.rule for f in fs.findings} == {"pickle.budget"}
    assert fs.findings[0].outcome is Outcome.INCOMPLETE
    fs = scan_bytes(pickle.dumps([[i] for i in range(50)], protocol=4), limits=Limits(max_memo=5))
    assert {f.rule for f in fs.findings} == {"pickle.budget"}


def test_large_bytes_are_skipped_not_held() -> None:
    data = pickle.dumps(b"x" * 5000, protocol=4)
    program = parse_pickle(Reader(data), limits=Limits(inline_bytes=100))
    assert program.error is None
    assert type(program.root).__name__ == "BytesRef"


def test_structural_rules() -> None:
    assert "structure.build_target" in rules(
        asm.program(asm.sg("collections", "OrderedDict") + asm.EMPTY_DICT + asm.BUILD)
    )
    assert "structure.setitems_target" in rules(
        asm.program(asm.sg("torch", "float32") + asm.u("k") + asm.u("v") + b"s")
    )
    assert "structure.appends_target" in rules(asm.program(asm.sg("torch", "float32") + b"Na"))
    assert "structure.additems_target" in rules(asm.program(b"]" + b"(N\x90"))
    assert "pickle.ext" in rules(asm.program(b"\x82\x01"))
    assert "persid.unexpected" in rules(asm.program(asm.u("x") + b"Q"))
    assert "pickle.out_of_band" in rules(b"\x80\x05\x97.")
    assert "call.dynamic" in rules(
        asm.program(asm.call(asm.call(asm.sg("collections", "OrderedDict"))))
    )


def test_roles_and_conditions() -> None:
    # A storage tag may not be called; defaultdict's factory is pinned.
    assert "global.role" in rules(asm.program(asm.call(asm.sg("torch", "FloatStorage"))))
    assert "global.condition" in rules(
        asm.program(asm.call(asm.sg("collections", "defaultdict"), asm.sg("torch", "load")))
    )
    assert (
        rules(
            asm.program(asm.call(asm.sg("collections", "defaultdict"), asm.sg("builtins", "list")))
        )
        == set()
    )
    found = rules(asm.program(asm.call(asm.sg("__main__", "Net"))))
    assert found == {"global.user_class"}


def test_user_allow_entries() -> None:
    data = asm.program(
        asm.sg("mylib.layers", "Block") + asm.EMPTY_TUPLE + asm.NEWOBJ + asm.EMPTY_DICT + asm.BUILD
    )
    assert rules(data) == {"global.user_class"}
    scanner = Scanner(Allowlist(("torch",), []), Limits())
    from weightguard.scan.allowlist import user_entry

    scanner = Scanner(Allowlist(("torch",), [user_entry("mylib.layers.Block")]), Limits())
    fs = FileScan("<mem>", scanner.allow, scanner.limits)
    scanner.dispatch(fs, io.BytesIO(data), len(data), None, 0)
    assert fs.findings == []
    with pytest.raises(wscan.UsageError):
        wscan.scan(".", allow=["os.system"])


def test_nested_payload_is_reported(tmp_path: object) -> None:
    inner = asm.program(asm.call(asm.sg("os", "system"), asm.u("true")))
    fs = scan_bytes(asm.program(asm.call(asm.sg("pickle", "loads"), asm.by(inner))))
    members = {f.member for f in fs.findings if f.global_name == "os.system"}
    assert any(m and "nested" in m for m in members)


def test_torch_zip_persid_checks() -> None:
    pid = (
        asm.MARK
        + asm.u("storage")
        + asm.sg("torch", "FloatStorage")
        + asm.u("0")
        + asm.u("cpu")
        + asm.asm_int(4)
        + asm.TUPLE
        + b"Q"
    )
    hooks = asm.call(asm.sg("collections", "OrderedDict"))
    tensor = asm.call(
        asm.sg("torch._utils", "_rebuild_tensor_v2"),
        pid,
        asm.asm_int(0),
        asm.MARK + asm.asm_int(4) + asm.TUPLE,
        asm.MARK + asm.asm_int(1) + asm.TUPLE,
        b"\x89",
        hooks,
    )

    def zip_with(record_size: int) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/data.pkl", asm.program(tensor))
            z.writestr("archive/data/0", b"\x00" * record_size)
        return buf.getvalue()

    assert rules(zip_with(16)) == set()
    assert rules(zip_with(8)) == {"persid.invalid"}
