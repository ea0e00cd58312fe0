"""The judge on what the VM reports: structure, roles, conditions, budgets, user entries.

The VM's own semantics are tested in tests/unit/pickle/test_vm.py."""

from __future__ import annotations

import io
import pickle
import zipfile

import pytest

import weightguard.scan as wscan
from tests.corpus import corpus_module
from weightguard.pickle import Limits, Reader, parse_pickle
from weightguard.scan import Outcome
from weightguard.scan.allowlist import Allowlist
from weightguard.scan.containers import Scanner
from weightguard.scan.filescan import FileScan

asm = corpus_module("pickleasm")


def scan_bytes(
    data: bytes, limits: Limits | None = None, profiles: tuple[str, ...] = ("torch", "numpy")
) -> FileScan:
    scanner = Scanner(Allowlist(profiles), limits or Limits())
    fs = FileScan("<mem>", scanner.allow, scanner.limits)
    scanner.dispatch(fs, io.BytesIO(data), len(data), None, 0)
    return fs


def rules(data: bytes, **kw: object) -> set[str]:
    return {f.rule for f in scan_bytes(data, **kw).findings}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"\x80\x04K\x01\x94K\x02q\x00.", "pickle.memo_overwrite"),
        (b"N0\x80\x02N.", "pickle.proto_position"),
        (b"\x80\x04NN.", "pickle.stack_leftover"),
    ],
)
def test_differentials_the_vm_steps_over_are_unsafe(data: bytes, rule: str) -> None:
    assert parse_pickle(Reader(data)).error is None
    found = scan_bytes(data).findings
    assert found[0].rule == rule
    assert found[0].outcome is Outcome.UNSAFE


def test_budgets_make_files_incomplete() -> None:
    data = pickle.dumps(list(range(100)), protocol=4)
    fs = scan_bytes(data, limits=Limits(max_items=10))
    assert {f.rule for f in fs.findings} == {"pickle.budget"}
    assert fs.findings[0].outcome is Outcome.INCOMPLETE
    fs = scan_bytes(pickle.dumps([[i] for i in range(50)], protocol=4), limits=Limits(max_memo=5))
    assert {f.rule for f in fs.findings} == {"pickle.budget"}


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
