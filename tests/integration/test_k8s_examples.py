"""examples/kubernetes: schema-valid offline, admission CEL evaluated, args that really parse.

- every object validates strictly against the bundled Kubernetes OpenAPI schemas
  (`kubernetes-validate`, no network) for the oldest version the example supports (1.30:
  ValidatingAdmissionPolicy is GA there) and the newest the package ships;
- the ValidatingAdmissionPolicy's CEL (variables, then validations) is evaluated with
  cel-python against the example Deployment, the Pod it creates, and one denied variant per
  rule, asserting exactly which rules deny;
- every weightguard container's args parse with the real CLI, and the pieces agree with each
  other (pinned image, trust Secret, namespaces).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration import podsim
from tests.integration.cli_lines import NotBuilt, dry_parse

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install '.[test]'")
celpy = pytest.importorskip("celpy", reason="cel-python is in the test extra")

FILES = podsim.manifest_files()
OLDEST, NEWEST = "1.30.0", kubernetes_validate.latest_version()
CLUSTER_SCOPED = {"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def objects() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, doc) for p in FILES for doc in podsim.load_all(p)]


def test_examples_exist() -> None:
    names = {p.name for p in FILES}
    assert {"deployment.yaml", "admission-policy.yaml", "release-job.yaml"} <= names
    assert (podsim.K8S / "README.md").is_file()


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize(
    ("filename", "obj"),
    objects(),
    ids=[f"{f}:{o['kind']}/{o['metadata']['name']}" for f, o in objects()],
)
def test_manifest_is_schema_valid(filename: str, obj: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(obj, version, strict=True)
    if obj["kind"] not in CLUSTER_SCOPED:
        assert obj["metadata"].get("namespace"), f"{filename}: namespace it explicitly"


def test_strict_validation_catches_a_misspelled_field() -> None:
    """The validator really is strict and offline (a typo is an error, not a pass)."""
    deployment = copy.deepcopy(podsim.find_object("Deployment", "llm-server"))
    guard = podsim.container(deployment["spec"]["template"]["spec"], "weightguard")
    deployment["spec"]["template"]["spec"]["initContainers"] = [{**guard, "readonly": True}]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, OLDEST, strict=True)


# --- the admission policy, evaluated ------------------------------------------------------

VAP = podsim.find_object("ValidatingAdmissionPolicy", "weightguard-require-init")
PARAMS = podsim.find_object("ConfigMap", "weightguard-vap-params")
BINDING = podsim.find_object("ValidatingAdmissionPolicyBinding", "weightguard-require-init")


class Admission:
    """The policy's CEL programs, compiled once."""

    def __init__(self, policy: dict[str, Any]) -> None:
        env = celpy.Environment()
        self.variables = [
            (v["name"], env.program(env.compile(v["expression"])))
            for v in policy["spec"]["variables"]
        ]
        self.validations = [
            (" ".join(v["message"].split()), env.program(env.compile(v["expression"])))
            for v in policy["spec"]["validations"]
        ]
        self.conditions = [
            env.program(env.compile(c["expression"]))
            for c in policy["spec"].get("matchConditions", [])
        ]

    def denials(
        self,
        obj: dict[str, Any],
        params: dict[str, Any] = PARAMS,
        old: dict[str, Any] | None = None,
    ) -> list[str]:
        """Messages of every validation that is not exactly true (an error also denies).

        With `old`, the request is an UPDATE from `old` to `obj`; a matchCondition that is
        false means the policy does not apply (nothing is denied), as in the API server.
        """
        from celpy import celtypes

        request = {"operation": "UPDATE" if old is not None else "CREATE"}
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(obj),
            "oldObject": celpy.json_to_cel(old),
            "request": celpy.json_to_cel(request),
            "params": celpy.json_to_cel(params),
        }
        for condition in self.conditions:
            matched = condition.evaluate(activation)
            assert isinstance(matched, celtypes.BoolType), matched
            if not matched:
                return []
        values: dict[Any, Any] = {}
        for name, program in self.variables:
            activation["variables"] = celtypes.MapType(values)
            values[celtypes.StringType(name)] = program.evaluate(activation)
        activation["variables"] = celtypes.MapType(values)
        denied = []
        for message, program in self.validations:
            try:
                result = program.evaluate(activation)
            except Exception:  # an evaluation error denies under failurePolicy: Fail
                result = None
            if not (isinstance(result, celtypes.BoolType) and bool(result)):
                denied.append(message)
        return denied


