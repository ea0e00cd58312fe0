"""The CLI contract of keygen / sign / verify / digest, run as real subprocesses
(`python -m weightguard`): exit codes 0/1/2/3, what goes to stdout and stderr, the JSON
report, passwords only from $WEIGHTGUARD_KEY_PASSWORD or a prompt (never a flag)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models import (
    KeyPair,
    Pki,
    ordering_trap_model,
    run_cli,
    single_file_model,
    write,
)
from weightguard import __version__

HEX64 = re.compile(r"^sha256:[0-9a-f]{64}$")
PASSWORD_ENV = "WEIGHTGUARD_KEY_PASSWORD"


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("weightguard: error: "), stderr
    assert all(line.startswith("weightguard: ") for line in lines), stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- entry points ------------------------------------------------------------------------


def test_help_and_version() -> None:
    r = run_cli("--help")
    assert r.rc == 0
    for command in ("keygen", "sign", "verify", "digest"):
        assert command in r.stdout
    flat = " ".join(r.stdout.split())
    assert "0 accepted" in flat and "3 incomplete" in flat
    v = run_cli("--version")
    assert v.rc == 0 and __version__ in v.stdout


def test_console_script_is_installed() -> None:
    exe = Path(os.sys.executable).parent / "weightguard"  # type: ignore[attr-defined]
    assert exe.exists()


def test_unknown_command_and_option_are_usage_errors() -> None:
    assert run_cli("frobnicate").rc == 2
    assert run_cli("verify", "--no-such-flag").rc == 2


# --- keygen ------------------------------------------------------------------------------


def test_keygen_writes_pair_with_private_mode_0600(tmp_path: Path) -> None:
    r = run_cli("keygen", "--out", tmp_path / "k.pem", "--curve", "p384")
    assert r.rc == 0, r.stderr
    assert "k.pem" in r.stdout and "k.pub.pem" in r.stdout and r.stderr == ""
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert (tmp_path / "k.pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    again = run_cli("keygen", "--out", tmp_path / "k.pem")
    assert again.rc == 2 and "--force" in _one_error_line(again.stderr)
    assert run_cli("keygen", "--out", tmp_path / "k.pem", "--force").rc == 0


def test_keygen_bad_curve_is_usage_error(tmp_path: Path) -> None:
    assert run_cli("keygen", "--out", tmp_path / "k.pem", "--curve", "p224").rc == 2
    assert not (tmp_path / "k.pem").exists()


def test_encrypted_key_via_environment(tmp_path: Path) -> None:
    env = {PASSWORD_ENV: "correct horse"}
    assert run_cli("keygen", "--out", tmp_path / "enc.pem", "--encrypt", env=env).rc == 0
    assert b"ENCRYPTED" in (tmp_path / "enc.pem").read_bytes()
    m = ordering_trap_model(tmp_path / "m")
    ok = run_cli("sign", m, "--key", tmp_path / "enc.pem", env=env)
    assert ok.rc == 0, ok.stderr
    # No password available and stdin is not a terminal: a usage error, nothing written.
    (m / "model.sig").unlink()
    missing = run_cli("sign", m, "--key", tmp_path / "enc.pem")
    assert missing.rc == 2
    assert PASSWORD_ENV in _one_error_line(missing.stderr) and "enc.pem" in missing.stderr
    wrong = run_cli("sign", m, "--key", tmp_path / "enc.pem", env={PASSWORD_ENV: "nope"})
    assert wrong.rc == 2 and "wrong password" in _one_error_line(wrong.stderr)
    assert not (m / "model.sig").exists()
    assert run_cli("verify", m, "--key", tmp_path / "enc.pub.pem").rc == 1  # still unsigned


def test_password_is_never_a_command_line_option(tmp_path: Path, keys: KeyPair) -> None:
    m = ordering_trap_model(tmp_path / "m")
    for command in ("sign", "keygen"):
        r = run_cli(command, m, "--key", keys.private, "--password", "x")
        assert r.rc == 2 and "No such option" in r.stderr
        help_text = run_cli(command, "--help").stdout
        assert "--password" not in help_text


# --- sign --------------------------------------------------------------------------------


def test_sign_output_and_default_path(tmp_path: Path, keys: KeyPair) -> None:
    m = ordering_trap_model(tmp_path / "m")
    r = run_cli("sign", m, "--key", keys.private)
    assert r.rc == 0 and r.stderr == ""
    first, second = r.stdout.splitlines()
    assert first.startswith(f"signed {m}: sha256:")
    assert second == f"wrote {m / 'model.sig'} (9 resources)"
    root = first.rsplit(" ", 1)[1]
    d = run_cli("digest", m)
    assert d.rc == 0 and d.stdout.strip() == root and HEX64.match(root)


def test_digest_contract(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    from weightguard.api import digest

    for args, kwargs in (
        ([], {}),
        (["--hash", "blake3"], {"hash_type": "blake3"}),
        (["--shards", "100"], {"shard_size": 100}),
        (["--ignore", "weights"], {"ignore_paths": ["weights"]}),
    ):
        r = run_cli("digest", m, *args)
        assert r.rc == 0 and r.stderr == ""
        assert r.stdout == f"sha256:{digest(m, **kwargs)}\n"  # the root is always SHA-256
    assert run_cli("digest", tmp_path / "missing").rc == 2
    (tmp_path / "empty").mkdir()
    empty = run_cli("digest", tmp_path / "empty")
    assert empty.rc == 1 and empty.stdout == "" and "no files" in _one_error_line(empty.stderr)


def test_sign_single_file_writes_file_sig(tmp_path: Path, keys: KeyPair) -> None:
    f = single_file_model(tmp_path)
    assert run_cli("sign", f, "--key", keys.private).rc == 0
    assert (tmp_path / "model.safetensors.sig").exists()


@pytest.mark.parametrize(
    "args",
    [
        [],  # no signer
        ["--chain", "x.pem"],
        ["--hash", "md5"],
        ["--shards", "lots"],
        ["--hash", "blake3", "--shards", "1M"],
        ["--ignore", "../outside"],
    ],
)
def test_sign_usage_errors_write_nothing(tmp_path: Path, keys: KeyPair, args: list[str]) -> None:
    m = ordering_trap_model(tmp_path / "m")
    extra = [] if not args else ["--key", str(keys.private)]
    r = run_cli("sign", m, *extra, *args)
    assert r.rc == 2, (r.stdout, r.stderr)
    assert not (m / "model.sig").exists()


def test_sign_missing_model_and_key(tmp_path: Path, keys: KeyPair) -> None:
    assert run_cli("sign", tmp_path / "nope", "--key", keys.private).rc == 2
    m = ordering_trap_model(tmp_path / "m")
    r = run_cli("sign", m, "--key", tmp_path / "missing.pem")
    assert r.rc == 2 and "missing.pem" in _one_error_line(r.stderr)


def test_sign_empty_model_is_rejected(tmp_path: Path, keys: KeyPair) -> None:
    (tmp_path / "empty").mkdir()
    r = run_cli("sign", tmp_path / "empty", "--key", keys.private)
    assert r.rc == 1 and "no files" in _one_error_line(r.stderr)
    assert list((tmp_path / "empty").iterdir()) == []


def test_sign_refuses_a_non_utf8_name(tmp_path: Path, keys: KeyPair) -> None:
    m = ordering_trap_model(tmp_path / "m")
    with open(os.path.join(os.fsencode(m), b"caf\xe9.bin"), "wb") as fh:
        fh.write(b"latin-1 name")
    r = run_cli("sign", m, "--key", keys.private)
    assert r.rc == 1 and "UTF-8" in _one_error_line(r.stderr)
    assert not (m / "model.sig").exists()


def test_sign_with_certificate_chain(tmp_path: Path, pki: Pki) -> None:
    m = ordering_trap_model(tmp_path / "m")
    r = run_cli(
        "sign", m, "--key", pki.leaf_key, "--cert", pki.leaf_cert, "--chain", pki.intermediate
    )
    assert r.rc == 0, r.stderr
    v = run_cli(
        "verify", m, "--cert-root", pki.root, "--cert-identity", pki.san, "--format", "json"
    )
    assert v.rc == 0, v.stdout
    assert v.json()["signer"]["kind"] == "x509"
    assert v.json()["signer"]["identity"] == pki.san
    mismatch = run_cli("sign", m, "--key", pki.tls_key, "--cert", pki.leaf_cert)
    assert mismatch.rc == 2 and "does not match" in mismatch.stderr


# --- verify ------------------------------------------------------------------------------


def test_verify_accepted_text(signed: Path, keys: KeyPair) -> None:
    r = run_cli("verify", signed, "--key", keys.public)
    assert r.rc == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert re.match(rf"^ACCEPTED: {re.escape(str(signed))} \(sha256:[0-9a-f]{{64}}\)$", lines[0])
    assert lines[1].startswith("  signer: key sha256:")
    assert lines[2] == "  checked 9 files, 611 bytes hashed"


def test_verify_json_contract(signed: Path, keys: KeyPair, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    r = run_cli("verify", signed, "--key", keys.public, "--format", "json", "--report", report)
    assert r.rc == 0 and r.stderr == ""
    doc = r.json()
    assert json.loads(report.read_text()) == doc
    assert [p.name for p in report.parent.iterdir()] == ["report.json"]  # no temp files left
    assert doc["schema"] == "https://weightguard.dev/report/v1"
    assert doc["tool"] == {"name": "weightguard", "version": __version__}
    assert doc["command"] == "verify" and doc["verdict"] == "accepted" and doc["exit_code"] == 0
    assert HEX64.match(doc["model"]["root_digest"])
    assert doc["model"]["root_digest"] == run_cli("digest", signed).stdout.strip()
    assert doc["signer"]["kind"] == "key" and doc["signer"]["identity"].startswith("sha256:")
    assert doc["manifest"]["method"] == "files" and doc["manifest"]["resources"] == 9
    assert doc["reasons"] == []


def test_verify_rejection_names_file_and_digests(signed: Path, keys: KeyPair) -> None:
    blob = signed / "weights" / "blob.bin"
    data = bytearray(blob.read_bytes())
    data[7] ^= 0xFF
    blob.write_bytes(bytes(data))
    text = run_cli("verify", signed, "--key", keys.public)
    assert text.rc == 1 and text.stderr == ""
    assert text.stdout.startswith("REJECTED: ")
    assert "[file.digest_mismatch] weights/blob.bin:" in text.stdout
    assert re.search(r"expected [0-9a-f]{64}\n\s+actual\s+[0-9a-f]{64}", text.stdout)
    doc = run_cli("verify", signed, "--key", keys.public, "--format", "json").json()
    assert doc["verdict"] == "rejected" and doc["exit_code"] == 1
    (reason,) = doc["reasons"]
    assert reason["code"] == "file.digest_mismatch" and reason["path"] == "weights/blob.bin"
    assert reason["severity"] == "error" and reason["message"]
    assert len(reason["expected"]) == 64 and reason["expected"] != reason["actual"]


def test_verify_single_file_finds_its_signature(tmp_path: Path, keys: KeyPair) -> None:
    f = single_file_model(tmp_path)
    assert run_cli("sign", f, "--key", keys.private).rc == 0
    r = run_cli("verify", f, "--key", keys.public, "--format", "json")
    assert r.rc == 0 and r.json()["signature"] == str(tmp_path / "model.safetensors.sig")
    (tmp_path / "model.safetensors.sig").rename(tmp_path / "elsewhere.sig")
    missing = run_cli("verify", f, "--key", keys.public, "--format", "json")
    assert missing.rc == 1 and missing.codes() == ["signature.missing"]
    explicit = run_cli("verify", f, "--key", keys.public, "--signature", tmp_path / "elsewhere.sig")
    assert explicit.rc == 0


@pytest.mark.parametrize(
    "args",
    [
        [],  # no trust given
        ["--key", "PUB", "--cert-root", "PUB"],
        ["--key", "PUB", "--cert-identity", "a@b"],
        ["--key", "MISSING"],
        ["--cert-root", "PUB"],  # not a certificate
        ["--format", "yaml", "--key", "PUB"],
    ],
)
def test_verify_usage_errors(signed: Path, keys: KeyPair, args: list[str]) -> None:
    args = [
        {"PUB": str(keys.public), "MISSING": str(signed / "missing.pem")}.get(a, a) for a in args
    ]
    fmt = [] if "--format" in args else ["--format", "json"]
    r = run_cli("verify", signed, *args, *fmt)
    assert r.rc == 2, (r.stdout, r.stderr)
    if "yaml" in args:  # --format itself is wrong: no JSON was asked for
        assert r.stdout == ""
        return
    # Issue 14: --format json prints one report for every outcome, usage errors too.
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "error" and doc["exit_code"] == 2 and doc["reasons"]


def test_verify_missing_model_is_usage_error(tmp_path: Path, keys: KeyPair) -> None:
    r = run_cli("verify", tmp_path / "nope", "--key", keys.public)
    assert r.rc == 2 and "does not exist" in _one_error_line(r.stderr)


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "bundle.malformed"), (b"{", "bundle.malformed"), (b"\xff\xfe", "bundle.malformed")],
)
def test_verify_broken_bundle_is_rejected(
    signed: Path, keys: KeyPair, content: bytes, code: str
) -> None:
    (signed / "model.sig").write_bytes(content)
    r = run_cli("verify", signed, "--key", keys.public, "--format", "json")
    assert r.rc == 1 and r.codes() == [code]


def test_verify_signature_path_is_a_directory(signed: Path, keys: KeyPair) -> None:
    r = run_cli("verify", signed, "--key", keys.public, "--signature", signed / "weights")
    assert r.rc in (2, 3) and r.rc != 0


def test_unsigned_files_flag_turns_extras_into_warnings(signed: Path, keys: KeyPair) -> None:
    write(signed / "notes.txt", b"not signed")
    assert run_cli("verify", signed, "--key", keys.public).rc == 1
    r = run_cli(
        "verify", signed, "--key", keys.public, "--allow-unsigned-files", "--format", "json"
    )
    assert r.rc == 0
    assert [(x["code"], x["severity"], x["path"]) for x in r.json()["reasons"]] == [
        ("file.unsigned", "warning", "notes.txt")
    ]


def test_verify_refuses_a_non_utf8_name(signed: Path, keys: KeyPair) -> None:
    with open(os.path.join(os.fsencode(signed), b"\xff\xfe.bin"), "wb") as fh:
        fh.write(b"x")
    r = run_cli("verify", signed, "--key", keys.public, "--format", "json")
    assert r.rc == 1 and r.codes() == ["model.non_utf8_name"]


def test_special_file_in_place_of_a_signed_file(signed: Path, keys: KeyPair) -> None:
    (signed / "weights.json").unlink()
    os.mkfifo(signed / "weights.json")
    r = run_cli("verify", signed, "--key", keys.public, "--format", "json")
    assert r.rc == 1 and r.codes() == ["model.special_file"]


def test_directory_in_place_of_a_signed_file(signed: Path, keys: KeyPair) -> None:
    (signed / "weights.json").unlink()
    write(signed / "weights.json" / "inner.bin", b"x")
    r = run_cli("verify", signed, "--key", keys.public, "--format", "json")
    assert r.rc == 1
    assert sorted(r.codes()) == ["file.missing", "file.unsigned"]


# --- unreadable input: exit 3 (incomplete), never 0 -----------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A world-traversable temp dir (pytest's own are 0700, closed to the unprivileged user)."""
    d = Path(tempfile.mkdtemp(prefix="wg-cli-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _run_unprivileged(*args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """Run the CLI as a user who cannot read 0000 files (root reads everything)."""
    import subprocess
    import sys

    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "weightguard", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_unreadable_file_is_incomplete(shared_tmp: Path, keys: KeyPair) -> None:
    m = ordering_trap_model(shared_tmp / "m")
    pub = shutil.copy(keys.public, shared_tmp / "k.pub.pem")
    assert run_cli("sign", m, "--key", keys.private).rc == 0
    for p in [m, *m.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (m / "weights" / "blob.bin").chmod(0)
    rc, out, err = _run_unprivileged("verify", m, "--key", pub, "--format", "json")
    assert rc == 3, (out, err)
    doc = json.loads(out)
    assert doc["verdict"] == "incomplete" and doc["exit_code"] == 3
    assert [(r["code"], r["path"]) for r in doc["reasons"]] == [
        ("model.unreadable", "weights/blob.bin")
    ]
    (m / "weights").chmod(0o700)  # an unlistable directory
    rc, out, _ = _run_unprivileged("verify", m, "--key", pub, "--format", "json")
    assert rc == 3 and json.loads(out)["reasons"][0]["code"] == "model.unreadable"


def test_file_changed_during_hashing_exits_3(
    signed: Path, keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: the first read of `weights/blob.bin` bumps its mtime, as a writer
    racing the verifier would. Run in-process (click's runner) so the hook applies."""
    from click.testing import CliRunner

    from weightguard import digest as digest_mod
    from weightguard.cli import cli

    target = signed / "weights" / "blob.bin"
    real_readv = os.readv

    def readv(fd: int, buffers: list[memoryview]) -> int:
        if os.fstat(fd).st_ino == target.stat().st_ino:
            st = target.stat()
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000))
        return real_readv(fd, buffers)

    monkeypatch.setattr(digest_mod.os, "readv", readv)
    result = CliRunner().invoke(
        cli, ["verify", str(signed), "--key", str(keys.public), "--format", "json"]
    )
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "incomplete" and doc["exit_code"] == 3
    assert [(r["code"], r["path"]) for r in doc["reasons"]] == [
        ("model.changed_during_hash", "weights/blob.bin")
    ]


def test_key_verification_start_up_stays_lean() -> None:
    """`weightguard verify --key` imports no keyless back end, no X.509, no heavy
    libraries (start-up is a benchmark target: benchmarks/README.md)."""
    import subprocess
    import sys

    from weightguard.cli import sigstore_options
    from weightguard.signing import sigstore

    assert sigstore_options.TOKEN_ENV == sigstore.TOKEN_ENV  # kept import-free on purpose
    code = (
        "import sys\n"
        "from weightguard.cli import cli\n"
        "cli.get_command(None, 'verify')\n"
        "import weightguard.api, weightguard.signing.ec\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sigstore', 'torch', 'numpy', 'safetensors', 'in_toto', 'model_signing', 'pydantic'}"
        " or m in {'weightguard.signing.sigstore', 'cryptography.x509'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
