"""The Deployment's weightguard init container, run for real with its exact args.

The pod is laid out as the kubelet would mount it (tests/integration/podsim.py): the model
PVC read-only, the trust Secret and policy ConfigMap projected read-only, a writable
emptyDir for the report, the termination-message file pre-created in an unwritable
directory, a read-only HOME and TMPDIR, no network. Each case checks the exit code, the
termination message `kubectl describe` would show, the JSON event log, and that nothing was
written except the report and the termination message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podsim
from tests.models import make_keypair

NAMESPACE = "ml-serving"
REPORT = "/run/weightguard/report.json"


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return podsim.find_object("Deployment", "llm-server")


@pytest.fixture(scope="module")
def guard(deployment: dict[str, Any]) -> dict[str, Any]:
    return podsim.container(podsim.pod_spec(deployment), "weightguard")


@pytest.fixture(scope="module")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_keypair(tmp_path_factory.mktemp("release-key"), "release")


@pytest.fixture(scope="module")
def signed_model_source(tmp_path_factory: pytest.TempPathFactory, release_key: Any) -> Path:
    """A model signed once with the release key (copied into each pod's PVC)."""
    from weightguard.api import sign
    from weightguard.signing.ec import EcKeySigner

    model = podsim.write_model(tmp_path_factory.mktemp("release") / "llm")
    sign(model, EcKeySigner.from_file(release_key.private))
    return model


def model_volume(source: Path, mutate: Any = None) -> podsim.Populate:
    """Fill the PVC with `llm/` copied from `source`, then apply `mutate(llm_dir)`."""

    def populate(pvc: Path) -> None:
        import shutil

        shutil.copytree(source, pvc / "llm")
        if mutate:
            mutate(pvc / "llm")

    return populate


def trust_files(release_key: Any) -> dict[str, bytes]:
    """The trust Secret's content with the test release key's public half."""
    spec = podsim.pod_spec(podsim.find_object("Deployment", "llm-server"))
    return podsim.trust_overrides(spec, release_key.public.read_bytes())[podsim.TRUST_VOLUME]


@pytest.fixture
def pod_root() -> Iterator[Path]:
    with podsim.pod_root() as root:
        yield root


def run_guard(
    root: Path,
    deployment: Mapping[str, Any],
    guard: Mapping[str, Any],
    *,
    volumes: Mapping[str, podsim.Populate],
    overrides: Mapping[str, Mapping[str, bytes]],
) -> tuple[podsim.Run, podsim.PodLayout, set[str]]:
    """Lay the pod out, run the init container, and return what changed on disk."""
    layout = podsim.lay_out_pod(
        root,
        podsim.pod_spec(deployment),
        guard,
        NAMESPACE,
        volumes=volumes,
        overrides=overrides,
    )
    before = podsim.snapshot(root)
    result = podsim.run(layout, guard)
    after = podsim.snapshot(root)
    return result, layout, podsim.changed(before, after)


def events(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line must be one JSON event."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) and "event" in e and "ts" in e for e in parsed), stderr
    return parsed


def allowed_changes(layout: podsim.PodLayout, root: Path) -> set[str]:
    """The only paths the gate may change: the report and the termination message."""
    term = layout.files[podsim.DEFAULT_TERMINATION_PATH]
    return {
        layout.host(REPORT).relative_to(root).as_posix(),
        term.relative_to(root).as_posix(),
    }


def test_signed_model_passes_and_writes_only_the_report(
    pod_root: Path, deployment: Any, guard: Any, release_key: Any, signed_model_source: Path
) -> None:
    result, layout, diff = run_guard(
        pod_root,
        deployment,
        guard,
        volumes={"models": model_volume(signed_model_source)},
        overrides={"weightguard-trust": trust_files(release_key)},
    )
    assert result.rc == 0, result.stderr
    assert diff <= allowed_changes(layout, pod_root), diff
    report = json.loads(layout.host(REPORT).read_text())
    assert report["verdict"] == "accepted"
    assert report["exit_code"] == 0
    assert report["model"]["root_digest"].startswith("sha256:")
    assert result.termination_message.startswith("weightguard verify: ACCEPTED (exit 0): ")
    assert report["model"]["root_digest"] in result.termination_message
    log = events(result.stderr)
    assert log[0]["event"] == "start"
    assert log[-1]["event"] == "decision"
    assert log[-1]["exit_code"] == 0


def _unsign(model: Path) -> None:
    (model / "model.sig").unlink()


def _tamper(model: Path) -> None:
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("case", "mutate", "trust", "rc", "code"),
    [
        pytest.param("unsigned", _unsign, "release", 1, "signature.missing", id="unsigned"),
        pytest.param("tampered", _tamper, "release", 1, "file.digest_mismatch", id="tampered"),
        pytest.param("trust-missing", None, "none", 2, "key.invalid", id="trust-root-missing"),
        pytest.param(
            "example-key", None, "example", 1, "signer.untrusted_key", id="example-key-as-shipped"
        ),
    ],
)
def test_refused_pod_never_starts(
    pod_root: Path,
    deployment: Any,
    guard: Any,
    release_key: Any,
    signed_model_source: Path,
    case: str,
    mutate: Any,
    trust: str,
    rc: int,
    code: str,
) -> None:
    overrides: dict[str, Mapping[str, bytes]] = {}
    if trust == "release":
        overrides["weightguard-trust"] = trust_files(release_key)
    elif trust == "none":
        overrides["weightguard-trust"] = {}
    result, layout, diff = run_guard(
        pod_root,
        deployment,
        guard,
        volumes={"models": model_volume(signed_model_source, mutate)},
        overrides=overrides,
    )
    assert result.rc == rc, (case, result.rc, result.stderr)
    message = result.termination_message
    assert message.endswith("\n") and message.count("\n") == 1, message
    assert len(message.encode()) <= 4096
    assert f"(exit {rc}): [{code}" in message, message
    assert diff <= allowed_changes(layout, pod_root), diff
    log = events(result.stderr)
    assert log[-1]["exit_code"] == rc
    assert log[-1]["event"] in {"decision", "error"}
    report = layout.host(REPORT)
    if report.exists():  # rejections are reported in full; configuration errors are not
        assert json.loads(report.read_text())["verdict"] == "rejected"


def test_unwritable_report_dir_fails_closed(
    pod_root: Path, deployment: Any, guard: Any, release_key: Any, signed_model_source: Path
) -> None:
    """If the report cannot be written the gate must not pass (exit 3), even for a good model."""
    layout = podsim.lay_out_pod(
        pod_root,
        podsim.pod_spec(deployment),
        guard,
        NAMESPACE,
        volumes={"models": model_volume(signed_model_source)},
        overrides={"weightguard-trust": trust_files(release_key)},
    )
    layout.host("/run/weightguard").chmod(0o555)
    result = podsim.run(layout, guard)
    assert result.rc == 3, result.stderr
    assert "[output.unwritable]" in result.termination_message
