"""Issue 14: one CLI contract, kept by every command (real subprocesses, `python -m weightguard`).

Each test names the "Why" bullet it covers. Fail closed; exit codes that tell the truth
(0/1/2/3/4 and 130 for an interrupt); exactly one JSON report for every outcome with
``--format json``, also written to ``--report`` and summarised in ``--termination-log``;
docs that match behaviour; the habits users bring from cosign.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.models import (
    KeyPair,
    Pki,
    make_keypair,
    ordering_trap_model,
    run_cli,
    write,
)

REPO = Path(__file__).resolve().parents[2]
REPORT_KEYS = {"schema", "tool", "command", "verdict", "exit_code", "reasons"}
REPORT_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "weightguard" / "report.schema.json").read_text())
)


def report_of(stdout: str, exit_code: int, code: str | None = None) -> dict[str, Any]:
    """The one JSON document on stdout, checked against the report schema's shape."""
    doc = json.loads(stdout)  # exactly one document: json.loads refuses trailing data
    assert isinstance(doc, dict) and REPORT_KEYS <= doc.keys(), doc
    REPORT_VALIDATOR.validate(doc)  # the shipped JSON Schema (weightguard/report.schema.json)
    assert doc["schema"] == "https://weightguard.dev/report/v1"
    assert doc["verdict"] in ("accepted", "rejected", "incomplete", "error")
    assert doc["exit_code"] == exit_code, doc
    from weightguard.reasons import REGISTRY

    for reason in doc["reasons"]:
        assert {"code", "severity", "path", "message"} <= reason.keys()
        assert reason["code"] in REGISTRY, reason  # every emitted code is registered
    if code is not None:
        assert code in {r["code"] for r in doc["reasons"]}, doc["reasons"]
    return doc


def _policy(directory: Path, pub: Path, mode: str = "enforce", extra: str = "") -> Path:
    from weightguard.signing.keys import key_hint, load_public_key

    key_id = f"sha256:{key_hint(load_public_key(pub))}"
    text = f"""apiVersion: weightguard.dev/v1
kind: Policy
metadata: {{name: contract}}
spec:
  mode: {mode}
  signers:
    release:
      key: {{publicKey: {pub}, keyId: "{key_id}"}}
{extra}  rules:
    - name: all
      paths: ["**"]
      signatures: {{anyOf: [release]}}
"""
    return write(directory / "policy.yaml", text.encode())


# --- fails open -> fails closed ----------------------------------------------------------


def test_smoke_check_needs_trust_for_the_record(tmp_path: Path, keys: KeyPair) -> None:
    """An unsigned record, or one signed by anybody, no longer passes with exit 0."""
    model = write(tmp_path / "m.safetensors", b"x")
    record = write(tmp_path / "m.smoke.json", b"{}")
    r = run_cli("smoke", "check", model, "--record", record, "--factory", "a:b",
                "--format", "json")  # fmt: skip
    assert r.rc == 2, r.stderr
    doc = report_of(r.stdout, 2, "smoke.record_trust_missing")
    assert "--allow-unsigned-record" in doc["error"]["hint"]
    assert "--record-key" in run_cli("smoke", "check", "--help").stdout


@pytest.mark.parametrize("mode", ["enforce", "warn", "audit"])
def test_empty_model_blocks_in_every_mode(tmp_path: Path, keys: KeyPair, mode: str) -> None:
    """An init container whose volume was never populated must not let the server start."""
    empty = tmp_path / "volume"
    empty.mkdir()
    policy = _policy(tmp_path, keys.public, mode)
    r = run_cli("verify", empty, "--policy", policy, "--format", "json")
    assert r.rc == 1, r.stdout
    report_of(r.stdout, 1, "model.empty")


