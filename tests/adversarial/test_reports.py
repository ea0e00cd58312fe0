"""Class 12: reports cannot be forged or pointed at the model.

Attacker: names files in the model volume (any bytes but `/` and NUL), and may
influence where a careless pipeline writes its report. Guarantees and what each test
saw on main e769f51 before the fix:

- File names with control characters are escaped in text output, so a name holding
  "\\n  ACCEPTED ..." or an ANSI sequence cannot add a line or repaint the terminal.
  Before: the newline and ESC bytes reached stdout raw (a forged `ACCEPTED:` line).
- `--report` / `--termination-log` refuse to write inside the model, over a sidecar,
  or over a bundle given with `--signature`/`--attestation` (exit 2,
  `usage.output_in_model`). Before: exit 1 and the report was written into the model
  (or over `model.sig`, destroying the signature).
- A rejection with a closed or broken stdout still exits 1. Before: exit 4
  (`AttributeError` on a closed stdout) and exit 3 (`BrokenPipeError`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.policy.kit import Kit, default_model, make_kit

FORGED = "x\n  ACCEPTED: everything is fine\r\x1b[2K\x1b]0;owned\x07\x9b31m\u2028\u202e.bin"
SPEC = "  rules:\n  - name: all\n    paths: ['**']\n    signatures: {anyOf: [team-a]}\n"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("reports-kit"))


def run(*args: str | os.PathLike[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "weightguard", *map(str, args)],
        capture_output=kw.pop("capture", True),  # type: ignore[arg-type]
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def forged_model(kit: Kit, tmp_path: Path) -> Path:
    model = default_model(tmp_path / "m")
    kit.sign(model, "team-a")
    (model / FORGED).write_bytes(b"evil")  # an unsigned file with a hostile name
    return model


def _assert_no_raw_controls(out: bytes) -> None:
    text = out.decode("utf-8")
    assert not [ln for ln in text.splitlines() if ln.lstrip().startswith("ACCEPTED")], text
    bad = [ch for ch in text if ch != "\n" and not ch.isprintable()]
    assert not bad, f"raw control characters on stdout: {bad!r}"


@pytest.mark.parametrize("policy", [False, True], ids=["key", "policy"])
def test_control_characters_in_names_are_escaped(
    kit: Kit, forged_model: Path, tmp_path: Path, policy: bool
) -> None:
    trust = (
        ["--policy", kit.policy(tmp_path / "p", SPEC)]
        if policy
        else ["--key", kit.keys / "team-a.pub.pem"]
    )
    proc = run("verify", forged_model, *trust)
    assert proc.returncode == 1, proc.stderr
    _assert_no_raw_controls(proc.stdout)
    assert b"x\\n  ACCEPTED" in proc.stdout  # still shown, escaped
    assert not [ch for ch in proc.stderr.decode() if ch != "\n" and not ch.isprintable()]


def test_json_output_keeps_the_exact_name(kit: Kit, forged_model: Path) -> None:
    proc = run("verify", forged_model, "--key", kit.keys / "team-a.pub.pem", "--format", "json")
    assert proc.returncode == 1
    paths = [r.get("path") for r in json.loads(proc.stdout)["reasons"]]
    assert FORGED in paths


def test_scan_escapes_names(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / FORGED).write_bytes(b"not a model")
    proc = run("scan", model)
    _assert_no_raw_controls(proc.stdout)


# --- where reports may be written ------------------------------------------------------


def _outputs(model: Path, tmp_path: Path) -> list[tuple[str, Path]]:
    return [
        ("--report", model / "report.json"),
        ("--report", model / "model.sig"),
        ("--report", model / "model.sig.d" / "x.sig"),
        ("--report", model / "sub" / ".." / "r.json"),
        ("--termination-log", model / "termination-log"),
        ("--termination-log", model / "model.sig"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_report_is_never_written_into_the_model(kit: Kit, tmp_path: Path, index: int) -> None:
    model = default_model(tmp_path / "m")
    sig = kit.sign(model, "team-a")
    (model / "sub").mkdir()
    before = sig.read_bytes()
    flag, target = _outputs(model, tmp_path)[index]
    proc = run("verify", model, "--key", kit.keys / "team-a.pub.pem", flag, target)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert b"usage.output_in_model" in proc.stderr or b"inside the model" in proc.stderr
    assert sig.read_bytes() == before
    assert sorted(p.name for p in model.iterdir()) == [
        "config.json", "model.sig", "sub", "weights.safetensors"
    ]  # fmt: skip


def test_report_through_a_symlink_into_the_model(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    kit.sign(model, "team-a")
    (tmp_path / "out").symlink_to(model)
    proc = run(
        "verify", model, "--key", kit.keys / "team-a.pub.pem", "--report", tmp_path / "out" / "r"
    )
    assert proc.returncode == 2
    assert not (model / "r").exists()


def test_report_over_a_single_file_models_sidecar(kit: Kit, tmp_path: Path) -> None:
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights")
    for target in (model, tmp_path / "model.safetensors.sig", tmp_path / "model.safetensors.sig.d"):
        proc = run("verify", model, "--key", kit.keys / "team-a.pub.pem", "--report", target)
        assert proc.returncode == 2, (target, proc.stderr)
    assert model.read_bytes() == b"weights"


def test_report_over_a_given_signature_or_attestation(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    sig = kit.sign(model, "team-a", dest=tmp_path / "elsewhere.sig")
    before = sig.read_bytes()
    proc = run(
        "verify", model, "--key", kit.keys / "team-a.pub.pem", "--signature", sig, "--report", sig
    )
    assert proc.returncode == 2
    assert sig.read_bytes() == before


def test_report_over_the_policy(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    kit.sign(model, "team-a")
    policy = kit.policy(tmp_path / "p", SPEC)
    before = policy.read_bytes()
    proc = run("verify", model, "--policy", policy, "--report", policy)
    assert proc.returncode == 2
    assert policy.read_bytes() == before


def test_report_beside_the_model_is_fine(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    kit.sign(model, "team-a")
    report = tmp_path / "report.json"
    proc = run("verify", model, "--key", kit.keys / "team-a.pub.pem", "--report", report)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text())["verdict"] == "accepted"


# --- stdout closed or broken -----------------------------------------------------------


def test_rejection_with_closed_stdout_exits_1(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")  # unsigned: rejected
    proc = subprocess.run(
        f'"{sys.executable}" -m weightguard verify "{model}" --key '
        f'"{kit.keys / "team-a.pub.pem"}" >&-',
        shell=True,  # noqa: S602 - the test needs the shell's `>&-` (closed fd 1)
        capture_output=False,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert b"internal error" not in proc.stderr


@pytest.mark.parametrize("signed", [False, True], ids=["rejected", "accepted"])
def test_broken_pipe_keeps_the_verdict(kit: Kit, tmp_path: Path, signed: bool) -> None:
    model = default_model(tmp_path / "m")
    if signed:
        kit.sign(model, "team-a")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before we write: EPIPE
    try:
        proc = run(
            "verify", model, "--key", kit.keys / "team-a.pub.pem", "--format", "json",
            capture=False, stdout=write_end, stderr=subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode == (0 if signed else 1), proc.stderr
    assert b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr
