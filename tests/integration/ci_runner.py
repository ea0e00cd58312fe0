"""Play the shipped CI examples (examples/ci) the way their runners would, on this machine.

- `CiSigstore`: the test suite's fake Sigstore stack (tests/fake_sigstore.py) plus what a CI
  job needs from real Sigstore: Fulcio's CI certificate extensions derived from the token's
  claims (sourceRepositoryURI, ...), and GitHub's OIDC token endpoint
  (ACTIONS_ID_TOKEN_REQUEST_URL), so `--sigstore` finds ambient credentials exactly as on
  GitHub (and `SIGSTORE_ID_TOKEN` as on GitLab).
- `GitHubRun` / `GitLabRun`: take the jobs, steps, variables and artifacts from the YAML
  itself and run each `run:`/`script:` with a real shell in a fresh checkout per job;
  artifacts travel between jobs as the runner would move them. Only CI plumbing that cannot
  run offline is left out, by an explicit list (installing weightguard, `gh release upload`):
  weightguard is "installed" as a `weightguard` executable on PATH that runs this checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import yaml
from cryptography import x509

from tests.fake_sigstore import CertificateAuthority, FakeSigstore

REPO = Path(__file__).resolve().parents[2]
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
_FULCIO = "1.3.6.1.4.1.57264.1."
# Fulcio's extension numbers (docs/oid-info.md) for the claims CI tokens carry.
_EXT = {"sourceRepositoryURI": 12, "sourceRepositoryRef": 14, "buildConfigURI": 18}
_OIDC_PATH = "/github-actions-oidc"  # our stand-in for GitHub's token request endpoint
_REQUEST_TOKEN = "runtime-request-token"  # noqa: S105 - a fake bearer for that endpoint


def _utf8(value: str) -> bytes:
    """DER UTF8String (Fulcio encodes extensions 1.8 and later this way)."""
    data = value.encode()
    n = len(data)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return b"\x0c" + length + data


def fulcio_extensions(claims: Mapping[str, Any]) -> dict[str, str]:
    """What Fulcio derives from a GitHub or GitLab ID token (Fulcio's issuer config)."""
    if claims["iss"] == GITHUB_ISSUER:
        server = "https://github.com"
        return {
            "sourceRepositoryURI": f"{server}/{claims['repository']}",
            "sourceRepositoryRef": claims["ref"],
            "buildConfigURI": f"{server}/{claims['job_workflow_ref']}",
        }
    if claims["iss"] == GITLAB_ISSUER:
        kind = "tags" if claims.get("ref_type") == "tag" else "heads"
        return {
            "sourceRepositoryURI": f"{GITLAB_ISSUER}/{claims['project_path']}",
            "sourceRepositoryRef": f"refs/{kind}/{claims['ref']}",
            "buildConfigURI": f"https://{claims['ci_config_ref_uri']}",
        }
    return {}


class _CiAuthority(CertificateAuthority):
    extensions: dict[str, str] = {}

    def _leaf(self, *args: Any, **kwargs: Any) -> x509.CertificateBuilder:
        builder = super()._leaf(*args, **kwargs)
        for name, value in self.extensions.items():
            oid = x509.ObjectIdentifier(f"{_FULCIO}{_EXT[name]}")
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oid, _utf8(value)), critical=False
            )
        return builder


