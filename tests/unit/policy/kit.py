"""Test kit for policy tests: real keys and certificates, really signed models, attestations.

One `Kit` per test session (keys are the slow part). Models are written into each test's
own directory and signed with weightguard's own signers; extra predicate fields
(`weightguard_version`, `weightguard_signed_at`) are added the way a release pipeline
would, by signing the OMS statement with them.
"""

from __future__ import annotations

import json
import pickle
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.models import Pki, make_keypair, make_pki
from weightguard.attestation import make_statement, sign_statement
from weightguard.bundle import encode_statement, statement_for_manifest
from weightguard.gate import GateResult, Overrides, run_gate
from weightguard.manifest import build_manifest, enumerate_model
from weightguard.policy.load import load_policy
from weightguard.signing import Signer
from weightguard.signing.ec import EcKeySigner
from weightguard.signing.keys import key_hint, load_public_key
from weightguard.signing.x509 import CertificateSigner

KEY_NAMES = ("team-a", "team-b", "team-c", "revoked", "rogue")
SLSA = "https://slsa.dev/provenance/v1"
SCAN = "https://weightguard.dev/scan/v1"
SMOKE = "https://weightguard.dev/smoke/v1"


def safetensors_bytes(values: int = 2) -> bytes:
    """A minimal valid safetensors file (one F32 tensor)."""
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]}}
    ).encode()
    return struct.pack("<Q", len(header)) + header + bytes(4 * values)


def clean_pickle() -> bytes:
    """A data-only pickle (no globals): clean under every profile."""
    return pickle.dumps({"weight": [1.0, 2.0], "step": 3}, protocol=4)


# Protocol 0 pickle that would call os.system; bytes only, never loaded.
EVIL_PICKLE = b"cos\nsystem\n(S'echo pwned'\ntR."


def truncated_pickle() -> bytes:
    """A pickle cut in half: the scanner cannot finish it (incomplete)."""
    data = pickle.dumps({"w": [1.0, 2.0] * 50}, protocol=4)
    return data[: len(data) // 2]


def write_model(root: Path, files: Mapping[str, bytes]) -> Path:
    """Write a model directory."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def default_model(root: Path, **extra: bytes) -> Path:
    """weights.safetensors + config.json (+ extra files)."""
    files = {"weights.safetensors": safetensors_bytes(), "config.json": b'{"layers": 2}\n'}
    files.update(extra)
    return write_model(root, files)


@dataclass
class Kit:
    """Keys, certificates and helpers shared by the policy tests."""

    root: Path
    pki: Pki

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def key_id(self, name: str) -> str:
        return "sha256:" + key_hint(load_public_key(self.keys / f"{name}.pub.pem"))

    def signer(self, name: str) -> Signer:
        """EC signer by key name, or ``corp`` / ``other-corp`` for X.509 leaves."""
        if name == "corp":
            return CertificateSigner.from_files(
                self.pki.leaf_key, self.pki.leaf_cert, [self.pki.intermediate]
            )
        if name == "other-corp":
            return CertificateSigner.from_files(self.pki.other_leaf_key, self.pki.other_leaf_cert)
        return EcKeySigner.from_file(self.keys / f"{name}.pem")

    def signers_yaml(self, base: Path) -> str:
        """The `signers:` block (4-space indented under spec), trust files copied to base."""
        trust = base / "trust"
        trust.mkdir(parents=True, exist_ok=True)
        lines = ["  signers:"]
        for name in KEY_NAMES[:-1]:  # rogue is never trusted
            (trust / f"{name}.pub.pem").write_bytes((self.keys / f"{name}.pub.pem").read_bytes())
            lines.append(
                f"    {name}: {{key: {{publicKey: trust/{name}.pub.pem, "
                f'keyId: "{self.key_id(name)}"}}}}'
            )
        lines.append(
            f"    corp: {{x509: {{roots: {self.roots_yaml(base)}, "
            f"identity: {{san: {self.pki.san}}}}}}}"
        )
        return "\n".join(lines) + "\n"

    def roots_yaml(self, base: Path) -> str:
        """The `roots:` value trusting the kit's root CA (copied to base/trust/root.pem)."""
        import hashlib

        (base / "trust").mkdir(parents=True, exist_ok=True)
        data = self.pki.root.read_bytes()
        (base / "trust" / "root.pem").write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        return f'[{{file: trust/root.pem, digest: "sha256:{digest}"}}]'

    def policy(self, base: Path, spec: str, *, name: str = "test", signers: bool = True) -> Path:
        """Write a policy whose `spec` body is `spec` (2-space indented keys)."""
        base.mkdir(parents=True, exist_ok=True)
        text = (
            "apiVersion: weightguard.dev/v1\nkind: Policy\n"
            f"metadata: {{name: {name}}}\nspec:\n"
            + (self.signers_yaml(base) if signers else "")
            + spec
        )
        path = base / "policy.yaml"
        path.write_text(text)
        return path

    def sign(
        self,
        model: Path,
        signer: str,
        *,
        dest: Path | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Sign `model` (model.sig and model.sig.d left out) into `dest` (default model.sig)."""
        inv = enumerate_model(model, ignore_paths=["model.sig", "model.sig.d"])
        manifest = build_manifest(inv)
        statement = statement_for_manifest(manifest)
        statement["predicate"].update(extra or {})
        bundle = self.signer(signer).sign_payload(encode_statement(statement))
        out = dest or model / "model.sig"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(bundle)
        return out

    def cosign(self, model: Path, signer: str, **kw: Any) -> Path:
        """A co-signature in model.sig.d/SIGNER.sig."""
        return self.sign(model, signer, dest=model / "model.sig.d" / f"{signer}.sig", **kw)

    def attest(
        self,
        dest: Path,
        signer: str,
        predicate_type: str,
        digest: str,
        predicate: Mapping[str, Any],
        name: str = "model",
    ) -> Path:
        """Write a signed in-toto statement about `digest` (hex sha256)."""
        stmt = make_statement([(name, {"sha256": digest})], predicate_type, predicate)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(sign_statement(stmt, self.signer(signer)))
        return dest

    def gate(self, model: Path, policy: Path, **kw: Any) -> GateResult:
        """Load the policy and run the gate (library call, as the CLI does)."""
        overrides = kw.pop("overrides", None) or Overrides()
        return run_gate(model, load_policy(policy), overrides=overrides, **kw)


def make_kit(root: Path) -> Kit:
    """Generate every key and the PKI once."""
    for name in KEY_NAMES:
        make_keypair(root / "keys", name)
    return Kit(root, make_pki(root / "pki"))


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_digest(model: Path) -> str:
    """The OMS files-mode sha256 root digest of a model (what `weightguard digest` prints)."""
    inv = enumerate_model(model, ignore_paths=["model.sig", "model.sig.d"])
    return build_manifest(inv).root_digest
