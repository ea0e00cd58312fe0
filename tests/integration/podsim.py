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


# Not Kubernetes objects: kustomize's input and the policy copy it generates a ConfigMap from.
NOT_OBJECTS = {"kustomization.yaml", "policy.yaml"}


def manifest_files() -> list[Path]:
    """examples/kubernetes/*.yaml that hold Kubernetes objects."""
    return [p for p in sorted(K8S.glob("*.yaml")) if p.name not in NOT_OBJECTS]


def example_objects() -> list[dict[str, Any]]:
    """Every Kubernetes object in examples/kubernetes/*.yaml."""
    return [doc for p in manifest_files() for doc in load_all(p)]


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
POLICY_VOLUME = "weightguard-policy"


def trust_overrides(
    spec: Mapping[str, Any], public_pem: bytes, namespace: str = "ml-serving"
) -> dict[str, dict[str, bytes]]:
    """The trust Secret's files with every public key in it replaced by `public_pem`."""
    files = _object_files("Secret", _volume_ref(spec, TRUST_VOLUME), namespace)
    keys = [name for name in files if name.endswith(".pub.pem")]
    assert keys, "the trust Secret holds no public key"
    return {TRUST_VOLUME: {**files, **dict.fromkeys(keys, public_pem)}}


def key_id(public_pem: bytes) -> str:
    """The policy's `keyId` for a public key: sha256 of its canonical PEM (the OMS key hint)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from weightguard.signing.keys import key_hint

    key = load_pem_public_key(public_pem)
    return f"sha256:{key_hint(key)}"  # type: ignore[arg-type]


def make_it_yours(
    spec: Mapping[str, Any],
    ctr: Mapping[str, Any],
    public_pem: bytes,
    namespace: str = "ml-serving",
) -> tuple[dict[str, dict[str, bytes]], dict[str, Any]]:
    """The README's "trust and policy" step, for a test release key.

    The example trusts a key whose private half nobody has (so the example as shipped
    refuses everything). A deployment puts its own public key in the trust Secret, pins that
    key's id in the policy, and pins the policy's new digest in the args. Returns the
    volume overrides and the container with the new pin; nothing else changes.
    """
    overrides = trust_overrides(spec, public_pem, namespace)
    example = _object_files("Secret", _volume_ref(spec, TRUST_VOLUME), namespace)
    old_ids = {key_id(v) for k, v in example.items() if k.endswith(".pub.pem")}
    cm_name = _volume_ref(spec, POLICY_VOLUME)
    policy = _object_files("ConfigMap", cm_name, namespace)["policy.yaml"].decode()
    for old in old_ids:
        assert old in policy, "the policy must pin the example key's id"
        policy = policy.replace(old, key_id(public_pem))
    overrides[POLICY_VOLUME] = {"policy.yaml": policy.encode()}
    digest = "sha256:" + hashlib.sha256(policy.encode()).hexdigest()
    args = [
        f"--policy-digest={digest}" if a.startswith("--policy-digest=") else a for a in ctr["args"]
    ]
    return overrides, {**ctr, "args": args}


def _volume_ref(spec: Mapping[str, Any], volume: str) -> str:
    vol = next(v for v in spec["volumes"] if v["name"] == volume)
    return str(vol["configMap"]["name"] if "configMap" in vol else vol["secret"]["secretName"])


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


def write_projected(
    directory: Path, files: Mapping[str, bytes], mode: int = 0o444, fs_group: int | None = None
) -> None:
    """Lay files out like the kubelet's atomic writer: `..TS/f`, `..data -> ..TS`, `f -> ..data/f`.

    With a pod `fsGroup`, the kubelet gives the group read access and ownership (so a 0400
    Secret is readable by the pod's non-root user); we do the same when we can chown.
    """
    stamp = directory / "..2030_01_01_00_00_00.000000001"
    stamp.mkdir(parents=True)
    for rel, data in files.items():
        target = stamp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
        if fs_group is not None and os.geteuid() == 0:
            os.chown(target, -1, fs_group)
            target.chmod(mode | 0o440)
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
    """A container's filesystem view: `root/rootfs` mirrors the container's `/`.

    Mounts appear at their mount paths under `rootfs`, so relative references between
    mounted files (a policy's `trust/...`) resolve exactly as in the pod. Everything that is
    not a writable volume is unwritable, like `readOnlyRootFilesystem: true`.
    """

    root: Path
    mounts: dict[str, Path] = field(default_factory=dict)  # mountPath -> host path
    files: dict[str, Path] = field(default_factory=dict)  # container file -> host file
    env: dict[str, str] = field(default_factory=dict)

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    def host(self, container_path: str) -> Path:
        """The host path for an absolute container path."""
        assert container_path.startswith("/"), container_path
        return self.rootfs / container_path.lstrip("/")

    def mounted(self, container_path: str) -> bool:
        """True when the path is a mounted file or lies under a mount."""
        return container_path in self.files or any(
            container_path == m or container_path.startswith(m.rstrip("/") + "/")
            for m in self.mounts
        )

    def translate(self, args: list[str]) -> list[str]:
        """Rewrite absolute container paths in args (`/p` and `--opt=/p`) to host paths."""
        out = []
        for arg in args:
            opt, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
            if value.startswith("/"):
                value = str(self.host(value))
            out.append(f"{opt}{eq}{value}")
        return out


def _materialize(
    vol: Mapping[str, Any],
    host: Path,
    namespace: str,
    populate: Populate | None,
    files: Mapping[str, bytes] | None,
    fs_group: int | None = None,
) -> bool:
    """Fill one volume at `host`; returns True when the volume is read-only by nature."""
    host.mkdir(parents=True)
    if "persistentVolumeClaim" in vol:
        if populate:
            populate(host)
        return bool(vol["persistentVolumeClaim"].get("readOnly"))
    if "configMap" in vol or "secret" in vol:
        kind, ref = (
            ("ConfigMap", vol["configMap"]["name"])
            if "configMap" in vol
            else ("Secret", vol["secret"]["secretName"])
        )
        content = dict(files) if files is not None else _object_files(kind, ref, namespace)
        source = vol.get("configMap") or vol.get("secret") or {}
        if "items" in source:
            content = {i["path"]: content[i["key"]] for i in source["items"] if i["key"] in content}
        write_projected(host, content, source.get("defaultMode", 0o644) & 0o444, fs_group)
        return True  # the kubelet always projects these read-only
    if "emptyDir" in vol:
        host.chmod(0o777)
        return False
    raise NotImplementedError(f"volume type of {vol}")


def lay_out_pod(
    root: Path,
    spec: Mapping[str, Any],
    ctr: Mapping[str, Any],
    namespace: str,
    *,
    volumes: Mapping[str, Populate] | None = None,
    overrides: Mapping[str, Mapping[str, bytes]] | None = None,
    shared: Mapping[str, Path] | None = None,
) -> PodLayout:
    """Build the container's filesystem under `root`.

    Args:
        volumes: volume name -> function filling a PVC volume's directory.
        overrides: volume name -> files to project instead of the ConfigMap/Secret's own.
        shared: volume name -> an existing directory that is that volume for every
            container of the pod (a Job's steps hand files on through it).
    """
    shared = shared or {}
    fs_group = (spec.get("securityContext") or {}).get("fsGroup")
    volumes = volumes or {}
    overrides = overrides or {}
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    layout = PodLayout(root)
    layout.rootfs.mkdir()
    by_name = {v["name"]: v for v in spec.get("volumes", [])}
    read_only: list[Path] = []
    for mount in ctr.get("volumeMounts", []):
        vol = by_name[mount["name"]]
        backing = root / "volumes" / mount["name"]
        if mount["name"] in shared and not backing.exists():
            backing.parent.mkdir(parents=True, exist_ok=True)
            backing.symlink_to(shared[mount["name"]])
            if mount.get("readOnly"):
                read_only.append(backing)
        elif not backing.exists():
            ro = _materialize(
                vol,
                backing,
                namespace,
                volumes.get(mount["name"]),
                overrides.get(mount["name"]),
                fs_group,
            )
            if ro or mount.get("readOnly"):
                read_only.append(backing)
        target = layout.host(mount["mountPath"])
        target.parent.mkdir(parents=True, exist_ok=True)
        if "subPath" in mount:
            # The kubelet bind-mounts the one resolved file; a copy has the same bytes.
            source = backing / mount["subPath"]
            if source.exists():
                shutil.copyfile(source, target)
                target.chmod(0o444 if mount.get("readOnly") or "emptyDir" not in vol else 0o666)
                layout.files[mount["mountPath"]] = target
            continue
        if backing.is_symlink():  # a shared volume: mount it where the container expects it
            target.symlink_to(backing.resolve())
        else:
            shutil.move(str(backing), target)
            backing.symlink_to(target)  # the volume stays reachable by name
        layout.mounts[mount["mountPath"]] = target
    # The kubelet's termination-message file: bind-mounted, mode 0666, in a directory the
    # container cannot write.
    term = ctr.get("terminationMessagePath", DEFAULT_TERMINATION_PATH)
    term_host = layout.host(term)
    term_host.parent.mkdir(parents=True, exist_ok=True)
    term_host.touch()
    term_host.chmod(0o666)
    layout.files[term] = term_host
    home = layout.host(image_home())
    home.mkdir(parents=True, exist_ok=True)
    tmp = layout.host("/tmp")
    tmp.mkdir(exist_ok=True)
    for path in read_only:
        make_read_only(path.resolve())
    # Everything else is the image's read-only root filesystem.
    mounted = {p.resolve() for p in layout.mounts.values()}
    for dirpath, dirnames, _ in os.walk(layout.rootfs, topdown=True):
        dirnames[:] = [d for d in dirnames if (Path(dirpath) / d).resolve() not in mounted]
        Path(dirpath).chmod(0o555)
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
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            files = overrides.get(ref["name"])
            if files is None:
                files = _object_files("Secret", ref["name"], namespace)
            if ref["key"] in files:
                layout.env[item["name"]] = files[ref["key"]].decode()
            else:
                assert ref.get("optional"), f"secret {ref['name']} has no key {ref['key']}"
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
