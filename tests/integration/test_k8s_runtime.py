"""examples/kubernetes played by a real container runtime: `podman kube play`.

The image is built here (`scripts/image.sh --no-smoke`: installs podman/runc/debootstrap as
root when missing, builds from a debootstrap base cached under /var/cache/weightguard-test,
no network inside the build). Then the example Deployment's pod template runs as a Pod with a
model volume: podman runs init containers first and never starts the app container when one
fails, as the kubelet does.

What is translated for podman 4.3 (Debian bookworm), and why:
- the model PVC becomes a hostPath volume (the test's model folder), still read-only;
- the trust Secret becomes a ConfigMap (kube play's secret volumes need podman secrets), and
  the policy ConfigMap is mounted as a folder at /etc/weightguard instead of with subPath
  (kube play mounts the whole folder for a subPath): the guard sees the same paths;
- the termination message goes to a host folder podman keeps (/dev/termination-log is not
  kept after the container exits); the server is the image running a one-line listing.
Everything else (args, pinned policy digest, security contexts, emptyDir report) is the
example's own. Under CI=true this must run: nothing here skips.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import podsim
from tests.models import add_pickle, flip_last_weight_bit, remove_signature

REPO = podsim.REPO
IMAGE = os.environ.get("WEIGHTGUARD_TEST_IMAGE", "localhost/weightguard:test")
PODMAN = ["podman", "--runtime", "runc"]
SERVER = (
    "import os; print('serving', sorted(os.listdir('/models/llm')),"
    " os.path.exists('/run/weightguard/report.json'))"
)


@pytest.fixture(scope="module")
def image() -> str:
    env = {**os.environ, "IMAGE": IMAGE}
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "image.sh"), "--no-smoke"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return IMAGE


@pytest.fixture(scope="module")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    from weightguard.signing.keys import generate_private_key, private_pem, public_pem

    key = generate_private_key("p256")
    path = tmp_path_factory.mktemp("key") / "release.pem"
    path.write_bytes(private_pem(key))
    return path, public_pem(key.public_key())


@pytest.fixture(scope="module")
def signed_model(tmp_path_factory: pytest.TempPathFactory, release_key: Any) -> Path:
    from weightguard.api import sign
    from weightguard.signing.ec import EcKeySigner

    model = podsim.write_model(tmp_path_factory.mktemp("release") / "llm")
    sign(model, EcKeySigner.from_file(release_key[0]))
    return model


@pytest.fixture()
def pod_dir() -> Iterator[Path]:
    with podsim.pod_root() as root:
        yield root


def _configmap(name: str, files: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {k: v.decode() for k, v in files.items()},
    }


def play(
    root: Path, model: Path, overrides: dict[str, dict[str, bytes]], args: list[str], image: str
) -> dict[str, Any]:
    """Play the example pod; return the guard's and the server's fate."""
    deployment = podsim.find_object("Deployment", "llm-server")
    spec = copy.deepcopy(podsim.pod_spec(deployment))
    name = "wg-" + uuid.uuid4().hex[:10]
    policy_cm, trust_cm = f"{name}-policy", f"{name}-trust"
    term = root / "termination"
    term.mkdir(mode=0o777)
    term.chmod(0o777)
    guard = podsim.container(spec, "weightguard")
    guard["image"] = image
    guard["args"] = [
        "--termination-log=/run/termination/message" if a.startswith("--termination-log=") else a
        for a in args
    ]
    guard["terminationMessagePath"] = "/run/termination/message"
    mounts = [
        m
        for m in guard["volumeMounts"]
        if m["name"] not in {"weightguard-policy", "weightguard-trust"}
    ]
    guard["volumeMounts"] = [
        *mounts,
        # Not readOnly: podman must create trust/ inside it for the next mount.
        {"name": "weightguard-policy", "mountPath": "/etc/weightguard"},
        {"name": "weightguard-trust", "mountPath": "/etc/weightguard/trust", "readOnly": True},
        {"name": "termination", "mountPath": "/run/termination"},
    ]
    server = podsim.container(spec, "server")
    server["image"] = image
    server["command"] = ["/opt/weightguard/bin/python", "-I", "-c", SERVER]
    server.pop("args", None)
    server.pop("ports", None)
    # podsim.container() returns copies: put the translated containers back.
    spec["initContainers"] = [
        guard if c["name"] == "weightguard" else c for c in spec["initContainers"]
    ]
    spec["containers"] = [server if c["name"] == "server" else c for c in spec["containers"]]
    volumes = {v["name"]: v for v in spec["volumes"]}
    volumes["models"] = {"name": "models", "hostPath": {"path": str(model), "type": "Directory"}}
    volumes["weightguard-policy"] = {"name": "weightguard-policy", "configMap": {"name": policy_cm}}
    volumes["weightguard-trust"] = {"name": "weightguard-trust", "configMap": {"name": trust_cm}}
    volumes["termination"] = {
        "name": "termination",
        "hostPath": {"path": str(term), "type": "Directory"},
    }
    spec["volumes"] = list(volumes.values())
    spec["restartPolicy"] = "Never"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    docs = [
        _configmap(policy_cm, overrides.get(podsim.POLICY_VOLUME, {})),
        _configmap(trust_cm, overrides.get(podsim.TRUST_VOLUME, {})),
        pod,
    ]
    manifest = root / "pod.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    try:
        played = subprocess.run(
            [*PODMAN, "kube", "play", "--network", "none", str(manifest)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        out: dict[str, Any] = {"play_rc": played.returncode, "play": played.stdout + played.stderr}
        if played.returncode == 0:
            subprocess.run([*PODMAN, "wait", f"{name}-server"], capture_output=True, timeout=120)
        for ctr in ("weightguard", "server"):
            insp = subprocess.run(
                [
                    *PODMAN,
                    "inspect",
                    f"{name}-{ctr}",
                    "--format",
                    "{{.State.Status}} {{.State.ExitCode}}",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            # A successful init container is removed once it has run.
            out[ctr] = insp.stdout.split() if insp.returncode == 0 else ["removed"]
            logs = subprocess.run(
                [*PODMAN, "logs", f"{name}-{ctr}"], capture_output=True, text=True, timeout=60
            )
            out[f"{ctr}_logs"] = logs.stdout + logs.stderr
        message = term / "message"
        out["message"] = message.read_text() if message.exists() else ""
        return out
    finally:
        subprocess.run([*PODMAN, "pod", "rm", "-f", name], capture_output=True, timeout=120)
        for cm in (policy_cm, trust_cm):
            subprocess.run([*PODMAN, "volume", "rm", "-f", cm], capture_output=True, timeout=60)


def yours(public_pem: bytes) -> tuple[dict[str, dict[str, bytes]], list[str]]:
    spec = podsim.pod_spec(podsim.find_object("Deployment", "llm-server"))
    overrides, guard = podsim.make_it_yours(spec, podsim.container(spec, "weightguard"), public_pem)
    return overrides, guard["args"]


def test_signed_model_starts_the_server(
    image: str, pod_dir: Path, signed_model: Path, release_key: Any
) -> None:
    overrides, args = yours(release_key[1])
    model = pod_dir / "model"
    shutil.copytree(signed_model, model)
    out = play(pod_dir, model, overrides, args, image)
    assert out["play_rc"] == 0, out
    assert out["weightguard"] == ["removed"], out  # ran, exited 0, removed by podman
    assert out["server"] == ["exited", "0"], out
    assert (
        "serving ['config.json', 'model.safetensors', 'model.sig', 'tokenizer.json'] True"
        in out["server_logs"]
    )
    assert out["message"].startswith("weightguard verify: ACCEPTED"), out


def _other_key() -> bytes:
    from weightguard.signing.keys import generate_private_key, public_pem

    return public_pem(generate_private_key("p256").public_key())


# case -> (model mutation, edit of (overrides, args), exit code, reason code in the message)
Edit = Callable[[dict[str, dict[str, bytes]], list[str]], None]


def _shipped_policy(overrides: dict[str, dict[str, bytes]], args: list[str]) -> None:
    """The example's own policy, not the one the args pin."""
    cm = podsim.find_object("ConfigMap", "weightguard-policy")
    overrides[podsim.POLICY_VOLUME] = {"policy.yaml": cm["data"]["policy.yaml"].encode()}


