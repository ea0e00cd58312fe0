"""The symbolic VM: CPython semantics on valid pickles, refusals on differentials.

How the scanner judges what the VM reports is tested in tests/unit/scan/test_judge.py."""

from __future__ import annotations

import collections
import pickle
import struct

import pytest

from tests.corpus import corpus_module
from weightguard.pickle import (
    Dict,
    FrozenSet,
    Global,
    Limits,
    List,
    Obj,
    Reader,
    Set,
    Tuple,
    Value,
    parse_pickle,
)

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


def test_pop_at_mark_discards_the_mark_like_cpython() -> None:
    assert pickle.loads(b"(0N.") is None
    assert parse_pickle(Reader(b"(0N.")).error is None


def test_large_bytes_are_skipped_not_held() -> None:
    data = pickle.dumps(b"x" * 5000, protocol=4)
    program = parse_pickle(Reader(data), limits=Limits(inline_bytes=100))
    assert program.error is None
    assert type(program.root).__name__ == "BytesRef"
