"""The reason-code registry is complete and the docs tables are generated from it (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.reason_scan import emitted_codes
from weightguard import reasons

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- reasons:verify:begin -->\n(.*?)<!-- reasons:verify:end -->", re.S)


def test_every_emitted_code_is_registered() -> None:
    emitted = emitted_codes(REPO / "weightguard")
    assert len(emitted) > 200  # the scan itself works: it finds the codes we know exist
    missing = {code: where for code, where in emitted.items() if code not in reasons.REGISTRY}
    assert not missing, f"unregistered reason codes (add a line to weightguard/reasons.py): {missing}"


def test_registry_is_sorted_unique_and_well_formed() -> None:
    codes = [r.code for r in reasons.CODES]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    for r in reasons.CODES:
        assert r.severity in ("error", "warning", "info"), r
        assert r.exit_code in (0, 1, 2, 3, 4, 130), r
        assert (r.exit_code == 0) == (r.severity != "error"), r
        assert 15 <= len(r.meaning) <= 120 and "..." not in r.meaning and "|" not in r.meaning, r


def test_docs_tables_are_generated_from_the_registry() -> None:
    doc = (REPO / "docs" / "reasons.md").read_text(encoding="utf-8")
    assert doc == reasons.reasons_doc(), "regenerate: python -m weightguard.reasons > docs/reasons.md"
    block = BLOCK.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert block is not None and block.group(1) == reasons.verify_table(), (
        "regenerate the README block: python -m weightguard.reasons --verify-table"
    )


def test_the_scan_catches_a_new_unregistered_code(tmp_path: Path) -> None:
    """The guard can fail: an emitter with a new literal code is reported."""
    pkg = tmp_path / "weightguard"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "def f(e):\n"
        "    raise e('x', code='brand.new_code')\n"
        "def g(self):\n"
        "    self.add('check', 1, 'other.new_code', 'message')\n"
        "    return Reason('third.new_code', 'message')\n"
    )
    assert set(emitted_codes(pkg)) == {"brand.new_code", "other.new_code", "third.new_code"}