ADMISSION = Admission(VAP)
DEPLOYMENT = podsim.find_object("Deployment", "llm-server")


def deployment_pod() -> dict[str, Any]:
    """The Pod the Deployment's ReplicaSet would create."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "llm-server-abc12", "namespace": "ml-serving"},
        "spec": copy.deepcopy(DEPLOYMENT["spec"]["template"]["spec"]),
    }


def message(fragment: str) -> str:
    """The one validation message containing `fragment`."""
    found = [m for m, _ in ADMISSION.validations if fragment in m]
    assert len(found) == 1, (fragment, found)
    return found[0]


def test_policy_has_no_optional_syntax_and_fails_closed() -> None:
    spec = VAP["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert ".?" not in str(spec), "cel-python cannot evaluate optional fields; use has()"
    assert BINDING["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"
    assert "Deny" in BINDING["spec"]["validationActions"]
    assert BINDING["spec"]["policyName"] == VAP["metadata"]["name"]
    resources = {r for rule in spec["matchConstraints"]["resourceRules"] for r in rule["resources"]}
    assert {"pods", "deployments", "statefulsets", "jobs", "cronjobs"} <= resources


def test_example_deployment_and_its_pod_are_admitted() -> None:
    assert ADMISSION.denials(deployment_pod()) == []
    assert ADMISSION.denials(DEPLOYMENT) == []


def test_cronjob_templates_are_checked_too() -> None:
    pod_template = {"spec": copy.deepcopy(DEPLOYMENT["spec"]["template"]["spec"])}
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "x", "namespace": "ml-serving"},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": pod_template}}},
    }
    assert ADMISSION.denials(cronjob) == []
    pod_template["spec"]["initContainers"] = []
    assert message("exactly one") in ADMISSION.denials(cronjob)


def _guard(spec: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in spec["initContainers"] if c["name"] == "weightguard")


def _server(spec: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in spec["containers"] if c["name"] == "server")


def _mount(ctr: dict[str, Any], volume: str) -> dict[str, Any]:
    return next(m for m in ctr["volumeMounts"] if m["name"] == volume)


def _volume(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in spec["volumes"] if v["name"] == name)


def _drop_guard(s: dict[str, Any]) -> None:
    s["initContainers"] = [c for c in s["initContainers"] if c["name"] != "weightguard"]


def _tagged(s: dict[str, Any]) -> None:
    _guard(s)["image"] = "registry.example.com/weightguard:0.1.0"


def _other_digest(s: dict[str, Any]) -> None:
    _guard(s)["image"] = "registry.example.com/weightguard@sha256:" + "ab" * 32


def _command(s: dict[str, Any]) -> None:
    _guard(s)["command"] = ["/bin/sh", "-c", "exit 0"]


def _not_verify(s: dict[str, Any]) -> None:
    _guard(s)["args"][0] = "digest"


def _replace_arg(s: dict[str, Any], prefix: str, *new: str) -> None:
    args = _guard(s)["args"]
    i = next(i for i, a in enumerate(args) if a.startswith(prefix + "="))
    args[i : i + 1] = list(new)


def _other_policy_digest(s: dict[str, Any]) -> None:
    _replace_arg(s, "--policy-digest", "--policy-digest=sha256:" + "ab" * 32)


def _second_policy_digest(s: dict[str, Any]) -> None:
    _guard(s)["args"].append("--policy-digest=sha256:" + "ab" * 32)


def _policy_digest_split(s: dict[str, Any]) -> None:
    value = next(a for a in _guard(s)["args"] if a.startswith("--policy-digest="))
    _replace_arg(s, "--policy-digest", "--policy-digest", value.split("=", 1)[1])


def _policy_elsewhere(s: dict[str, Any]) -> None:
    _replace_arg(s, "--policy", "--policy=/models/llm/policy.yaml")


def _no_policy(s: dict[str, Any]) -> None:
    _guard(s)["args"] = [
        a for a in _guard(s)["args"] if not a.startswith(("--policy=", "--policy-digest="))
    ]


def _mode_audit(s: dict[str, Any]) -> None:
    _guard(s)["args"].append("--mode=audit")


def _loosened(s: dict[str, Any]) -> None:
    _guard(s)["args"] = [*_guard(s)["args"], "--allow-unsigned-files"]


def _guard_rw(s: dict[str, Any]) -> None:
    _mount(_guard(s), "models")["readOnly"] = False


def _server_rw(s: dict[str, Any]) -> None:
    del _mount(_server(s), "models")["readOnly"]


def _report_rw(s: dict[str, Any]) -> None:
    _mount(_server(s), "weightguard-run")["readOnly"] = False


def _claim_rw(s: dict[str, Any]) -> None:
    _volume(s, "models")["persistentVolumeClaim"]["readOnly"] = False


def _unverified_pvc(s: dict[str, Any]) -> None:
    s["volumes"].append({"name": "other", "persistentVolumeClaim": {"claimName": "x"}})
    _server(s)["volumeMounts"].append({"name": "other", "mountPath": "/other", "readOnly": True})


def _later_init(s: dict[str, Any]) -> None:
    s["initContainers"].append({"name": "patch", "image": "busybox", "args": ["true"]})


def _sidecar(s: dict[str, Any]) -> None:
    _guard(s)["restartPolicy"] = "Always"


def _writable_root(s: dict[str, Any]) -> None:
    _guard(s)["securityContext"]["readOnlyRootFilesystem"] = False


DENIED: list[tuple[str, Callable[[dict[str, Any]], None], set[str]]] = [
    (
        "no-init-container",
        _drop_guard,
        {
            "exactly one",
            "last init container",
            "every volume that is not",
            "entrypoint",
            "pinned policy",
            "must verify the pinned model",
            "may not loosen",
        },
    ),
    ("image-by-tag", _tagged, {"pinned image digest"}),
    ("other-digest", _other_digest, {"pinned image digest"}),
    ("command-override", _command, {"with the image's entrypoint"}),
    ("not-verify", _not_verify, {"with the image's entrypoint", "may not loosen"}),
    ("loosening-flag", _loosened, {"may not loosen"}),
    ("mode-flag", _mode_audit, {"may not loosen"}),
    ("other-policy-digest", _other_policy_digest, {"pinned policy"}),
    ("second-policy-digest", _second_policy_digest, {"pinned policy"}),
    ("policy-digest-split-form", _policy_digest_split, {"pinned policy", "may not loosen"}),
    ("policy-elsewhere", _policy_elsewhere, {"pinned policy"}),
    ("no-policy", _no_policy, {"pinned policy"}),
    ("guard-mounts-model-rw", _guard_rw, {"weightguard must mount", "mounted whole"}),
    ("server-mounts-model-rw", _server_rw, {"containers must mount", "mounted whole"}),
    ("server-writes-report", _report_rw, {"containers must mount"}),
    ("claim-not-read-only", _claim_rw, {"read-only claims"}),
    ("unverified-pvc", _unverified_pvc, {"every volume that is not", "mounted whole"}),
    ("init-after-guard", _later_init, {"last init container"}),
    ("guard-as-sidecar", _sidecar, {"last init container"}),
    ("writable-root-fs", _writable_root, {"read-only root filesystem"}),
]


@pytest.mark.parametrize(("case", "mutate", "fragments"), DENIED, ids=[d[0] for d in DENIED])
def test_each_rule_denies_its_violation(
    case: str, mutate: Callable[[dict[str, Any]], None], fragments: set[str]
) -> None:
    pod = deployment_pod()
    mutate(pod["spec"])
    assert sorted(ADMISSION.denials(pod)) == sorted(message(f) for f in fragments)


def test_missing_param_denies() -> None:
    params = copy.deepcopy(PARAMS)
    params["data"] = {}
    assert message("pinned image digest") in ADMISSION.denials(deployment_pod(), params)


def test_binding_selects_the_serving_namespace_only() -> None:
    selector = BINDING["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
    namespaces = {
        o["metadata"]["name"]: o["metadata"].get("labels", {})
        for _, o in objects()
        if o["kind"] == "Namespace"
    }

    def enforced(ns: str) -> bool:
        return all(namespaces[ns].get(k) == v for k, v in selector.items())

    assert enforced(DEPLOYMENT["metadata"]["namespace"])
    job = podsim.find_object("Job", "llm-release")
    assert not enforced(job["metadata"]["namespace"]), "the release Job has no gate to pass"
    assert PARAMS["metadata"]["namespace"] == BINDING["spec"]["paramRef"]["namespace"]
    assert PARAMS["metadata"]["name"] == BINDING["spec"]["paramRef"]["name"]


# --- the containers' args and the pieces agree ---------------------------------------------


def weightguard_containers() -> list[tuple[str, str, dict[str, Any]]]:
    image = PARAMS["data"]["image-current"]
    out = []
    for filename, obj in objects():
        if obj["kind"] in {"Deployment", "Job", "CronJob", "StatefulSet", "Pod"}:
            spec = podsim.pod_spec(obj)
            for c in [*spec.get("initContainers", []), *spec.get("containers", [])]:
                if c["image"].split("@")[0].endswith("/weightguard"):
                    assert c["image"] == image, f"{filename}:{c['name']} is not the pinned image"
                    out.append((filename, c["name"], c))
    return out


@pytest.mark.parametrize(
    ("filename", "name", "ctr"),
    weightguard_containers(),
    ids=[f"{f}:{n}" for f, n, _ in weightguard_containers()],
)
def test_container_args_parse_with_the_real_cli(filename: str, name: str, ctr: Any) -> None:
    assert "command" not in ctr, "keep the image's ENTRYPOINT (weightguard)"
    try:
        parsed = dry_parse(ctr["args"])
    except NotBuilt as exc:
        pytest.skip(f"`weightguard {exc}` is not built in this checkout yet")
    assert parsed.command


def test_deployment_mounts_what_it_references() -> None:
    spec = podsim.pod_spec(DEPLOYMENT)
    guard = podsim.container(spec, "weightguard")
    namespace = DEPLOYMENT["metadata"]["namespace"]
    for vol in spec["volumes"]:
        if "secret" in vol:
            secret = podsim.find_object("Secret", vol["secret"]["secretName"])
            assert secret["metadata"]["namespace"] == namespace
        if "configMap" in vol:
            cm = podsim.find_object("ConfigMap", vol["configMap"]["name"])
            assert cm["metadata"]["namespace"] == namespace
    mounted = {m["mountPath"] for m in guard["volumeMounts"]}
    for arg in guard["args"]:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if value.startswith("/") and value != guard["terminationMessagePath"]:
            assert any(value == m or value.startswith(m + "/") for m in mounted), value
    assert guard["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_policy_configmap_is_the_policy_file_verbatim_and_pinned() -> None:
    """One policy, three places: the ConfigMap, the init container's pin, the admission pin."""
    import hashlib

    source = (podsim.REPO / "policies" / "k8s-init.yaml").read_bytes()
    digest = "sha256:" + hashlib.sha256(source).hexdigest()
    cm = podsim.find_object("ConfigMap", "weightguard-policy")
    assert cm["data"]["policy.yaml"].encode() == source, "regenerate policy-configmap.yaml"
    guard = podsim.container(podsim.pod_spec(DEPLOYMENT), "weightguard")
    assert f"--policy-digest={digest}" in guard["args"], f"pin {digest} in deployment.yaml"
    assert PARAMS["data"]["policyDigest-current"] == digest, "pin it in the admission params too"
    assert f"--policy={PARAMS['data']['policyPath']}" in guard["args"]
    mount = next(m for m in guard["volumeMounts"] if m["name"] == "weightguard-policy")
    assert mount["mountPath"] == PARAMS["data"]["policyPath"] and mount["readOnly"]