def test_sign_refuses_to_replace_a_bundle(signed: Path, tmp_path: Path) -> None:
    other = make_keypair(tmp_path / "k", "other")
    before = (signed / "model.sig").read_bytes()
    r = run_cli("sign", signed, "--key", other.private, "--format", "json")
    assert r.rc == 2
    doc = report_of(r.stdout, 2, "sign.bundle_exists")
    assert "model.sig.d" in doc["error"]["hint"] and "--force" in doc["error"]["hint"]
    assert (signed / "model.sig").read_bytes() == before  # the first signer's bundle stays
    cosig = signed / "model.sig.d" / "other.sig"
    cosig.parent.mkdir()
    assert run_cli("sign", signed, "--key", other.private, "--signature", cosig).rc == 0
    assert run_cli("sign", signed, "--key", other.private, "--force").rc == 0
    assert (signed / "model.sig").read_bytes() != before


@pytest.mark.parametrize(
    ("which", "code"), [("tls", "sign.cert_usage"), ("expired", "sign.cert_not_valid")]
)
def test_sign_cert_refuses_a_chain_verify_would_reject(
    tmp_path: Path, pki: Pki, which: str, code: str
) -> None:
    m = ordering_trap_model(tmp_path / "m")
    key, cert = {
        "tls": (pki.tls_key, pki.tls_cert),
        "expired": (pki.expired_key, pki.expired_cert),
    }[which]
    r = run_cli("sign", m, "--key", key, "--cert", cert, "--chain", pki.intermediate,
                "--format", "json")  # fmt: skip
    assert r.rc == 2, r.stderr
    report_of(r.stdout, 2, code)
    assert not (m / "model.sig").exists()


# --- exit codes that tell the truth -------------------------------------------------------


def _run_python(code: str, *args: str, env: dict[str, str] | None = None) -> Any:
    import subprocess

    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=full,
        timeout=120, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


INTERRUPT = """
import os, signal, sys
import weightguard.api as api
def interrupted(*a, **k):
    os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered mid-run
    raise AssertionError("SIGINT did not interrupt")
api.sign = api.verify = api.digest = interrupted
from weightguard.cli import main
main(sys.argv[1:])
"""


def test_interrupt_exits_130_and_writes_nothing(
    tmp_path: Path, keys: KeyPair, signed: Path
) -> None:
    m = ordering_trap_model(tmp_path / "m")
    r = _run_python(INTERRUPT, "sign", str(m), "--key", str(keys.private), "--format", "json")
    assert r.returncode == 130, r.stderr
    doc = report_of(r.stdout, 130, "interrupted")
    assert doc["verdict"] == "error"
    assert not (m / "model.sig").exists()
    report, term = tmp_path / "r.json", tmp_path / "term"
    r = _run_python(
        INTERRUPT, "verify", str(signed), "--key", str(keys.public), "--report", str(report),
        "--termination-log", str(term),
    )  # fmt: skip
    assert r.returncode == 130, r.stderr
    assert json.loads(report.read_text())["exit_code"] == 130
    assert "INTERRUPTED (exit 130)" in term.read_text()