class CiSigstore(FakeSigstore):
    """The fake stack issuing CI-style certificates and serving GitHub's OIDC endpoint."""

    def __init__(self, issuer: str) -> None:
        super().__init__(issuer)
        self.ca = _CiAuthority(self.epoch)
        self.ca.extensions = {}
        self.github_token = ""

    def ci_token(self, identity: str, **claims: Any) -> str:
        """An ID token for a CI job; Fulcio names the signer `identity` (the SAN)."""
        return self.idp.token(identity, **claims)

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        url = urlsplit(path)
        if method == "GET" and url.path == _OIDC_PATH:
            if headers.get("Authorization", "") != f"bearer {_REQUEST_TOKEN}":
                return 401, {"message": "bad request token"}
            if parse_qs(url.query).get("audience") != ["sigstore"]:
                return 400, {"message": "audience must be sigstore"}
            return 200, {"value": self.github_token}
        if method == "POST" and path == "/api/v2/signingCert":
            token = headers.get("Authorization", "").removeprefix("Bearer ")
            # Read only; the parent handler verifies the token before issuing anything.
            claims = jwt.decode(token, options={"verify_signature": False})
            self.ca.extensions = fulcio_extensions(claims)
        return super().handle(method, path, headers, body)

    def github_env(self) -> dict[str, str]:
        """What a job with `id-token: write` sees."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.url + _OIDC_PATH,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": _REQUEST_TOKEN,
        }


# ---- the `weightguard` executable the jobs call ---------------------------------------------


def install_weightguard(bin_dir: Path) -> Path:
    """`bin_dir` with a `weightguard` running this checkout (stands in for the pinned install).

    The one test-only addition: keyless commands get `--trust-config` of the fake instance
    (env WG_TEST_TRUST_CONFIG), as a private Sigstore deployment's users would pass it.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "weightguard"
    exe.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from tests.integration.ci_runner import shim_main\n"
        "shim_main(sys.argv[1:])\n"
    )
    exe.chmod(0o755)
    return bin_dir


def shim_main(argv: list[str]) -> None:
    trust = os.environ.get("WG_TEST_TRUST_CONFIG")
    if "--sigstore" in argv and trust:
        argv = [*argv, "--trust-config", trust]
    from weightguard.cli import cli

    cli.main(argv, prog_name="weightguard")


@dataclass
class Step:
    job: str
    name: str
    rc: int | None  # None: not run (plumbing, skipped after a failure)
    output: str = ""


@dataclass
class Run:
    steps: list[Step] = field(default_factory=list)

    def job_ok(self, job: str) -> bool:
        return all(s.rc in (0, None) for s in self.steps if s.job == job)

    def ran(self, job: str, name_part: str) -> Step:
        found = [s for s in self.steps if s.job == job and name_part in s.name]
        assert len(found) == 1, (job, name_part, [s.name for s in self.steps])
        return found[0]


# CI plumbing that cannot run offline; anything else in a script runs.
PLUMBING = (
    re.compile(r"^python -m pip install "),
    re.compile(r"^gh release upload "),
)


def _is_plumbing(script: str) -> bool:
    return all(
        any(p.match(line.strip()) for p in PLUMBING)
        for line in re.sub(r"\\\n\s*", " ", script).splitlines()
        if line.strip()
    )


def shell(script: str, cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
    # GitHub's `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`; GitLab's image
    # shell runs the script with errexit too.
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def base_env(bin_dir: Path, home: Path, trust_config: Path) -> dict[str, str]:
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "WG_TEST_TRUST_CONFIG": str(trust_config),
    }


