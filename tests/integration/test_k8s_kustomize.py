"""examples/kubernetes/kustomization.yaml, rendered by the real kustomize (`kubectl kustomize`).

One place for the pins: changing the image and policy digest in the kustomization's `pins`
changes every field that needs them, the policy ConfigMap gets a content-hash name that the
Deployment follows, and the rendered Deployment is admitted by the rendered admission policy.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import podsim
from tests.integration.test_k8s_examples import Admission

KUSTOMIZATION = podsim.K8S / "kustomization.yaml"
NEW_IMAGE = "registry.example.com/weightguard@sha256:" + "ab" * 32


def kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # not a skip: the example must render wherever the tests run
        pytest.fail("kubectl (which embeds kustomize) is needed to render the example")
    out = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pins() -> dict[str, str]:
    doc = yaml.safe_load(KUSTOMIZATION.read_text())
    gen = next(g for g in doc["configMapGenerator"] if g["name"] == "weightguard-pins")
    return dict(lit.split("=", 1) for lit in gen["literals"])


def find(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    assert len(found) == 1, (kind, prefix, found)
    return found[0]


def test_policy_copy_is_the_shipped_policy_and_its_digest_is_pinned() -> None:
    copy = (podsim.K8S / "policy.yaml").read_bytes()
    assert copy == (podsim.REPO / "policies" / "k8s-init.yaml").read_bytes()
    assert pins()["policyDigest"] == "sha256:" + hashlib.sha256(copy).hexdigest()


def test_pins_in_one_place_reach_every_field(tmp_path: Path) -> None:
    work = tmp_path / "k8s"
    shutil.copytree(podsim.K8S, work)
    policy = (work / "policy.yaml").read_text() + "# rotated\n"
    (work / "policy.yaml").write_text(policy)
    digest = "sha256:" + hashlib.sha256(policy.encode()).hexdigest()
    text = KUSTOMIZATION.read_text()
    old = pins()
    text = text.replace(f"image={old['image']}", f"image={NEW_IMAGE}")
    text = text.replace(f"policyDigest={old['policyDigest']}", f"policyDigest={digest}")
    (work / "kustomization.yaml").write_text(text)

    docs = kustomize(work)
    rendered = yaml.safe_dump_all(docs)
    assert old["image"] not in rendered and old["policyDigest"] not in rendered
    assert not [d for d in docs if d["metadata"]["name"] == "weightguard-pins"], "local-config"
    deployment = find(docs, "Deployment", "llm-server")
    spec = podsim.pod_spec(deployment)
    guard = podsim.container(spec, "weightguard")
    assert guard["image"] == NEW_IMAGE and f"--policy-digest={digest}" in guard["args"]
    job = podsim.pod_spec(find(docs, "Job", "llm-release"))
    assert {c["image"] for c in [*job["initContainers"], *job["containers"]]} == {NEW_IMAGE}
    params = find(docs, "ConfigMap", "weightguard-vap-params")
    assert params["data"]["image-current"] == NEW_IMAGE
    assert params["data"]["policyDigest-current"] == digest
    # The policy ConfigMap carries a content hash in its name, and the Deployment follows it.
    cm = find(docs, "ConfigMap", "weightguard-policy-")
    assert cm["data"]["policy.yaml"] == policy
    volume = next(v for v in spec["volumes"] if v["name"] == "weightguard-policy")
    assert volume["configMap"]["name"] == cm["metadata"]["name"] != "weightguard-policy"
    # And what kustomize renders is what admission admits.
    admission = Admission(find(docs, "ValidatingAdmissionPolicy", "weightguard-require-init"))
    assert admission.denials(deployment, params) == []
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    assert admission.denials(pod, params) == []