def test_keygen_encrypt_without_a_terminal_is_usage(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WEIGHTGUARD_KEY_PASSWORD"}
    r = run_cli("keygen", "--out", tmp_path / "k.pem", "--encrypt", "--format", "json",
                stdin="", env=env)  # fmt: skip
    assert r.rc == 2, r.stderr
    doc = report_of(r.stdout, 2, "key.password_needed")
    assert "WEIGHTGUARD_KEY_PASSWORD" in doc["error"]["hint"]
    assert not (tmp_path / "k.pem").exists()


NO_TORCH = """
import sys
sys.modules["torch"] = None  # as if the [torch] extra were not installed
from weightguard.cli import main
main(sys.argv[1:])
"""


def test_missing_extra_names_the_pip_extra(tmp_path: Path, keys: KeyPair) -> None:
    model = write(tmp_path / "m.safetensors", b"x")
    record = write(tmp_path / "m.smoke.json", b"{}")
    r = _run_python(
        NO_TORCH, "smoke", "check", str(model), "--record", str(record), "--record-key",
        str(keys.public), "--factory", "examples.models.mlp:build", "--format", "json",
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    doc = report_of(r.stdout, 2, "env.missing_extra")
    assert doc["error"]["hint"].startswith("pip install './weightguard[torch]' from a checkout")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "MODEL", "--key", "PUB", "--report", "NODIR/r.json"],
        ["sign", "MODEL", "--key", "PRIV", "--signature", "NODIR/m.sig"],
        ["keygen", "--out", "NODIR/k.pem"],
        ["digest", "MODEL", "--report", "NODIR/r.json"],
    ],
)
def test_missing_output_folder_is_usage_with_a_fix(
    signed: Path, keys: KeyPair, tmp_path: Path, argv: list[str]
) -> None:
    subst = {"MODEL": str(signed), "PUB": str(keys.public), "PRIV": str(keys.private)}
    args = [subst.get(a, a.replace("NODIR", str(tmp_path / "nodir"))) for a in argv]
    r = run_cli(*args, "--format", "json")
    assert r.rc == 2, (r.stdout, r.stderr)
    doc = report_of(r.stdout, 2)
    assert doc["reasons"][0]["code"] in ("output.dir_missing",)
    assert "hint" in doc["error"]


@pytest.mark.parametrize(
    ("option", "policy_mode"),
    [("--signature", False), ("--signature", True), ("--attestation", True)],
)
def test_mistyped_signature_or_attestation_path_is_usage(
    signed: Path, keys: KeyPair, tmp_path: Path, option: str, policy_mode: bool
) -> None:
    """A typo never reads as "the model is unsigned" (exit 1)."""
    trust = ["--policy", _policy(tmp_path, keys.public)] if policy_mode else ["--key", keys.public]
    r = run_cli("verify", signed, option, tmp_path / "modle.sig", *trust, "--format", "json")
    assert r.rc == 2, r.stdout
    report_of(r.stdout, 2, "usage.path_missing")


# --- JSON for every outcome ------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["keygen"],  # click: missing --out
        ["verify", "MODEL", "--no-such-flag"],  # click: unknown option
        ["verify", "MODEL"],  # no trust given
        ["sign", "MODEL"],  # no signer
        ["digest", "MISSING"],
        ["scan", "MISSING", "--profile", "nope"],
        ["convert", "MISSING"],
        ["policy", "lint", "MISSING"],
        ["policy", "explain", "MISSING", "MODEL"],
        ["smoke", "record", "MISSING", "--factory", "a:b"],
        ["smoke", "check", "MODEL", "--record", "MISSING", "--factory", "a:b"],
        ["key", "id", "MISSING"],
        ["nosuchcommand"],
    ],
)
def test_every_command_prints_one_json_report_for_usage_errors(
    signed: Path, tmp_path: Path, argv: list[str]
) -> None:
    subst = {"MODEL": str(signed), "MISSING": str(tmp_path / "missing")}
    report, term = tmp_path / "report.json", tmp_path / "termination-log"
    args = [subst.get(a, a) for a in argv]
    extra = ["--format", "json", "--report", report, "--termination-log", term]
    r = run_cli(*args, *extra)
    assert r.rc == 2, (r.stdout, r.stderr)
    doc = report_of(r.stdout, 2)
    assert doc["verdict"] == "error" and doc["reasons"][0]["code"]
    assert json.loads(report.read_text()) == doc
    assert "CONFIGURATION ERROR (exit 2)" in term.read_text()
    assert "Traceback" not in r.stderr


def test_policy_path_that_is_a_directory_gets_a_reason_code(
    signed: Path, tmp_path: Path
) -> None:
    """A ConfigMap mounted as a folder: reason code, JSON event, termination message."""
    folder = tmp_path / "policy"
    folder.mkdir()
    term = tmp_path / "term"
    r = run_cli("verify", signed, "--policy", folder, "--log-format", "json",
                "--termination-log", term, "--format", "json")  # fmt: skip
    assert r.rc == 2, r.stderr
    report_of(r.stdout, 2, "policy.unreadable")
    events = [json.loads(line) for line in r.stderr.splitlines()]
    assert [e["event"] for e in events][-1] == "error"
    assert events[-1]["code"] == "policy.unreadable"
    assert "[policy.unreadable]" in term.read_text()


# --- docs = behaviour ----------------------------------------------------------------------


def test_signature_adds_to_model_sig_in_policy_mode(
    signed: Path, keys: KeyPair, tmp_path: Path
) -> None:
    """docs: --signature adds to model.sig for thresholds; it does not replace it."""
    second = make_keypair(tmp_path / "k2", "second")
    extra = tmp_path / "second.sig"
    assert run_cli("sign", signed, "--key", second.private, "--signature", extra).rc == 0
    from weightguard.signing.keys import key_hint, load_public_key

    kid = f"sha256:{key_hint(load_public_key(second.public))}"
    policy = _policy(tmp_path, keys.public).read_text()
    policy = policy.replace(
        "  rules:",
        f'    second:\n      key: {{publicKey: {second.public}, keyId: "{kid}"}}\n  rules:',
    ).replace("anyOf: [release]", "allOf: [release, second]")
    path = write(tmp_path / "both.yaml", policy.encode())
    r = run_cli("verify", signed, "--policy", path, "--signature", extra, "--format", "json")
    assert r.rc == 0, r.stdout
    sources = {Path(s["source"]).name for s in report_of(r.stdout, 0)["signatures"]}
    assert sources == {"model.sig", "second.sig"}


def test_date_only_times_are_accepted_everywhere(keys: KeyPair, tmp_path: Path) -> None:
    text = """apiVersion: weightguard.dev/v1
kind: Policy
metadata: {name: dates}
spec:
  signers:
    ci:
      sigstore:
        identity: {exact: "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main"}
        issuer: https://token.actions.githubusercontent.com
        signedAfter: "2026-06-01"
        signedBefore: "2030-01-01"
  rules:
    - name: all
      paths: ["**"]
      signatures: {anyOf: [ci]}
"""
    policy = write(tmp_path / "p.yaml", text.encode())
    r = run_cli("policy", "lint", policy, "--format", "json")
    assert r.rc == 0, r.stdout
    assert report_of(r.stdout, 0)["valid"] is True


def test_keygen_prints_the_key_id_and_key_id_reads_it_back(tmp_path: Path) -> None:
    r = run_cli("keygen", "--out", tmp_path / "k.pem")
    assert r.rc == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("key id: "))
    kid = line.removeprefix("key id: ")
    assert kid.startswith("sha256:") and len(kid) == 71
    for f in ("k.pub.pem", "k.pem"):
        got = run_cli("key", "id", tmp_path / f)
        assert got.rc == 0 and got.stdout.strip() == kid, got.stderr


def test_model_version_accepts_a_v_prefix(tmp_path: Path, keys: KeyPair) -> None:
    m = ordering_trap_model(tmp_path / "m")
    assert run_cli("sign", m, "--key", keys.private, "--model-version", "v2.4.0").rc == 0
    policy = _policy(tmp_path, keys.public, extra='  rollback: {minVersion: "2.4"}\n')
    r = run_cli("verify", m, "--policy", policy, "--format", "json")
    assert r.rc == 0, r.stdout


@pytest.mark.parametrize(("size", "ok"), [("1M", False), ("1MiB", True), ("1MB", True)])
def test_sizes_need_an_explicit_unit(signed: Path, size: str, ok: bool) -> None:
    r = run_cli("digest", signed, "--shards", size, "--format", "json")
    assert (r.rc == 0) is ok, r.stdout
    if not ok:
        doc = report_of(r.stdout, 2, "usage.size")
        assert "1MiB" in doc["error"]["hint"] and "1MB" in doc["error"]["hint"]


# --- habits ----------------------------------------------------------------------------


def test_cosign_spellings_and_help_sections(
    signed: Path, keys: KeyPair, tmp_path: Path
) -> None:
    r = run_cli("verify", signed, "--key", keys.public, "--bundle", signed / "model.sig", "-q")
    assert r.rc == 0 and r.stderr == "", r.stderr
    h = run_cli("verify", "--help").stdout
    for section in ("Trust (without --policy):", "Keyless (Sigstore):", "Policy:",
                    "Output and logging:", "Examples:"):  # fmt: skip
        assert section in h, h
    for alias in ("--bundle", "--certificate-identity", "--certificate-identity-regexp",
                  "--certificate-oidc-issuer", "-q, --quiet", "-v, --verbose"):  # fmt: skip
        assert alias in h
    r = run_cli("verify", signed, "--certificate-identity", "a@b.test", "--format", "json",
                "--certificate-oidc-issuer", "https://issuer.test")  # fmt: skip
    assert r.rc == 1, r.stdout  # a keyless check ran (and rejected the key bundle)
    assert report_of(r.stdout, 1)["reasons"][0]["code"] == "signer.kind_mismatch"


def test_private_key_where_a_public_one_is_expected_gets_a_hint(
    signed: Path, keys: KeyPair
) -> None:
    r = run_cli("verify", signed, "--key", keys.private, "--format", "json")
    assert r.rc == 2
    doc = report_of(r.stdout, 2, "key.private_given")
    assert "pub.pem" in doc["error"]["hint"]
    r = run_cli("sign", signed, "--key", keys.public, "--force", "--format", "json")
    assert r.rc == 2
    assert "public key" in report_of(r.stdout, 2)["error"]["hint"]


# --- small edges ---------------------------------------------------------------------------


def test_digest_honours_a_bundles_serialization(tmp_path: Path, keys: KeyPair) -> None:
    m = ordering_trap_model(tmp_path / "m")
    r = run_cli("sign", m, "--key", keys.private, "--hash", "blake2b", "--shards", "64",
                "--format", "json")  # fmt: skip
    assert r.rc == 0, r.stderr
    signed_root = json.loads(r.stdout)["model"]["root_digest"]
    assert run_cli("digest", m).stdout.strip() != signed_root  # default parameters differ
    got = run_cli("digest", m, "--signature", m / "model.sig")
    assert got.rc == 0 and got.stdout.strip() == signed_root, got.stderr


def _argv_commands() -> Sequence[str]:
    from weightguard.cli import _COMMANDS

    return sorted(_COMMANDS)


def test_every_command_has_the_contract_options() -> None:
    """JSON, --report, --termination-log, -q and -v on every leaf command."""
    import click

    from weightguard.cli import cli

    ctx = click.Context(cli)
    leaves: list[click.Command] = []
    for name in _argv_commands():
        command = cli.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            leaves += [command.get_command(ctx, n) for n in command.list_commands(ctx)]  # type: ignore[misc]
        else:
            leaves.append(command)
    for command in leaves:
        names = {p.name for p in command.params}
        assert {"output_format", "report_file", "termination_log", "quiet", "verbose"} <= names, (
            command.name
        )


def test_shell_completion_is_served() -> None:
    r = run_cli(env={"_WEIGHTGUARD_COMPLETE": "bash_source"})
    assert r.rc == 0 and "complete -o nosort -F" in r.stdout, r.stderr
    r = run_cli(env={"_WEIGHTGUARD_COMPLETE": "bash_complete", "COMP_WORDS": "weightguard ve",
                     "COMP_CWORD": "1"})  # fmt: skip
    assert r.rc == 0 and "plain,verify" in r.stdout, r.stdout
