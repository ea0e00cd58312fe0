"""Keyless end to end through the CLI: `weightguard sign --sigstore` against the local fake
Fulcio/Rekor/OIDC stack (tests/fake_sigstore.py), then `weightguard verify --sigstore-identity …`
offline: no network, a read-only HOME that stays empty, JSON naming identity, issuer,
log index, verified time and the trusted root used."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sigstore", reason="sigstore extra not installed")

from click.testing import CliRunner  # noqa: E402

from tests.fake_sigstore import FakeSigstore  # noqa: E402
from tests.models import run_cli  # noqa: E402
from weightguard.cli import cli  # noqa: E402

ISSUER = "https://idp.weightguard.test"
WORKFLOW = "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.2.0"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class Stack:
    """tests/fake_sigstore.py's IdP + Fulcio + Rekor, served on loopback from a thread."""

    def __init__(self, workdir: Path) -> None:
        fake = FakeSigstore(ISSUER).start()
        self.idp, self.stop = fake.idp, fake.stop
        self.trust_config, self.trusted_root = fake.write(workdir)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fake = Stack(tmp_path_factory.mktemp("fake-sigstore"))
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def model(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model signed keyless through the real CLI entry point (a subprocess)."""
    root = tmp_path_factory.mktemp("keyless-cli") / "model"
    (root / "tokenizer").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(b"\x08" + bytes(511))
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    token = stack.idp.token(WORKFLOW)
    result = run_cli(
        "sign", root, "--sigstore", "--identity-token", token, "--trust-config", stack.trust_config
    )
    assert result.rc == 0, result.stderr
    assert "wrote" in result.stdout and (root / "model.sig").is_file()
    return root


@pytest.fixture
def readonly_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield home
    home.chmod(stat.S_IRWXU)
    assert list(home.rglob("*")) == [], "verify wrote into HOME"


def offline_env(home: Path) -> dict[str, str]:
    # Any HTTP(S) attempt would go to a dead loopback proxy and fail loudly.
    dead = "http://127.0.0.1:9"
    return {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "http_proxy": dead,
        "https_proxy": dead,
        "NO_PROXY": "",
    }


def test_keyless_sign_then_offline_verify_subprocess(
    stack: Stack, model: Path, readonly_home: Path
) -> None:
    for trust in (["--trust-config", stack.trust_config], ["--trusted-root", stack.trusted_root]):
        result = run_cli(
            "verify", model, "--sigstore-identity", WORKFLOW, "--sigstore-issuer", ISSUER,
            *trust, "--format", "json", env=offline_env(readonly_home), cwd=readonly_home,
        )  # fmt: skip
        assert result.rc == 0, result.stderr + result.stdout
        report = json.loads(result.stdout)
        assert report["verdict"] == "accepted"
        signer = report["signer"]
        assert signer["kind"] == "sigstore"
        assert signer["identity"] == WORKFLOW
        assert signer["issuer"] == ISSUER
        assert isinstance(signer["log_index"], int)
        assert signer["verified_time"] == signer["integrated_time"]
        assert signer["verified_times"][0]["source"] == "transparency_log"
        assert report["trusted_root"]["source"] == "file"
        assert report["trusted_root"]["path"] == str(trust[1])
        assert report["trusted_root"]["age_days"] is not None


def test_text_output_names_issuer_log_index_and_time(
    stack: Stack, model: Path, readonly_home: Path
) -> None:
    result = run_cli(
        "verify", model, "--sigstore-identity-glob",
        "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v*",
        "--sigstore-issuer", ISSUER, "--trusted-root", stack.trusted_root,
        env=offline_env(readonly_home), cwd=readonly_home,
    )  # fmt: skip
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("ACCEPTED")
    assert f"signer: sigstore {WORKFLOW}" in result.stdout
    assert f"issuer: {ISSUER}; log index" in result.stdout and "(verified)" in result.stdout


# ---- in-process runs: the network is blocked at the socket level ------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, readonly_home: Path) -> Path:
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if self.family != socket.AF_UNIX and host not in _LOOPBACK:
            raise OSError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(f"DNS blocked in tests: {host!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("HOME", str(readonly_home))
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(readonly_home)
    return readonly_home


def invoke(*args: Any) -> tuple[int, dict[str, Any] | None, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        doc = None
    return result.exit_code, doc, result.stderr


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (["--sigstore-identity", "https://github.com/acme/models/.github/workflows/evil.yml@refs/tags/v1.2.0"],
         "signer.identity_mismatch"),
        (["--sigstore-identity-glob", "https://github.com/acme/*"], "signer.identity_mismatch"),  # `*` vs `/`
        (["--sigstore-identity-regex", "https://github.com/acme/.*@refs/heads/.*"], "signer.identity_mismatch"),
        (["--sigstore-identity", WORKFLOW, "--sigstore-source-repository", "https://github.com/acme/models"],
         "signer.extension_mismatch"),
        (["--sigstore-identity", WORKFLOW, "--sigstore-extension", "buildTrigger=push"], "signer.extension_mismatch"),
    ],
)  # fmt: skip
def test_policy_rejections(
    stack: Stack, model: Path, no_network: Path, options: list[str], code: str
) -> None:
    rc, doc, _ = invoke(
        "verify", model, *options, "--sigstore-issuer", ISSUER,
        "--trusted-root", stack.trusted_root, "--format", "json",
    )  # fmt: skip
    assert rc == 1 and doc is not None
    assert [r["code"] for r in doc["reasons"]] == [code]
    assert doc["trusted_root"]["path"] == str(stack.trusted_root)


def test_wrong_issuer_and_regex(stack: Stack, model: Path, no_network: Path) -> None:
    rc, doc, _ = invoke(
        "verify", model, "--sigstore-identity", WORKFLOW, "--sigstore-issuer",
        "https://token.actions.githubusercontent.com", "--trust-config", stack.trust_config, "--format", "json",
    )  # fmt: skip
    assert rc == 1 and doc is not None
    assert [r["code"] for r in doc["reasons"]] == ["signer.issuer_mismatch"]
    rc, doc, _ = invoke(
        "verify", model, "--sigstore-identity-regex", r"https://github\.com/acme/[^/]+/\.github/workflows/release\.yml@refs/tags/v[0-9.]+",
        "--sigstore-issuer", ISSUER, "--trust-config", stack.trust_config, "--format", "json",
    )  # fmt: skip
    assert rc == 0 and doc is not None and doc["verdict"] == "accepted"


def test_production_root_rejects_the_private_instance(model: Path, no_network: Path) -> None:
    rc, doc, _ = invoke(
        "verify",
        model,
        "--sigstore-identity",
        WORKFLOW,
        "--sigstore-issuer",
        ISSUER,
        "--format",
        "json",
    )
    assert rc == 1 and doc is not None
    assert [r["code"] for r in doc["reasons"]] == ["signature.untrusted_root"]
    root = doc["trusted_root"]
    assert root["source"] == "embedded:production" and root["age_days"] >= 0
    assert root["sigstore_version"]
    rc, doc, _ = invoke(
        "verify",
        model,
        "--sigstore-identity",
        WORKFLOW,
        "--sigstore-issuer",
        ISSUER,
        "--staging",
        "--format",
        "json",
    )
    assert rc == 1 and doc is not None and doc["trusted_root"]["source"] == "embedded:staging"


@pytest.mark.parametrize(
    "args",
    [
        ["--sigstore-identity", WORKFLOW],  # no issuer
        ["--sigstore-issuer", ISSUER],  # no identity
        [
            "--sigstore-identity",
            WORKFLOW,
            "--sigstore-identity-glob",
            "x*",
            "--sigstore-issuer",
            ISSUER,
        ],
        [
            "--sigstore-identity",
            WORKFLOW,
            "--sigstore-issuer",
            ISSUER,
            "--staging",
            "--trusted-root",
            "x.json",
        ],
        ["--sigstore-identity", WORKFLOW, "--sigstore-issuer", ISSUER, "--key", "k.pem"],
        [
            "--sigstore-identity",
            WORKFLOW,
            "--sigstore-issuer",
            ISSUER,
            "--sigstore-extension",
            "sourceRepo=x",
        ],
        [
            "--sigstore-identity",
            WORKFLOW,
            "--sigstore-issuer",
            ISSUER,
            "--sigstore-extension",
            "novalue",
        ],
        ["--sigstore-identity-glob", "https://x/**", "--sigstore-issuer", ISSUER],
        ["--sigstore-identity-regex", "(", "--sigstore-issuer", ISSUER],
        [
            "--sigstore-identity",
            WORKFLOW,
            "--sigstore-issuer",
            ISSUER,
            "--trusted-root",
            "missing.json",
        ],
        ["--trusted-root", "x.json"],
    ],
)
def test_verify_usage_errors_exit_2(model: Path, no_network: Path, args: list[str]) -> None:
    rc, _, err = invoke("verify", model, *args)
    assert rc == 2, err
    assert err.startswith("weightguard: error:") and len(err.strip().splitlines()) <= 2


@pytest.mark.parametrize(
    "args",
    [
        ["--sigstore", "--key", "k.pem"],
        ["--identity-token", "abc"],  # token without --sigstore
        ["--staging"],
        ["--sigstore", "--identity-token", "not-a-jwt"],
        ["--sigstore", "--staging", "--trust-config", "x.json", "--identity-token", "abc"],
    ],
)
def test_sign_usage_errors_exit_2(
    stack: Stack, tmp_path: Path, no_network: Path, args: list[str]
) -> None:
    target = tmp_path / "m.bin"
    target.write_bytes(b"w")
    args = [a if a != "x.json" else str(stack.trust_config) for a in args]
    if "--sigstore" in args and "--staging" not in args:
        args += ["--trust-config", str(stack.trust_config)]
    rc, _, err = invoke("sign", target, *args)
    assert rc == 2, err
    assert not (tmp_path / "m.bin.sig").exists()