def checkout(template: Path, dest: Path) -> Path:
    """A fresh clone of the consumer repository for one job."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(template, dest, symlinks=True)
    return dest


class GitHubRun:
    """examples/ci/github-actions.yml, release event, job by job."""

    def __init__(self, workflow: Path, env: dict[str, str], fake: CiSigstore) -> None:
        self.doc = yaml.safe_load(workflow.read_text())
        self.env = env
        self.fake = fake
        self.artifacts: dict[str, dict[str, bytes]] = {}

    def expr(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            inner = m.group(1).strip()
            if inner.startswith("env."):
                return str(self.doc["env"][inner[4:]])
            if inner == "github.token":
                return "github-token-not-used-offline"
            raise AssertionError(f"unknown expression {inner!r}")

        return re.sub(r"\$\{\{(.*?)\}\}", one, text)

    def job(self, name: str, workspace: Path, run: Run) -> None:
        job = self.doc["jobs"][name]
        env = {**self.env, **{k: self.expr(str(v)) for k, v in self.doc["env"].items()}}
        if job.get("permissions", {}).get("id-token") == "write":
            env.update(self.fake.github_env())
        failed = False
        for i, step in enumerate(job["steps"]):
            title = step.get("name") or step.get("uses", "").split("@")[0] or f"step {i}"
            if failed and step.get("if") != "always()":
                run.steps.append(Step(name, title, None, "skipped after a failure"))
                continue
            rc, out = self.step(step, workspace, env)
            run.steps.append(Step(name, title, rc, out))
            failed = failed or (rc not in (0, None))

    def step(self, step: dict[str, Any], ws: Path, env: dict[str, str]) -> tuple[int | None, str]:
        with_ = {k: self.expr(str(v)) for k, v in step.get("with", {}).items()}
        uses = step.get("uses", "").split("@")[0]
        if uses in ("actions/checkout", "actions/setup-python"):
            return None, "the job's checkout and Python are the test's"
        if uses == "actions/upload-artifact":
            paths = [ws / p.strip() for p in with_["path"].splitlines() if p.strip()]
            files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
            files = [f for f in files if f.is_file()]
            if not files:
                return (1 if with_.get("if-no-files-found") == "error" else 0), "no files"
            base = Path(os.path.commonpath([p.parent if p.is_file() else p for p in paths]))
            self.artifacts[with_["name"]] = {
                f.relative_to(base).as_posix(): f.read_bytes() for f in files
            }
            return 0, f"uploaded {sorted(self.artifacts[with_['name']])}"
        if uses == "actions/download-artifact":
            for rel, data in self.artifacts[with_["name"]].items():
                target = ws / with_["path"] / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            return 0, "downloaded"
        if uses == "github/codeql-action/upload-sarif":
            sarif = ws / with_["sarif_file"]
            if not sarif.is_file():
                return 1, f"no {sarif.name} to upload"
            json.loads(sarif.read_text())  # a SARIF document
            return 0, "sarif ok"
        assert not uses, f"unknown action {uses}: teach the runner"
        script = self.expr(step["run"])
        if _is_plumbing(script):
            return None, "plumbing (offline)"
        step_env = {**env, **{k: self.expr(str(v)) for k, v in step.get("env", {}).items()}}
        return shell(script, ws, step_env)


class GitLabRun:
    """examples/ci/gitlab-ci.yml, tag pipeline, job by job."""

    def __init__(self, pipeline: Path, env: dict[str, str]) -> None:
        self.doc = yaml.safe_load(pipeline.read_text())
        self.env = {**env, **{k: str(v) for k, v in self.doc["variables"].items()}}
        self.artifacts: dict[str, dict[str, bytes]] = {}

    def jobs(self) -> list[str]:
        stages = self.doc["stages"]
        jobs = [k for k, v in self.doc.items() if isinstance(v, dict) and "stage" in v]
        return sorted(jobs, key=lambda j: stages.index(self.doc[j]["stage"]))

    def job(
        self, name: str, ws: Path, run: Run, id_tokens: Callable[[str], str] | None = None
    ) -> None:
        job = self.doc[name]
        needs = job.get("needs")
        for producer, files in self.artifacts.items():
            if needs is None or producer in needs:
                for rel, data in files.items():
                    (ws / rel).parent.mkdir(parents=True, exist_ok=True)
                    (ws / rel).write_bytes(data)
        env = dict(self.env)
        for var, spec in job.get("id_tokens", {}).items():
            assert id_tokens is not None, f"{name} requests an ID token"
            env[var] = id_tokens(spec["aud"])
        script = "\n".join(job["script"])
        rc, out = shell(script, ws, env)
        run.steps.append(Step(name, "script", rc, out))
        files: dict[str, bytes] = {}
        for pattern in job.get("artifacts", {}).get("paths", []):
            path = ws / re.sub(r"\$(\w+)", lambda m: env[m.group(1)], pattern)
            for f in [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []:
                if f.is_file():
                    files[f.relative_to(ws).as_posix()] = f.read_bytes()
        self.artifacts[name] = files