def test_readme_walks_through_every_file() -> None:
    readme = (podsim.K8S / "README.md").read_text()
    for path in FILES:
        assert path.name in readme, f"README.md does not mention {path.name}"


# --- loopholes closed by the allowlists (issue 13) ------------------------------------------
# Each case was admitted by the previous policy (only `exactly one`-style structure, a
# denylist of volume types and of flags, no look at env, subPath or other containers).


def _config_volume(s: dict[str, Any], name: str = "evil") -> None:
    s["volumes"].append({"name": name, "configMap": {"name": name}})


def _env_pythonpath(s: dict[str, Any]) -> None:
    """A ConfigMap with sitecustomize.py on PYTHONPATH ran code inside the guard."""
    _config_volume(s)
    _guard(s)["volumeMounts"].append({"name": "evil", "mountPath": "/cfg", "readOnly": True})
    _guard(s)["env"] = [{"name": "PYTHONPATH", "value": "/cfg"}]


def _env_ld_preload(s: dict[str, Any]) -> None:
    _guard(s)["env"] = [{"name": "LD_PRELOAD", "value": "/cfg/evil.so"}]


def _env_from(s: dict[str, Any]) -> None:
    _guard(s)["envFrom"] = [{"configMapRef": {"name": "evil"}}]


def _extra_volume(source: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(s: dict[str, Any]) -> None:
        s["volumes"].append({"name": "more", **source})
        _server(s)["volumeMounts"].append({"name": "more", "mountPath": "/data", "readOnly": True})

    return mutate


_csi = _extra_volume({"csi": {"driver": "blob.csi.example.com", "readOnly": True}})
_ephemeral = _extra_volume(
    {
        "ephemeral": {
            "volumeClaimTemplate": {
                "spec": {
                    "accessModes": ["ReadOnlyMany"],
                    "resources": {"requests": {"storage": "1Gi"}},
                }
            }
        }
    }
)
_image_volume = _extra_volume({"image": {"reference": "registry.example.com/w@sha256:" + "a" * 64}})
_iscsi = _extra_volume({"iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.x:y", "lun": 0}})


