"""Run a container from the example manifests the way the kubelet would, without a cluster.

`lay_out_pod` builds a temp tree for one container of a pod spec: every volume it mounts
becomes a directory (PVCs filled by the test, ConfigMaps and Secrets from the example
manifests laid out like the kubelet's atomic writer with `..data` symlinks, emptyDirs 0777),
read-only mounts are made unwritable, the termination-message file is pre-created 0666 in an
unwritable directory (as the kubelet bind-mounts it), HOME is the image's HOME and read-only.
`run` then executes the container's exact `args` with every mount path rewritten to its
directory, as uid 65532 when the tests run as root, with network access cut (an unreachable
proxy, plus a fresh network namespace when `unshare` works), and returns what happened.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "examples" / "kubernetes"
POD_UID = 65532  # the image's USER and the manifests' runAsUser
UNREACHABLE_PROXY = "http://127.0.0.1:9"  # discard port: nothing listens
DEFAULT_TERMINATION_PATH = "/dev/termination-log"

Populate = Callable[[Path], None]


def load_all(path: Path) -> list[dict[str, Any]]:
    """Every YAML document in `path` (safe loader), skipping empty ones."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def example_objects() -> list[dict[str, Any]]:
    """Every Kubernetes object in examples/kubernetes/*.yaml."""
    return [doc for p in sorted(K8S.glob("*.yaml")) for doc in load_all(p)]


def find_object(kind: str, name: str) -> dict[str, Any]:
    """The example object of this kind and name."""
    for doc in example_objects():
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise LookupError(f"no {kind}/{name} in {K8S}")


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec of a Pod, a workload with a pod template, or a CronJob."""
    if obj["kind"] == "Pod":
        return dict(obj["spec"])
    if obj["kind"] == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(obj["spec"]["template"]["spec"])


def container(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The (init) container called `name`."""
    for c in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        if c["name"] == name:
            return dict(c)
    raise LookupError(f"no container {name!r}")


def image_home() -> str:
    """HOME as the Dockerfile's runtime stage sets it."""
    home = "/"
    for line in (REPO / "Dockerfile").read_text().splitlines():
        for token in line.replace("\\", " ").split():
            if token.startswith("HOME="):
                home = token.split("=", 1)[1]
    return home


def safetensors_bytes(values: list[float]) -> bytes:
    """A valid safetensors file holding one float32 vector (no numpy needed)."""
    data = struct.pack(f"<{len(values)}f", *values)
    header = json.dumps(
        {"weight": {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, len(data)]}},
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def write_model(directory: Path) -> Path:
    """A small serving model: safetensors weights plus JSON config, as a release ships it."""
    _write(directory / "model.safetensors", safetensors_bytes([0.5 * i for i in range(64)]))
    _write(directory / "config.json", b'{"architectures": ["TinyLM"], "hidden_size": 8}\n')
    _write(directory / "tokenizer.json", b'{"version": "1.0", "model": {"type": "BPE"}}\n')
    return directory


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _object_files(kind: str, name: str, namespace: str) -> dict[str, bytes]:
    obj = find_object(kind, name)
    assert obj["metadata"].get("namespace") == namespace, f"{kind}/{name} in another namespace"
    if kind == "ConfigMap":
        files = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        binary = obj.get("binaryData") or {}
        files.update({k: base64.b64decode(v) for k, v in binary.items()})
        return files
    files = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    files.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return files


TRUST_VOLUME = "weightguard-trust"


def trust_overrides(
    spec: Mapping[str, Any], public_pem: bytes, namespace: str = "ml-serving"
) -> dict[str, dict[str, bytes]]:
    """The trust Secret's files with every public key in it replaced by `public_pem`."""
    vol = next(v for v in spec["volumes"] if v["name"] == TRUST_VOLUME)
    files = _object_files("Secret", vol["secret"]["secretName"], namespace)
    keys = [name for name in files if name.endswith(".pub.pem")]
    assert keys, "the trust Secret holds no public key"
    return {TRUST_VOLUME: {**files, **dict.fromkeys(keys, public_pem)}}


