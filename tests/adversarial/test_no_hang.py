"""Class 11 (no hang): a FIFO, a device or an oversized file where weightguard expects a
bundle, a policy, a key or a certificate ends in a one-line error, never a hang.

Attacker: writes the model volume (and, for mounted config, whatever it can reach): a
FIFO at `model.sig` or in `model.sig.d/`, a symlink to `/dev/zero`, a FIFO passed as
`--policy`/`--key`/`--cert-root`. Before the fix (main e769f51) a plain `read_bytes()`
blocked forever on every FIFO case here: `verify M --key K` with `M/model.sig` a FIFO,
`--key FIFO`, `--policy FIFO` (and with `--policy-digest`) all hit the 10 s timeout.
Root cause: files were opened with a blocking `open()` and no type or size check.
Fix: `weightguard.untrusted.read_regular` (O_NONBLOCK open, fstat S_ISREG, size cap).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.policy.kit import Kit, default_model, make_kit

TIMEOUT = 20  # seconds: a hang shows up as TimeoutExpired, long before pytest's patience
SPEC = "  rules:\n  - name: all\n    paths: ['**']\n    signatures: {anyOf: [team-a]}\n"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("nohang-kit"))


def run(*args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """The real CLI in a subprocess; fails the test if it does not end in time."""
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "weightguard", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"weightguard {' '.join(map(str, args))} hung (> {TIMEOUT} s)")
    assert time.monotonic() - start < TIMEOUT
    return proc.returncode, proc.stdout, proc.stderr


def _one_error_line(stderr: str, needle: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("weightguard: error:")]
    assert len(lines) == 1, stderr
    assert needle in lines[0], stderr
    assert "Traceback" not in stderr


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def test_fifo_as_model_sig(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    fifo(model / "model.sig")
    rc, out, err = run("verify", model, "--key", kit.keys / "team-a.pub.pem")
    assert rc == 3, (out, err)
    assert "not a regular file (a FIFO)" in out


def test_fifo_as_signature_flag_with_policy(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    kit.sign(model, "team-a")
    policy = kit.policy(tmp_path / "p", SPEC)
    sig = fifo(tmp_path / "extra.sig")
    rc, out, err = run("verify", model, "--policy", policy, "--signature", sig)
    assert rc in (1, 3), (out, err)
    assert "Traceback" not in err


def test_fifo_in_model_sig_d_with_policy(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    kit.sign(model, "team-a")
    fifo(model / "model.sig.d" / "team-b.sig")
    policy = kit.policy(tmp_path / "p", SPEC)
    rc, out, err = run("verify", model, "--policy", policy)
    assert rc in (0, 1, 3), (out, err)  # never a hang; the FIFO is not evidence
    assert "Traceback" not in err


def test_fifo_as_attestation(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    kit.sign(model, "team-a")
    policy = kit.policy(tmp_path / "p", SPEC)
    rc, out, err = run("verify", model, "--policy", policy, "--attestation", fifo(tmp_path / "a"))
    assert rc in (1, 3), (out, err)
    assert "Traceback" not in err


def test_fifo_as_policy(tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    rc, _, err = run("verify", model, "--policy", fifo(tmp_path / "policy.yaml"))
    assert rc == 2
    _one_error_line(err, "not a regular file (a FIFO)")


def test_fifo_as_pinned_policy(tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    pin = "sha256:" + "0" * 64
    rc, _, err = run("verify", model, "--policy", fifo(tmp_path / "p.yaml"), "--policy-digest", pin)
    assert rc == 2
    _one_error_line(err, "not a regular file (a FIFO)")


def test_fifo_as_policy_lint(tmp_path: Path) -> None:
    rc, _, err = run("policy", "lint", fifo(tmp_path / "policy.yaml"))
    assert rc == 2, err
    assert "Traceback" not in err


def test_fifo_as_key(tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    rc, _, err = run("verify", model, "--key", fifo(tmp_path / "k.pem"))
    assert rc == 2
    _one_error_line(err, "not a regular file (a FIFO)")


def test_fifo_as_cert_root(tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    rc, _, err = run("verify", model, "--cert-root", fifo(tmp_path / "root.pem"))
    assert rc == 2
    _one_error_line(err, "not a regular file (a FIFO)")


def test_fifo_as_trust_file_named_by_policy(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    policy = kit.policy(tmp_path / "p", SPEC)
    trust = tmp_path / "p" / "trust" / "team-b.pub.pem"
    trust.unlink()
    fifo(trust)
    rc, _, err = run("verify", model, "--policy", policy)
    assert rc == 2, err
    _one_error_line(err, "not a regular file (a FIFO)")


def test_model_sig_symlink_to_dev_zero(kit: Kit, tmp_path: Path) -> None:
    model = default_model(tmp_path / "m")
    (model / "model.sig").symlink_to("/dev/zero")
    rc, out, err = run("verify", model, "--key", kit.keys / "team-a.pub.pem")
    assert rc in (1, 3), (out, err)
    assert "character device" in out or "symlink" in out, out


def test_oversized_model_sig(kit: Kit, tmp_path: Path) -> None:
    """A sparse 1 GiB 'bundle' costs no disk; reading it whole would cost the memory."""
    model = default_model(tmp_path / "m")
    with open(model / "model.sig", "wb") as fh:
        fh.truncate(1 << 30)
    rc, out, err = run("verify", model, "--key", kit.keys / "team-a.pub.pem")
    assert rc == 3, (out, err)
    assert "larger than the 64 MiB limit" in out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # in_toto_run, test side only
def test_fifo_as_in_toto_link(kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """in-toto opens link files with a blocking open(): a FIFO link hung the gate."""
    pytest.importorskip("in_toto")
    from tests.unit.policy import test_layout as layouts

    model = tmp_path / "model"
    layouts.run_chain(kit, tmp_path / "work", model, monkeypatch)
    for link in (model / "model.sig.d" / "in-toto").glob("convert.*"):
        link.unlink()
        fifo(link)
    kit.sign(model, "team-a")
    layout = layouts.write_layout(kit, tmp_path / "root.layout")
    policy = layouts.layout_policy(kit, tmp_path / "p", layout)
    rc, out, err = run("verify", model, "--policy", policy)
    assert rc == 3, (out, err)
    assert "layout.links_unreadable" in out
