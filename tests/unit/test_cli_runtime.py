"""weightguard.cli.runtime: termination message, JSON event log, policy digest pin."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.models import make_keypair, run_cli, write
from weightguard.cli import runtime
from weightguard.errors import ConfigError, ExitCode, ModelReadError, UsageError


def test_clamp_message_is_one_utf8_line_within_the_kubelet_limit() -> None:
    text = "first\nsecond\tthird\x00\x1b[31m " + "é🙂" * 3000
    data = runtime.clamp_message(text)
    assert len(data) <= runtime.TERMINATION_MESSAGE_LIMIT
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    line = data.decode("utf-8")  # never cut inside a character
    assert line.startswith("first second third??[31m é🙂")
    assert line.rstrip("\n").endswith("…")
    assert runtime.clamp_message("short") == b"short\n"


def test_termination_message_is_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / "termination-log"
    runtime.write_termination_message(str(target), "weightguard verify: ACCEPTED")
    assert target.read_text() == "weightguard verify: ACCEPTED\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["termination-log"]


def test_termination_message_falls_back_to_rewriting_the_kubelet_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet's file sits in a directory we cannot write: rewrite it in place."""
    target = tmp_path / "termination-log"
    target.write_text("stale content that is longer than the new message\n")

    def refuse(path: object, data: bytes, **_: object) -> None:
        raise ModelReadError("cannot write: Permission denied", code="output.unwritable")

    monkeypatch.setattr("weightguard.fileio.write_atomic", refuse)
    runtime.write_termination_message(str(target), "REJECTED")
    assert target.read_text() == "REJECTED\n"
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ModelReadError):  # never follow a symlink when writing in place
        runtime.write_termination_message(str(link), "x")
    with pytest.raises(ModelReadError):  # nothing to rewrite: the original error stands
        runtime.write_termination_message(str(tmp_path / "absent"), "x")


def test_policy_pin(tmp_path: Path) -> None:
    policy = write(tmp_path / "policy.yaml", b"apiVersion: weightguard.dev/v1\n")
    digest = "sha256:" + hashlib.sha256(policy.read_bytes()).hexdigest()
    assert runtime.check_policy_pin(str(policy), digest) == digest
    assert runtime.check_policy_pin(str(policy), None) is None
    with pytest.raises(ConfigError) as mismatch:
        runtime.check_policy_pin(str(policy), "sha256:" + "0" * 64)
    assert mismatch.value.code == "policy.digest_mismatch"
    assert mismatch.value.exit_code == ExitCode.USAGE
    with pytest.raises(ConfigError) as missing:
        runtime.check_policy_pin(str(tmp_path / "absent.yaml"), digest)
    assert missing.value.code == "policy.missing"
    for bad in ("sha256:ABC", "sha512:" + "0" * 64, digest.upper()):
        with pytest.raises(UsageError):
            runtime.check_policy_pin(str(policy), bad)
    with pytest.raises(UsageError):
        runtime.check_policy_pin(None, digest)


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    from weightguard.api import sign
    from weightguard.signing.ec import EcKeySigner

    keys = make_keypair(tmp_path / "keys", "k")
    model = write(tmp_path / "m" / "w.bin", b"\x01" * 1000).parent
    sign(model, EcKeySigner.from_file(keys.private))
    return model, keys.public


def test_json_log_is_one_event_per_line_and_nothing_else(
    signed: tuple[Path, Path], tmp_path: Path
) -> None:
    model, pub = signed
    term = tmp_path / "term"
    ok = run_cli("verify", model, "--key", pub, "--log-format", "json", "--termination-log", term)
    assert ok.rc == 0, ok.stderr
    events = [json.loads(line) for line in ok.stderr.splitlines()]
    assert [e["event"] for e in events] == ["start", "decision"]
    assert events[-1]["verdict"] == "accepted" and events[-1]["files_checked"] == 1
    assert term.read_text().startswith("weightguard verify: ACCEPTED (exit 0): ")
    # A configuration error in JSON mode: still only JSON on stderr, exit 2.
    bad = run_cli(
        "verify", model, "--key", tmp_path / "nope.pem", "--termination-log", term,
        env={"WEIGHTGUARD_LOG_FORMAT": "json"},
    )  # fmt: skip
    assert bad.rc == 2
    events = [json.loads(line) for line in bad.stderr.splitlines()]
    assert events[-1]["event"] == "error" and events[-1]["code"] == "key.invalid"
    assert "CONFIGURATION ERROR (exit 2): [key.invalid]" in term.read_text()


def test_text_mode_keeps_the_usual_error_line(signed: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = signed
    term = tmp_path / "term"
    res = run_cli("verify", model, "--key", tmp_path / "nope.pem", "--termination-log", term)
    assert res.rc == 2
    assert res.stderr.startswith("weightguard: error: ")
    assert "[key.invalid]" in term.read_text()


def test_unwritable_termination_log_fails_closed(signed: tuple[Path, Path], tmp_path: Path) -> None:
    model, pub = signed
    res = run_cli("verify", model, "--key", pub, "--termination-log", tmp_path / "no" / "dir")
    # A missing output folder is a usage error with its fix (issue 14), not "incomplete".
    assert res.rc == int(ExitCode.USAGE), res.stderr
    assert "output folder does not exist" in res.stderr and "hint: create" in res.stderr
    blocked = tmp_path / "ro"
    blocked.mkdir()
    blocked.chmod(0o500)
    try:
        res = run_cli("verify", model, "--key", pub, "--termination-log", blocked / "log")
    finally:
        blocked.chmod(0o700)
    if os.geteuid() != 0:  # root writes anywhere: only an unprivileged run can test this
        assert res.rc == int(ExitCode.INCOMPLETE), res.stderr


def test_policy_digest_without_policy_is_a_usage_error(signed: tuple[Path, Path]) -> None:
    model, pub = signed
    res = run_cli("verify", model, "--key", pub, "--policy-digest", "sha256:" + "a" * 64)
    assert res.rc == 2
    assert "--policy-digest needs --policy" in res.stderr


def test_report_and_termination_log_are_the_only_writes(
    signed: tuple[Path, Path], tmp_path: Path
) -> None:
    model, pub = signed
    out = tmp_path / "out"
    out.mkdir()
    before = sorted(os.listdir(model))
    res = run_cli(
        "verify", model, "--key", pub, "--report", out / "r.json", "--termination-log",
        out / "t", "--format", "json",
    )  # fmt: skip
    assert res.rc == 0
    assert sorted(os.listdir(out)) == ["r.json", "t"]
    assert sorted(os.listdir(model)) == before
    assert json.loads((out / "r.json").read_text()) == json.loads(res.stdout)