def _guard_sub_path(s: dict[str, Any]) -> None:
    """The guard checks a subfolder of the volume; the server serves the whole volume."""
    _mount(_guard(s), "models")["subPath"] = "signed"


def _server_sub_path_expr(s: dict[str, Any]) -> None:
    _mount(_server(s), "models")["subPathExpr"] = "$(POD_NAME)"


def _other_model_path(s: dict[str, Any]) -> None:
    """The guard verifies a different (signed) folder than the one the server loads."""
    _guard(s)["args"][1] = "/models/llm/signed-copy"


def _server_mounts_elsewhere(s: dict[str, Any]) -> None:
    _mount(_server(s), "models")["mountPath"] = "/srv/model"


def _shadow_in_server(s: dict[str, Any]) -> None:
    """A ConfigMap file laid over a verified file in the server only."""
    _config_volume(s)
    _server(s)["volumeMounts"].append(
        {"name": "evil", "mountPath": "/models/llm/model.safetensors", "readOnly": True}
    )


def _shadow_in_guard(s: dict[str, Any]) -> None:
    """The guard sees an old signed manifest that the server never sees."""
    s["volumes"].append({"name": "old-signed", "emptyDir": {}})
    _guard(s)["volumeMounts"].append({"name": "old-signed", "mountPath": "/models/llm/model.sig"})