def _wrong_trust(overrides: dict[str, dict[str, bytes]], args: list[str]) -> None:
    trust = overrides[podsim.TRUST_VOLUME]
    overrides[podsim.TRUST_VOLUME] = {k: _other_key() for k in trust}


REFUSED: dict[str, tuple[Callable[[Path], None] | None, Edit | None, int, str]] = {
    "unsigned": (remove_signature, None, 1, "signature.missing"),
    "tampered": (flip_last_weight_bit, None, 1, "file.digest_mismatch"),
    "extra-pickle": (functools.partial(add_pickle, name="extra.pkl"), None, 1, "file.unmatched"),
    "wrong-policy-digest": (None, _shipped_policy, 2, "policy.digest_mismatch"),
    "wrong-trust": (None, _wrong_trust, 2, "policy."),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_model_never_starts_the_server(
    image: str, pod_dir: Path, signed_model: Path, release_key: Any, case: str
) -> None:
    mutate, edit, rc, code = REFUSED[case]
    overrides, args = yours(release_key[1])
    overrides = {k: dict(v) for k, v in overrides.items()}
    if edit:
        edit(overrides, args)
    model = pod_dir / "model"
    shutil.copytree(signed_model, model)
    if mutate:
        mutate(model)
    out = play(pod_dir, model, overrides, args, image)
    assert out["play_rc"] != 0, out
    assert "init container" in out["play"] and f"exited with code {rc}" in out["play"], out
    assert out["weightguard"] == ["exited", str(rc)], out
    assert out["server"][0] == "created", out  # never started
    assert f"(exit {rc}): [{code}" in out["message"], out
    decision = [json.loads(x) for x in out["weightguard_logs"].splitlines() if x.startswith("{")]
    assert decision and decision[-1]["exit_code"] == rc
