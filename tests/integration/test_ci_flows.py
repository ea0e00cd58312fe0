"""The shipped CI examples, played: release jobs sign keyless against a local fake Sigstore,
the deploy job verifies with the shipped production policy.

Commands, variables, job order and artifacts come from examples/ci/*.yml themselves
(tests/integration/ci_runner.py); the consumer repository is built here: a small torch
Linear model in safetensors, its factory, and the shipped policy, whose one change is the
trusted root of the fake instance (pinned by digest, as the policy's comment says to do).
An honest release deploys; tampered weights, an extra pickle or an old tag do not.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("sigstore", reason="sigstore extra not installed")
pytest.importorskip("torch", reason="the smoke step runs the model with torch")

from tests.integration.ci_runner import (  # noqa: E402
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    REPO,
    CiSigstore,
    GitHubRun,
    GitLabRun,
    Run,
    base_env,
    checkout,
    install_weightguard,
)

CI = REPO / "examples" / "ci"
GH_IDENTITY = "https://github.com/acme/models/.github/workflows/model-weights.yml@refs/tags/{tag}"
GL_IDENTITY = "https://gitlab.com/acme/models//.gitlab-ci.yml@refs/tags/{tag}"
FACTORY = """import torch


def build():
    return torch.nn.Linear(16, 4)