def _non_canonical_mount(s: dict[str, Any]) -> None:
    _config_volume(s)
    _server(s)["volumeMounts"].append(
        {"name": "evil", "mountPath": "/models//llm/config.json", "readOnly": True}
    )


def _signature_flag(s: dict[str, Any]) -> None:
    _guard(s)["args"].append("--signature=/etc/weightguard/trust/old.sig")


def _key_flag(s: dict[str, Any]) -> None:
    _guard(s)["args"].append("--attestation=/run/weightguard")


def _second_path(s: dict[str, Any]) -> None:
    _guard(s)["args"][2:2] = ["--", "/run/weightguard"]


def _writable_sidecar(s: dict[str, Any]) -> None:
    """A restartable init container keeps running after the guard and could write."""
    s["initContainers"].insert(
        0,
        {
            "name": "sync",
            "image": "busybox",
            "restartPolicy": "Always",
            "volumeMounts": [{"name": "models", "mountPath": "/models/llm"}],
        },
    )


def _ephemeral_writer(s: dict[str, Any]) -> None:
    s["ephemeralContainers"] = [
        {
            "name": "debugger",
            "image": "busybox",
            "volumeMounts": [{"name": "models", "mountPath": "/models/llm"}],
        }
    ]


def _shared_pids(s: dict[str, Any]) -> None:
    s["shareProcessNamespace"] = True


def _host_pid(s: dict[str, Any]) -> None:
    s["hostPID"] = True


def _unlisted_policy_digest(s: dict[str, Any]) -> None:
    _replace_arg(s, "--policy-digest", "--policy-digest=sha256:" + "cd" * 32)


UNVERIFIED = "every volume that is not"
WHOLE = "mounted whole and read-only"
SHADOW = "no other volume may be mounted"
FLAGS = "may not loosen"
LOOPHOLES: list[tuple[str, Callable[[dict[str, Any]], None], set[str]]] = [
    ("env-pythonpath-sitecustomize", _env_pythonpath, {"environment variables"}),
    ("env-ld-preload", _env_ld_preload, {"environment variables"}),
    ("env-from-configmap", _env_from, {"environment variables"}),
    ("unverified-csi-volume", _csi, {UNVERIFIED, WHOLE}),
    ("unverified-ephemeral-volume", _ephemeral, {UNVERIFIED, WHOLE}),
    ("unverified-image-volume", _image_volume, {UNVERIFIED, WHOLE}),
    ("unverified-iscsi-volume", _iscsi, {UNVERIFIED, WHOLE}),
    ("guard-sub-path", _guard_sub_path, {WHOLE}),
    ("server-sub-path-expr", _server_sub_path_expr, {WHOLE}),
    ("guard-verifies-other-path", _other_model_path, {"must verify the pinned model", FLAGS}),
    ("server-mounts-model-elsewhere", _server_mounts_elsewhere, {WHOLE}),
    ("shadow-file-in-server", _shadow_in_server, {SHADOW}),
    ("shadow-file-in-guard", _shadow_in_guard, {SHADOW}),
    ("non-canonical-mount-path", _non_canonical_mount, {SHADOW}),
    ("signature-flag", _signature_flag, {FLAGS}),
    ("attestation-flag", _key_flag, {FLAGS}),
    ("second-positional-path", _second_path, {FLAGS}),
    ("writable-sidecar-before-guard", _writable_sidecar, {"containers must mount", WHOLE}),
    ("writable-ephemeral-container", _ephemeral_writer, {"containers must mount", WHOLE}),
    ("share-process-namespace", _shared_pids, {"process namespaces"}),
    ("host-pid", _host_pid, {"process namespaces"}),
    ("policy-digest-not-allowed", _unlisted_policy_digest, {"pinned policy"}),
]


