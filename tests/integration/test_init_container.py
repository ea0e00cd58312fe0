"""The Deployment's weightguard init container, run for real with its args.

The pod is laid out as the kubelet would mount it (tests/integration/podsim.py): the model
PVC read-only, the policy ConfigMap (subPath) and trust Secret projected read-only, a
writable emptyDir for the report, the termination-message file pre-created in an unwritable
directory, a read-only root filesystem, HOME and TMPDIR, uid 65532, no network. Each case
checks the exit code, the termination message `kubectl describe` would show, the JSON event
log, and that nothing was written except the report and the termination message.

The shipped example trusts a key whose private half does not exist, so it refuses every model
(tested as shipped, args untouched). The other cases first apply the README's "make it
yours" step for a test key: that key in the trust Secret, its id in the policy, the policy's
new digest in `--policy-digest`; the args are otherwise exactly the Deployment's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podsim
from tests.models import add_pickle, flip_last_weight_bit, make_keypair, remove_signature

NAMESPACE = "ml-serving"
REPORT = "/run/weightguard/report.json"


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return podsim.find_object("Deployment", "llm-server")


@pytest.fixture(scope="module")
def spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return podsim.pod_spec(deployment)


@pytest.fixture(scope="module")
def guard(spec: dict[str, Any]) -> dict[str, Any]:
    return podsim.container(spec, "weightguard")


@pytest.fixture(scope="module")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_keypair(tmp_path_factory.mktemp("release-key"), "release")


@pytest.fixture(scope="module")
def yours(
    spec: dict[str, Any], guard: dict[str, Any], release_key: Any
) -> tuple[dict[str, dict[str, bytes]], dict[str, Any]]:
    """(volume overrides, container) after the README's trust-and-policy step."""
    return podsim.make_it_yours(spec, guard, release_key.public.read_bytes(), NAMESPACE)


@pytest.fixture(scope="module")
def signed_model_source(tmp_path_factory: pytest.TempPathFactory, release_key: Any) -> Path:
    """A model signed once with the release key (copied into each pod's PVC)."""
    from weightguard.api import sign
    from weightguard.signing.ec import EcKeySigner

    model = podsim.write_model(tmp_path_factory.mktemp("release") / "llm")
    sign(model, EcKeySigner.from_file(release_key.private))
    return model


def model_volume(source: Path, mutate: Callable[[Path], None] | None = None) -> podsim.Populate:
    """Fill the PVC (mounted whole at /models/llm) from `source`, then apply `mutate(pvc)`."""

    def populate(pvc: Path) -> None:
        shutil.copytree(source, pvc, dirs_exist_ok=True)
        if mutate:
            mutate(pvc)

    return populate


@pytest.fixture
def pod_root() -> Iterator[Path]:
    with podsim.pod_root() as root:
        yield root


def run_guard(
    root: Path,
    spec: Mapping[str, Any],
    ctr: Mapping[str, Any],
    *,
    volumes: Mapping[str, podsim.Populate],
    overrides: Mapping[str, Mapping[str, bytes]],
) -> tuple[podsim.Run, podsim.PodLayout, set[str]]:
    """Lay the pod out, run the init container, and return what changed on disk."""
    layout = podsim.lay_out_pod(root, spec, ctr, NAMESPACE, volumes=volumes, overrides=overrides)
    before = podsim.snapshot(root)
    result = podsim.run(layout, ctr)
    after = podsim.snapshot(root)
    return result, layout, podsim.changed(before, after)