@contextlib.contextmanager
def pod_root() -> Iterator[Path]:
    """A temp directory the pod's uid can traverse (pytest's tmp_path is 0700 when root)."""
    root = Path(tempfile.mkdtemp(prefix="wg-pod-"))
    try:
        root.chmod(0o755)
        yield root
    finally:
        make_writable(root)
        shutil.rmtree(root, ignore_errors=True)


def write_projected(directory: Path, files: Mapping[str, bytes], mode: int = 0o444) -> None:
    """Lay files out like the kubelet's atomic writer: `..TS/f`, `..data -> ..TS`, `f -> ..data/f`."""
    stamp = directory / "..2030_01_01_00_00_00.000000001"
    stamp.mkdir(parents=True)
    for rel, data in files.items():
        target = stamp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
    (directory / "..data").symlink_to(stamp.name)
    for rel in files:
        top = rel.split("/", 1)[0]
        if not (directory / top).is_symlink():
            (directory / top).symlink_to(f"..data/{top}")


def make_read_only(root: Path) -> None:
    """Drop every write bit below (and including) `root`."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                p.chmod(p.stat().st_mode & ~0o222)
        for name in dirnames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                p.chmod(0o555)
    root.chmod(0o555)


def make_writable(root: Path) -> None:
    """Undo `make_read_only` so pytest can clean up."""
    if not root.exists():
        return
    root.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                p.chmod(0o755)
        for name in filenames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o200)


@dataclass
class PodLayout:
    """A container's filesystem view, rooted in a temp directory."""

    root: Path
    mounts: dict[str, Path] = field(default_factory=dict)  # mountPath -> directory
    files: dict[str, Path] = field(default_factory=dict)  # container file -> host file
    env: dict[str, str] = field(default_factory=dict)

    def host(self, container_path: str) -> Path:
        """The host path for a container path (longest mount prefix wins)."""
        if container_path in self.files:
            return self.files[container_path]
        best = max(
            (m for m in self.mounts if container_path == m or container_path.startswith(m + "/")),
            key=len,
            default=None,
        )
        if best is None:
            raise LookupError(f"{container_path} is not under any mount")
        rest = container_path[len(best) :].lstrip("/")
        return self.mounts[best] / rest if rest else self.mounts[best]

    def translate(self, args: list[str]) -> list[str]:
        """Rewrite absolute container paths in args (`/p` and `--opt=/p`) to host paths."""
        out = []
        for arg in args:
            if arg.startswith("/"):
                out.append(str(self.host(arg)))
            elif arg.startswith("--") and "=/" in arg:
                opt, value = arg.split("=", 1)
                out.append(f"{opt}={self.host(value)}")
            else:
                out.append(arg)
        return out