@pytest.mark.parametrize(("case", "mutate", "fragments"), LOOPHOLES, ids=[d[0] for d in LOOPHOLES])
def test_each_loophole_is_denied(
    case: str, mutate: Callable[[dict[str, Any]], None], fragments: set[str]
) -> None:
    pod = deployment_pod()
    mutate(pod["spec"])
    assert sorted(ADMISSION.denials(pod)) == sorted(message(f) for f in fragments)


def test_allowed_volume_types_may_go_unverified() -> None:
    """ConfigMap, Secret, emptyDir, downwardAPI and projected volumes need no verification."""
    pod = deployment_pod()
    spec = pod["spec"]
    extra = {
        "cfg": {"configMap": {"name": "server-config"}},
        "creds": {"secret": {"secretName": "server-creds"}},
        "cache": {"emptyDir": {}},
        "info": {
            "downwardAPI": {
                "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
            }
        },
        "token": {"projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
    }
    for name, source in extra.items():
        spec["volumes"].append({"name": name, **source})
        _server(spec)["volumeMounts"].append({"name": name, "mountPath": f"/srv/{name}"})
    assert ADMISSION.denials(pod) == []


def _params_with(**data: str) -> dict[str, Any]:
    params = copy.deepcopy(PARAMS)
    params["data"].update(data)
    return params


def test_rotation_allows_every_listed_image_and_policy_digest() -> None:
    previous_image = "registry.example.com/weightguard@sha256:" + "12" * 32
    previous_policy = "sha256:" + "34" * 32
    params = _params_with(
        **{"image-previous": previous_image, "policyDigest-previous": previous_policy}
    )
    pod = deployment_pod()
    assert ADMISSION.denials(pod, params) == []
    _guard(pod["spec"])["image"] = previous_image
    _replace_arg(pod["spec"], "--policy-digest", "--policy-digest=" + previous_policy)
    assert ADMISSION.denials(pod, params) == []
    # Not listed under an image-/policyDigest- key: refused, even if present under another.
    sneaky = copy.deepcopy(PARAMS)
    sneaky["data"]["note"] = previous_image
    sneaky["data"]["policyPath"] = PARAMS["data"]["policyPath"]
    assert ADMISSION.denials(pod, sneaky) == [
        message("pinned image digest"),
        message("pinned policy"),
    ]


def test_update_that_keeps_the_pod_spec_is_not_judged_again() -> None:
    """Retiring a digest from the params does not wedge label edits or scaling."""
    old = copy.deepcopy(DEPLOYMENT)
    retired = copy.deepcopy(PARAMS)
    retired["data"]["image-current"] = "registry.example.com/weightguard@sha256:" + "56" * 32
    new = copy.deepcopy(old)
    new["metadata"]["labels"]["tier"] = "gold"
    new["spec"]["replicas"] = 3
    assert ADMISSION.denials(new, retired, old=old) == []
    assert message("pinned image digest") in ADMISSION.denials(new, retired)  # a CREATE
    # Any change to the pod template is judged in full.
    changed = copy.deepcopy(new)
    _drop_guard(changed["spec"]["template"]["spec"])
    assert message("exactly one") in ADMISSION.denials(changed, PARAMS, old=old)
    # Same for a Pod's ephemeral containers, added by an UPDATE of the pod.
    pod = deployment_pod()
    debugged = copy.deepcopy(pod)
    _ephemeral_writer(debugged["spec"])
    assert message("containers must mount") in ADMISSION.denials(debugged, PARAMS, old=pod)