"""


@pytest.fixture(scope="module")
def fake_sigstore() -> Iterator[Callable[[str], CiSigstore]]:
    """Start a fake Sigstore instance whose OIDC issuer is `issuer` (stopped at the end)."""
    started: list[CiSigstore] = []

    def start(issuer: str) -> CiSigstore:
        fake = CiSigstore(issuer).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def pin_trusted_root(policy_text: str, root_file: Path) -> str:
    """The shipped policy with its commented `trustedRoot` line made real (fake root)."""
    digest = hashlib.sha256(root_file.read_bytes()).hexdigest()
    old = '# trustedRoot: {file: trust/trusted_root.json, digest: "sha256:<hex>"}'
    assert policy_text.count(old) == 1
    new = f'trustedRoot: {{file: trust/trusted_root.json, digest: "sha256:{digest}"}}'
    return policy_text.replace(old, new)


def consumer_repo(root: Path, fake: CiSigstore, policy: str) -> Path:
    """The repository the CI example lives in: models/llm, its factory, the policy."""
    import torch
    from safetensors.torch import save_file

    model = root / "models" / "llm"
    model.mkdir(parents=True)
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 4)
    save_file(
        {k: v.contiguous() for k, v in layer.state_dict().items()}, model / "model.safetensors"
    )
    (model / "config.json").write_text(json.dumps({"in_features": 16, "out_features": 4}))
    (root / "models" / "factory.py").write_text(FACTORY)
    trust = root / "policies" / "trust"
    trust.mkdir(parents=True)
    _, trusted_root = fake.write(root / ".fake-sigstore")
    shutil.copy(trusted_root, trust / "trusted_root.json")
    shipped = (REPO / "policies" / policy).read_text()
    (root / "policies" / policy).write_text(pin_trusted_root(shipped, trust / "trusted_root.json"))
    return root


def report(ws: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((ws / "weightguard-verify.json").read_text())
    return data


# ---- GitHub Actions --------------------------------------------------------------------------


class GitHubRelease:
    def __init__(self, root: Path, fake: CiSigstore, tag: str) -> None:
        self.root, self.fake, self.tag = root, fake, tag
        self.template = consumer_repo(root / "repo", fake, "strict-prod.yaml")
        config, _ = fake.write(root / ".fake-sigstore")
        env = base_env(install_weightguard(root / "bin"), root / "home", config)
        (root / "home").mkdir()
        env |= {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "release",
            "GITHUB_REF": f"refs/tags/{tag}",
            "GITHUB_REF_NAME": tag,
            "GITHUB_REPOSITORY": "acme/models",
        }
        fake.github_token = fake.ci_token(
            GH_IDENTITY.format(tag=tag),
            repository="acme/models",
            ref=f"refs/tags/{tag}",
            job_workflow_ref=f"acme/models/.github/workflows/model-weights.yml@refs/tags/{tag}",
        )
        self.flow = GitHubRun(CI / "github-actions.yml", env, fake)
        self.run = Run()
        for job in ("scan", "sign"):  # `sign` needs `scan`; `deploy` needs `sign`
            self.flow.job(job, checkout(self.template, root / job), self.run)

    def deploy(self, name: str, tamper: Callable[[Path], None] | None = None) -> Path:
        ws = checkout(self.template, self.root / f"deploy-{name}")
        if tamper is not None:
            tamper(ws / "models" / "llm")
        self.flow.job("deploy", ws, self.run)
        return ws


@pytest.fixture(scope="module")
def github(
    fake_sigstore: Callable[[str], CiSigstore], tmp_path_factory: pytest.TempPathFactory
) -> GitHubRelease:
    release = GitHubRelease(tmp_path_factory.mktemp("gh"), fake_sigstore(GITHUB_ISSUER), "v2.4.0")
    for step in release.run.steps:
        assert step.rc in (0, None), f"{step.job}: {step.name}: rc {step.rc}\n{step.output}"
    return release


def test_github_release_jobs_run_every_weightguard_step(github: GitHubRelease) -> None:
    ran = {(s.job, s.name) for s in github.run.steps if s.rc == 0}
    assert ("scan", "Scan") in ran
    for part in ("Scan and sign", "Smoke-run", "Sign the model"):
        assert github.run.ran("sign", part).rc == 0
    shipped = github.flow.artifacts["model-signature"]
    assert set(shipped) == {"model.sig", "model.sig.d/scan.json", "model.sig.d/smoke.json"}


def test_github_honest_release_passes_strict_prod(github: GitHubRelease) -> None:
    ws = github.deploy("honest")
    verify = github.run.ran("deploy", "Verify with the production policy")
    assert verify.rc == 0, verify.output
    assert github.run.ran("deploy", "Deploy").rc == 0  # reached only after exit 0
    doc = report(ws)
    assert doc["verdict"] == "accepted"
    text = json.dumps(doc)
    for code in ("scan.ok", "smoke.ok"):  # evidence came from the signed statements
        assert code in text, code
    assert GH_IDENTITY.format(tag="v2.4.0") in text


def _swap_weights(model: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(model / "model.safetensors")
    tensors["bias"] = tensors["bias"] + 1.0
    save_file(tensors, model / "model.safetensors")


def _extra_pickle(model: Path) -> None:
    (model / "extra.bin").write_bytes(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00N.")


@pytest.mark.parametrize("tamper", [_swap_weights, _extra_pickle], ids=["weights", "pickle"])
def test_github_tampered_release_is_not_deployed(
    github: GitHubRelease, tamper: Callable[[Path], None]
) -> None:
    before = len(github.run.steps)
    ws = github.deploy(tamper.__name__, tamper)
    steps = github.run.steps[before:]
    verify = next(s for s in steps if "Verify with the production policy" in s.name)
    assert verify.rc == 1, verify.output
    deploy = next(s for s in steps if s.name == "Deploy")
    assert deploy.rc is None  # never reached
    assert report(ws)["verdict"] == "rejected"
    keep = next(s for s in steps if "Keep the verification report" in s.name)
    assert keep.rc == 0  # `if: always()`: the report is kept


# ---- GitLab CI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gitlab(
    fake_sigstore: Callable[[str], CiSigstore], tmp_path_factory: pytest.TempPathFactory
) -> tuple[GitLabRun, Run, Path]:
    root = tmp_path_factory.mktemp("gl")
    fake = fake_sigstore(GITLAB_ISSUER)
    template = consumer_repo(root / "repo", fake, "gitlab-prod.yaml")
    config, _ = fake.write(root / ".fake-sigstore")
    (root / "home").mkdir()
    env = base_env(install_weightguard(root / "bin"), root / "home", config)
    tag = "v2.4.0"
    env |= {"GITLAB_CI": "true", "CI_COMMIT_TAG": tag, "CI_PROJECT_PATH": "acme/models"}
    flow = GitLabRun(CI / "gitlab-ci.yml", env)
    token = fake.ci_token(
        GL_IDENTITY.format(tag=tag),
        project_path="acme/models",
        ref=tag,
        ref_type="tag",
        ci_config_ref_uri=f"gitlab.com/acme/models//.gitlab-ci.yml@refs/tags/{tag}",
    )
    run = Run()
    jobs = flow.jobs()
    assert jobs == ["weightguard-scan", "weightguard-sign", "weightguard-verify"]
    for job in jobs[:2]:
        flow.job(job, checkout(template, root / job), run, lambda aud: token)
        assert run.steps[-1].rc == 0, run.steps[-1].output
    return flow, run, template


def test_gitlab_honest_release_passes_gitlab_prod(
    gitlab: tuple[GitLabRun, Run, Path], tmp_path: Path
) -> None:
    flow, run, template = gitlab
    assert "--policy policies/gitlab-prod.yaml" in " ".join(
        flow.doc["weightguard-verify"]["script"]
    )
    ws = checkout(template, tmp_path / "verify")
    flow.job("weightguard-verify", ws, run)
    assert run.steps[-1].rc == 0, run.steps[-1].output
    doc = report(ws)
    assert doc["verdict"] == "accepted"
    assert GL_IDENTITY.format(tag="v2.4.0") in json.dumps(doc)


def test_gitlab_tampered_release_fails(gitlab: tuple[GitLabRun, Run, Path], tmp_path: Path) -> None:
    flow, run, template = gitlab
    ws = checkout(template, tmp_path / "verify")
    _swap_weights(ws / "models" / "llm")
    flow.job("weightguard-verify", ws, run)
    assert run.steps[-1].rc == 1, run.steps[-1].output
    assert report(ws)["verdict"] == "rejected"


def test_github_identity_is_not_trusted_by_the_gitlab_policy(
    github: GitHubRelease, tmp_path: Path
) -> None:
    """The two shipped policies do not accept each other's pipelines."""
    ws = github.deploy("cross")
    gl_policy = (REPO / "policies" / "gitlab-prod.yaml").read_text()
    root = ws / "policies" / "trust" / "trusted_root.json"
    (ws / "policies" / "gitlab-prod.yaml").write_text(pin_trusted_root(gl_policy, root))
    from tests.models import run_cli

    result = run_cli("verify", "models/llm", "--policy", "policies/gitlab-prod.yaml", cwd=ws)
    assert result.rc == 1, result.stdout + result.stderr