def lay_out_pod(
    root: Path,
    spec: Mapping[str, Any],
    ctr: Mapping[str, Any],
    namespace: str,
    *,
    volumes: Mapping[str, Populate] | None = None,
    overrides: Mapping[str, Mapping[str, bytes]] | None = None,
) -> PodLayout:
    """Build the container's mounts under `root`.

    Args:
        volumes: volume name -> function filling a PVC volume's directory.
        overrides: volume name -> files to project instead of the ConfigMap/Secret's own.
    """
    volumes = volumes or {}
    overrides = overrides or {}
    root.chmod(0o755)
    layout = PodLayout(root)
    by_name = {v["name"]: v for v in spec.get("volumes", [])}
    read_only: list[Path] = []
    for mount in ctr.get("volumeMounts", []):
        vol = by_name[mount["name"]]
        host = root / "volumes" / mount["name"]
        host.mkdir(parents=True)
        if "persistentVolumeClaim" in vol:
            volumes.get(mount["name"], lambda _p: None)(host)
        elif "configMap" in vol or "secret" in vol:
            kind, ref = (
                ("ConfigMap", vol["configMap"]["name"])
                if "configMap" in vol
                else ("Secret", vol["secret"]["secretName"])
            )
            files = overrides.get(mount["name"])
            if files is None:
                files = _object_files(kind, ref, namespace)
            source = vol.get("configMap") or vol.get("secret") or {}
            if "items" in source:
                files = {i["path"]: files[i["key"]] for i in source["items"] if i["key"] in files}
            write_projected(host, files, source.get("defaultMode", 0o644) & 0o444)
            read_only.append(host)
        elif "emptyDir" in vol:
            host.chmod(0o777)
        else:
            raise NotImplementedError(f"volume type of {vol}")
        if mount.get("readOnly") or vol.get("persistentVolumeClaim", {}).get("readOnly"):
            read_only.append(host)
        layout.mounts[mount["mountPath"]] = host
    # The kubelet's termination-message file: bind-mounted, mode 0666, in a directory the
    # container cannot write.
    term = ctr.get("terminationMessagePath", DEFAULT_TERMINATION_PATH)
    term_host = root / "kubelet" / Path(term).name
    term_host.parent.mkdir()
    term_host.touch()
    term_host.chmod(0o666)
    term_host.parent.chmod(0o555)
    layout.files[term] = term_host
    home = root / "home"
    home.mkdir()
    home.chmod(0o555)
    tmp = root / "tmp-readonly"
    tmp.mkdir()
    tmp.chmod(0o555)
    for path in read_only:
        make_read_only(path)
    layout.env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        **dict.fromkeys(
            ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"), UNREACHABLE_PROXY
        ),
        "NO_PROXY": "",
        "no_proxy": "",
    }
    for item in ctr.get("env", []):
        if "value" in item:
            layout.env[item["name"]] = item["value"]
    assert image_home() != "/", "the Dockerfile must set HOME"
    return layout


def _can(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def sandbox_prefix() -> list[str]:
    """Run as the pod's uid without network when we are root; nothing to add otherwise."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return []
    drop = ["setpriv", f"--reuid={POD_UID}", f"--regid={POD_UID}", "--clear-groups"]
    if shutil.which("unshare") and _can(["unshare", "-n", "true"]):
        return ["unshare", "-n", "--", *drop]
    return drop


def weightguard_executable(python: Path | None = None) -> Path:
    """The `weightguard` console script beside `python` (default: this interpreter)."""
    return Path(python or sys.executable).parent / "weightguard"


@dataclass(frozen=True)
class Run:
    """A finished container run."""

    rc: int
    stdout: str
    stderr: str
    termination_message: str


def run(
    layout: PodLayout,
    ctr: Mapping[str, Any],
    *,
    executable: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Run:
    """Execute the container's exact args (paths rewritten) with its entrypoint."""
    assert "command" not in ctr, "the examples keep the image's ENTRYPOINT"
    args = layout.translate(list(ctr["args"]))
    exe = executable or weightguard_executable()
    proc = subprocess.run(
        [*sandbox_prefix(), str(exe), *args],
        capture_output=True,
        text=True,
        env={**layout.env, **(extra_env or {})},
        cwd=layout.env["HOME"],
        timeout=timeout,
        check=False,
    )
    term = layout.files.get(ctr.get("terminationMessagePath", DEFAULT_TERMINATION_PATH))
    message = term.read_text(encoding="utf-8") if term and term.exists() else ""
    return Run(proc.returncode, proc.stdout, proc.stderr, message)


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry below `root`: kind, permission bits, and content hash or link target."""
    out: dict[str, tuple[str, int, str]] = {}

    def walk(directory: Path) -> Iterator[Path]:
        for entry in sorted(directory.iterdir()):
            yield entry
            if entry.is_dir() and not entry.is_symlink():
                yield from walk(entry)

    for p in walk(root):
        st = p.lstat()
        rel = p.relative_to(root).as_posix()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", 0, os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), "")
        else:
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if os.access(p, os.R_OK) else "?"
            out[rel] = ("file", stat.S_IMODE(st.st_mode), digest)
    return out


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """Entries added, removed or modified between two snapshots."""
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
