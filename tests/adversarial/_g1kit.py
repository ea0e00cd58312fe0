"""Helpers shared by helper G1's adversarial tests (evidence binding, sidecars, git paths,
gate formats): a policy kit with real keys, and a few one-line model builders."""

from __future__ import annotations

from pathlib import Path

from tests.unit.policy.kit import Kit, safetensors_bytes
from weightguard.bundle import encode_statement, statement_for_manifest
from weightguard.manifest import build_manifest, enumerate_model

W = safetensors_bytes(4)
C = b'{"layers": 2}\n'


def rules(*body: str, head: str = "") -> str:
    """A `spec` tail: `head` lines, then `rules:` with each body (already indented)."""
    return head + "  rules:\n" + "".join(body)


def rule(name: str, paths: str, signatures: str, *extra: str) -> str:
    out = f"  - name: {name}\n    paths: {paths}\n    signatures: {signatures}\n"
    return out + "".join(f"    {line}\n" for line in extra)


def sign_naming(kit: Kit, signer: str, files: dict[str, bytes], dest: Path, work: Path) -> Path:
    """What a trusted signer signed at some other time: a model with these names and bytes
    (built in `work`, signed, and the bundle written to `dest`)."""
    for rel, data in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
    manifest = build_manifest(enumerate_model(work, ignore_paths=["model.sig", "model.sig.d"]))
    bundle = kit.signer(signer).sign_payload(encode_statement(statement_for_manifest(manifest)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bundle)
    return dest


def failed(result: object) -> list[tuple[str, str | None]]:
    """(code, path) of every blocking check."""
    checks = result.decision.checks  # type: ignore[attr-defined]
    return [(c.code, c.path) for c in checks if c.blocking]
