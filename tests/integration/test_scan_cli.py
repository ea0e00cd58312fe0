"""`weightguard scan`: exit codes, one JSON document, SARIF 2.1.0, options."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightguard.cli import cli


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("true",))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    clean = tmp_path / "clean.pkl"
    clean.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=4))
    evil = tmp_path / "evil.bin"
    evil.write_bytes(pickle.dumps(_Evil(), protocol=4))
    unknown = tmp_path / "blob.dat"
    unknown.write_bytes(b"\x00\x01\x02\xff" * 10)
    user = tmp_path / "user.pkl"
    user.write_bytes(b"\x80\x04\x8c\x05mylib\x8c\x03Cfg\x93)\x81}b.")
    return {"clean": clean, "evil": evil, "unknown": unknown, "user": user}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["scan", *args])
    return result.exit_code, result.output


def test_exit_codes(files: dict[str, Path]) -> None:
    assert run(str(files["clean"]))[0] == 0
    assert run(str(files["evil"]))[0] == 1
    assert run(str(files["unknown"]))[0] == 3
    assert run(str(files["clean"]), str(files["unknown"]), str(files["evil"]))[0] == 1
    assert run(str(files["clean"].parent / "missing.pt"))[0] == 2
    assert run("--profile", "nope", str(files["clean"]))[0] == 2
    assert run("--allow", "builtins.eval", str(files["clean"]))[0] == 2


def test_json_is_one_document_for_many_files(files: dict[str, Path]) -> None:
    code, out = run("--format", "json", *(str(p) for p in files.values()))
    doc = json.loads(out)
    assert code == 1
    assert doc["command"] == "scan"
    assert doc["verdict"] == "rejected"
    assert doc["exit_code"] == 1
    assert doc["summary"] == {"files": 4, "clean": 1, "unsafe": 2, "incomplete": 1}
    evil = next(f for f in doc["files"] if f["path"].endswith("evil.bin"))
    finding = evil["findings"][0]
    for key in (
        "rule",
        "outcome",
        "severity",
        "message",
        "file",
        "offset",
        "opcode",
        "global",
        "role",
        "hint",
    ):
        assert key in finding
    assert finding["global"] == "posix.system"


def test_directory_walk_and_output_file(files: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    code, out = run("--format", "json", "--output", str(report), str(files["clean"].parent))
    assert code == 1
    assert out.startswith("weightguard scan: REJECTED")
    assert json.loads(report.read_text())["summary"]["files"] == 4


def test_allow_and_profiles(files: dict[str, Path]) -> None:
    assert run(str(files["user"]))[0] == 1
    assert run("--allow", "mylib.Cfg", str(files["user"]))[0] == 0
    assert run("--allow", "mylib:Cfg", str(files["user"]))[0] == 0
    assert run("--no-default-profiles", str(files["clean"]))[0] == 0


def test_text_output_names_findings(files: dict[str, Path]) -> None:
    code, out = run(str(files["evil"]))
    assert code == 1
    assert "global.denied" in out and "posix.system" in out and "hint:" in out


def test_sarif(files: dict[str, Path]) -> None:
    code, out = run("--format", "sarif", str(files["evil"]), str(files["unknown"]))
    log = json.loads(out)
    assert code == 1
    assert log["version"] == "2.1.0"
    run0 = log["runs"][0]
    rule_ids = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert {"global.denied", "format.unknown"} <= set(rule_ids)
    for res in run0["results"]:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"]
        assert loc["region"]["startLine"] == 1
        assert res["partialFingerprints"]


def test_library_api(files: dict[str, Path]) -> None:
    import weightguard

    result = weightguard.scan_path(files["evil"])
    assert result.outcome.value == "unsafe"
    assert not result.clean
    import weightguard.scan

    assert weightguard.scan_path is weightguard.scan.scan  # the subpackage is a module
    assert weightguard.scan.scan(files["clean"]).clean


_STARTUP_PROBE = """
import sys
before = set(sys.modules)
from weightguard.cli import main
try:
    main(["scan", sys.argv[1]])
except SystemExit as exc:
    code = exc.code
print("PROBE", code, " ".join(sorted(set(sys.modules) - before)))
"""
# Never needed to scan a torch checkpoint: other formats' readers, opt-in profiles, report
# renderers we were not asked for, and the heavy libraries.
_NOT_AT_START_UP = {
    "weightguard.cli.sign",  # the attestation signer: only with --attest
    "weightguard.manifest",
    "weightguard.scan.archives",
    "weightguard.scan.datafiles",
    "weightguard.pickle.joblibfmt",
    "weightguard.scan.profiles_optin",
    "weightguard.scan.sarif",
    "pathlib",
    "json",
    "tarfile",
    "zipfile",
    "gzip",
    "bz2",
    "lzma",
    "torch",
    "numpy",
    "joblib",
}


@pytest.mark.parametrize("kind", ["torch-zip", "torch-legacy"])
def test_scan_start_up_loads_only_what_the_format_needs(tmp_path: Path, kind: str) -> None:
    """Start-up is a benchmark target (benchmarks/bench_scan.py): each format's reader is
    imported when a file of that format is met, nothing else."""
    import subprocess
    import sys
    import zipfile

    path = tmp_path / "model.pt"
    if kind == "torch-zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", pickle.dumps({"step": 1}, protocol=2))
            zf.writestr("archive/version", "3\n")
        unwanted = _NOT_AT_START_UP | {"weightguard.scan.legacy"}
    else:
        parts = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"step": 1}, []]
        path.write_bytes(b"".join(pickle.dumps(p, protocol=2) for p in parts))
        unwanted = _NOT_AT_START_UP | {"weightguard.pickle.zipread", "weightguard.scan.zipscan"}
    out = (
        subprocess.run(
            [sys.executable, "-c", _STARTUP_PROBE, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.splitlines()[-1]
        .split()
    )
    assert out[:2] == ["PROBE", "0"]
    loaded = set(out[2:])
    assert f"weightguard.scan.{'zipscan' if kind == 'torch-zip' else 'legacy'}" in loaded
    assert not loaded & unwanted, sorted(loaded & unwanted)
