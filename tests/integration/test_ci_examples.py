"""examples/ci and .pre-commit-hooks.yaml: schema-valid offline, and every weightguard call real.

- the GitHub workflow and the GitLab job validate against the CI schemas that ship inside
  check-jsonschema (`vendor.github-workflows`, `vendor.gitlab-ci`; no download);
- the pre-commit manifest and the consumer config validate with pre-commit's own loader;
- every `weightguard ...` command line in them parses with the real CLI's option parser;
- supply-chain hygiene of the workflow: actions pinned by commit SHA, read-only default
  permissions, `id-token: write` only where signing happens.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cli_lines import NotBuilt, dry_parse, shell_commands

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "examples" / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
CONSUMER = CI / "pre-commit-config.yaml"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_every_ci_example_is_covered_here() -> None:
    covered = {GITHUB.name, GITLAB.name, CONSUMER.name, "README.md"}
    assert {p.name for p in CI.iterdir()} == covered


@pytest.mark.parametrize(
    ("path", "schema"),
    [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")],
    ids=["github", "gitlab"],
)
def test_ci_file_matches_its_schema(path: Path, schema: str) -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is in the test extra")
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def github_commands() -> list[tuple[str, list[str]]]:
    out = []
    for job_name, job in load(GITHUB)["jobs"].items():
        for step in job["steps"]:
            for argv in shell_commands(step.get("run", "")):
                out.append((f"{job_name}: {' '.join(argv[:1])}", argv))
    return out


def gitlab_commands() -> list[tuple[str, list[str]]]:
    out = []
    for job_name, job in load(GITLAB).items():
        if not isinstance(job, dict):
            continue
        for key in ("before_script", "script", "after_script"):
            for line in job.get(key, []):
                for argv in shell_commands(line):
                    out.append((f"{job_name}: {' '.join(argv[:1])}", argv))
    return out


def hook_commands() -> list[tuple[str, list[str]]]:
    hooks = {h["id"]: h for h in load(HOOKS)}
    out = []
    for repo in load(CONSUMER)["repos"]:
        for use in repo["hooks"]:
            hook = hooks[use["id"]]
            entry = hook["entry"].split()
            assert entry[0] == "weightguard"
            argv = [*entry[1:], *hook.get("args", []), *use.get("args", [])]
            if hook.get("pass_filenames", True):
                argv += ["models/llm/pytorch_model.bin", "models/other.pt"]
            out.append((f"pre-commit {use['id']}", argv))
    return out


ALL_COMMANDS = github_commands() + gitlab_commands() + hook_commands()


def test_each_ci_file_calls_weightguard() -> None:
    # Release jobs also write the evidence strict-prod requires: scan --attest, smoke record.
    assert {a[0] for _, a in github_commands()} == {"scan", "smoke", "sign", "verify"}
    assert {a[0] for _, a in gitlab_commands()} == {"scan", "smoke", "sign", "verify"}
    assert {a[0] for _, a in hook_commands()} == {"scan", "verify"}


@pytest.mark.parametrize(("where", "argv"), ALL_COMMANDS, ids=[w for w, _ in ALL_COMMANDS])
def test_command_line_parses_with_the_real_cli(where: str, argv: list[str]) -> None:
    from weightguard.cli import cli

    if argv[0] == "verify" and "--policy" in argv:
        verify = cli.get_command(None, "verify")  # type: ignore[arg-type]
        if verify is None or not any("--policy" in p.opts for p in verify.params):
            pytest.skip("`weightguard verify --policy` is not built in this checkout yet")
    try:
        dry_parse(argv)
    except NotBuilt as exc:
        pytest.skip(f"`weightguard {exc}` is not built in this checkout yet")


def test_github_actions_are_pinned_and_least_privilege() -> None:
    workflow = load(GITHUB)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                assert SHA_PIN.match(step["uses"]), f"{name}: pin {step['uses']} by commit SHA"
        writes = {k for k, v in job.get("permissions", {}).items() if v == "write"}
        if name == "sign":
            assert "id-token" in writes
        else:
            assert "id-token" not in writes, f"{name} must not be able to sign"
    assert workflow["jobs"]["deploy"]["needs"] == "sign"
    assert "environment" in workflow["jobs"]["deploy"]


def test_gitlab_jobs_use_the_pinned_image() -> None:
    pipeline = load(GITLAB)
    image = pipeline["variables"]["WEIGHTGUARD_IMAGE"]
    assert re.search(r"@sha256:[0-9a-f]{64}$", image)
    params = [
        d
        for d in yaml.safe_load_all(
            (REPO / "examples/kubernetes/admission-policy.yaml").read_text()
        )
        if d and d["kind"] == "ConfigMap"
    ]
    assert params[0]["data"]["image-current"] == image, "one pinned image across the examples"
    assert pipeline["weightguard-sign"]["id_tokens"]["SIGSTORE_ID_TOKEN"]["aud"] == "sigstore"


def test_pre_commit_manifest_and_consumer_config_are_valid() -> None:
    clientlib = pytest.importorskip("pre_commit.clientlib", reason="pre-commit is in test extra")
    hooks = clientlib.load_manifest(str(HOOKS))
    assert {h["id"] for h in hooks} == {"weightguard-scan", "weightguard-verify"}
    assert all(h["language"] == "python" for h in hooks)
    config = clientlib.load_config(str(CONSUMER))
    used = {h["id"] for r in config["repos"] for h in r["hooks"]}
    assert used == {h["id"] for h in hooks}
    scan = next(h for h in hooks if h["id"] == "weightguard-scan")
    pattern = re.compile(scan["files"])
    assert pattern.search("models/pytorch_model.bin") and pattern.search("x/model.pt")
    assert not pattern.search("model.safetensors")