def events(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line must be one JSON event."""
    parsed = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert parsed, "no events"
    assert all(isinstance(e, dict) and "event" in e and "ts" in e for e in parsed), stderr
    return parsed


def allowed_changes(layout: podsim.PodLayout, root: Path) -> set[str]:
    """The only paths the gate may change: the report and the termination message."""
    term = layout.files[podsim.DEFAULT_TERMINATION_PATH]
    return {
        layout.host(REPORT).relative_to(root).as_posix(),
        term.relative_to(root).as_posix(),
    }


def test_only_the_policy_pin_differs_from_the_shipped_args(
    guard: dict[str, Any], yours: tuple[Any, dict[str, Any]]
) -> None:
    _, ctr = yours
    differing = [(a, b) for a, b in zip(guard["args"], ctr["args"]) if a != b]
    assert len(ctr["args"]) == len(guard["args"])
    assert len(differing) == 1 and differing[0][0].startswith("--policy-digest=")


def test_signed_model_passes_and_writes_only_the_report(
    pod_root: Path, spec: Any, yours: Any, signed_model_source: Path
) -> None:
    overrides, ctr = yours
    result, layout, diff = run_guard(
        pod_root,
        spec,
        ctr,
        volumes={"models": model_volume(signed_model_source)},
        overrides=overrides,
    )
    assert result.rc == 0, result.stderr
    assert diff <= allowed_changes(layout, pod_root), diff
    report = json.loads(layout.host(REPORT).read_text())
    assert report["verdict"] == "accepted" and report["exit_code"] == 0
    assert report["model"]["root_digest"].startswith("sha256:")
    pin = next(a for a in ctr["args"] if a.startswith("--policy-digest="))
    assert report["policy"]["digest"] == pin.split("=", 1)[1]
    assert result.termination_message.startswith("weightguard verify: ACCEPTED (exit 0): ")
    assert report["model"]["root_digest"] in result.termination_message
    log = events(result.stderr)
    assert [e["event"] for e in log[:2]] == ["start", "policy_pinned"]
    assert log[-1]["event"] == "decision" and log[-1]["exit_code"] == 0
    assert log[-1]["policy_digest"] == report["policy"]["digest"]


# case id -> (model mutation, volume override edits, exit code, reason code prefix)
CASES: dict[str, tuple[Callable[[Path], None] | None, dict[str, Any], int, str]] = {
    "unsigned": (remove_signature, {}, 1, "signature.missing"),
    "tampered": (flip_last_weight_bit, {}, 1, "file.digest_mismatch"),
    "unsigned-extra-file": (add_pickle, {}, 1, "file.unmatched"),
    "policy-missing": (None, {podsim.POLICY_VOLUME: {}}, 2, "policy.missing"),
    "trust-root-missing": (None, {podsim.TRUST_VOLUME: {}}, 2, "policy.trust_unreadable"),
    "policy-digest-mismatch": (
        None,
        {podsim.POLICY_VOLUME: "shipped"},
        2,
        "policy.digest_mismatch",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_pod_never_starts(
    pod_root: Path,
    spec: Any,
    yours: Any,
    signed_model_source: Path,
    case: str,
) -> None:
    mutate, edits, rc, code = CASES[case]
    overrides, ctr = yours
    overrides = dict(overrides)
    for volume, files in edits.items():
        if files == "shipped":  # the example's own policy, not the one the args pin
            overrides.pop(volume)
        else:
            overrides[volume] = files
    result, layout, diff = run_guard(
        pod_root,
        spec,
        ctr,
        volumes={"models": model_volume(signed_model_source, mutate)},
        overrides=overrides,
    )
    assert result.rc == rc, (case, result.rc, result.stderr)
    message = result.termination_message
    assert message.endswith("\n") and message.count("\n") == 1, message
    assert len(message.encode()) <= podsim_limit()
    assert f"(exit {rc}): [{code}" in message, message
    assert diff <= allowed_changes(layout, pod_root), diff
    log = events(result.stderr)
    assert log[-1]["exit_code"] == rc
    assert log[-1]["event"] in {"decision", "error"}
    report = layout.host(REPORT)
    # Every outcome is reported in full (issue 14): rejections and configuration errors.
    assert json.loads(report.read_text())["verdict"] == ("rejected" if rc == 1 else "error")


def podsim_limit() -> int:
    from weightguard.cli.runtime import TERMINATION_MESSAGE_LIMIT

    return TERMINATION_MESSAGE_LIMIT


def test_example_as_shipped_refuses_every_model(
    pod_root: Path, spec: Any, guard: Any, signed_model_source: Path
) -> None:
    """Exact args, exact ConfigMap and Secret: the example key signs nothing anyone has."""
    result, layout, diff = run_guard(
        pod_root, spec, guard, volumes={"models": model_volume(signed_model_source)}, overrides={}
    )
    assert result.rc == 1, result.stderr
    assert "REJECTED (exit 1)" in result.termination_message
    assert diff <= allowed_changes(layout, pod_root), diff


def test_unwritable_report_dir_fails_closed(
    pod_root: Path, spec: Any, yours: Any, signed_model_source: Path
) -> None:
    """If the report cannot be written the gate must not pass (exit 3), even for a good model."""
    overrides, ctr = yours
    layout = podsim.lay_out_pod(
        pod_root,
        spec,
        ctr,
        NAMESPACE,
        volumes={"models": model_volume(signed_model_source)},
        overrides=overrides,
    )
    layout.host("/run/weightguard").chmod(0o555)
    result = podsim.run(layout, ctr)
    assert result.rc == 3, result.stderr
    assert "[output.unwritable]" in result.termination_message


# --- release -> deploy: the Job's steps, then the init container on what they produced ----


@pytest.mark.torch
def test_release_job_output_is_what_the_init_container_accepts(
    pod_root: Path, spec: Any, yours: Any, tmp_path: Path
) -> None:
    """scan-checkpoint, convert and sign run with release-job.yaml's exact args, in order,
    on shared volumes; the signed release directory then passes the Deployment's gate."""
    torch = pytest.importorskip("torch")
    from tests.integration.cli_lines import NotBuilt, dry_parse

    job = podsim.find_object("Job", "llm-release")
    job_spec = podsim.pod_spec(job)
    steps = [*job_spec["initContainers"], *job_spec["containers"]]
    try:
        for step in steps:
            dry_parse(step["args"])
    except NotBuilt as exc:
        pytest.skip(f"`weightguard {exc}` is not built in this checkout yet")

    overrides, guard = yours
    key = make_keypair(tmp_path / "keys", "release")
    password = "correct horse battery staple"
    from cryptography.hazmat.primitives import serialization

    from weightguard.signing.keys import load_private_key

    encrypted = load_private_key(key.private).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )
    shared = {
        "checkpoints": pod_root / "shared" / "checkpoints",
        "release": pod_root / "shared" / "release",
    }
    checkpoint = shared["checkpoints"] / "llm" / "pytorch_model.bin"
    checkpoint.parent.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    torch.save(
        {"embed.weight": torch.randn(16, 8, generator=generator), "head.bias": torch.zeros(16)},
        checkpoint,
    )
    published = shared["release"] / "llm"
    published.mkdir(parents=True)
    (published / "config.json").write_text('{"architectures": ["TinyLM"]}\n')
    for directory in (shared["release"], published):
        directory.chmod(0o777)  # the release claim is the pod's to write (fsGroup)
    secrets = {
        "signing-key": {"release.pem": encrypted},
        "weightguard-signing-key": {"password": password.encode()},
    }
    for step in steps:
        layout = podsim.lay_out_pod(
            pod_root / f"step-{step['name']}",
            job_spec,
            step,
            job["metadata"]["namespace"],
            overrides=secrets,
            shared=shared,
        )
        result = podsim.run(layout, step)
        assert result.rc == 0, (step["name"], result.stdout, result.stderr)
    assert (published / "model.safetensors").is_file() and (published / "model.sig").is_file()
    assert json.loads((shared["release"] / "scan-checkpoint.json").read_text())

    # Deploy: the published directory is the serving model; the gate trusts the release key.
    overrides, guard = podsim.make_it_yours(spec, guard, key.public.read_bytes(), NAMESPACE)
    result, layout, diff = run_guard(
        pod_root / "serve",
        spec,
        guard,
        volumes={"models": lambda pvc: shutil.copytree(published, pvc, dirs_exist_ok=True)},
        overrides=overrides,
    )
    assert result.rc == 0, result.stderr
    assert diff <= allowed_changes(layout, pod_root / "serve"), diff
