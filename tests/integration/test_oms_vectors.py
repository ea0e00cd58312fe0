"""Every OMS interop vector (made per session by tests/oms_vectors.py, which says what
each one is) gets a deliberate, tested outcome through `weightguard verify`.

Where weightguard deliberately differs from model-signing 1.1.1, and why:
- `negative/cert-expired-leaf.sig`: rejected `cert.expired`. 1.1.1 validates the chain
  at the leaf's notBefore, so expiry is never enforced (defect 7, fixed upstream after
  1.1.1, #664); the OMS spec requires the leaf to be valid.
- `negative/empty-manifest.sig`: rejected `manifest.empty`, even with
  `--allow-unsigned-files`. A signature over nothing vouches for nothing; with
  `--ignore_unsigned_files` 1.1.1 accepts any directory with it (defect 9; spec v1.0 and
  upstream #662 reject empty models).
- `negative/key-p256-extra-junk-signature.sig` and `...-junk-first-signature.sig`:
  rejected `bundle.multiple_signatures`. An OMS bundle carries one signature; 1.1.1
  checks only `signatures[0]` and ignores the rest (defect 11), so the same file would
  verify or not depending on the order of its entries. We refuse the ambiguity instead
  of guessing which signature the bundle means.
- `foreign/cleanroom-shards32-specalg-p256.sig`: accepted. Its shard resources use the
  spec's plain `sha256` algorithm name; 1.1.1 only knows its own `sha256-sharded-N`
  and fails "Hash mismatch". Both spellings name the same digest (2.10).
- every `api-*` bundle and the other foreign shard/BLAKE3 ones: accepted. The 1.1.1 CLI
  always hashes files+sha256, and its API auto-detection crashes on blake2b and on its
  own float `shard_size` (defects 4-6); weightguard hashes with the signed parameters.
- shards bundles from other producers cannot cover empty files (2.5): `empty.bin` is
  accepted with a `shards.empty_file_unsigned` warning (weightguard's own shard bundles
  list empty files, so there adding one is rejected: tests/integration/test_tamper.py).
- trusting only the intermediate certificate (`--cert-root int.cert.pem`): accepted.
  Any certificate given as a root is an explicit trust anchor (RFC 5280 6.1.1); 1.1.1's
  OpenSSL store needs a self-signed root ("unable to get issuer certificate").
- a certificate bundle verified with no trust given: usage error (exit 2). 1.1.1 falls
  back to the certifi web-PKI roots (defect 8); weightguard never trusts the web PKI by
  default.
Accepted although in `negative/`, like 1.1.1: `key-p256-hint-missing.sig` (bundles before
1.1 carry no key hint; every trusted key is tried) and `key-p256-no-tlogentries.sig`
(`tlogEntries` is optional for key and certificate bundles).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.models import run_cli
from tests.oms_vectors import MODEL_ROOT_DIGEST, MODEL_SIGNING_API_AUTO_DETECT, MODEL_SIGNING_CLI

P256 = ["--key", "keys/p256.pub.pem"]
P384 = ["--key", "keys/p384.pub.pem"]
P521 = ["--key", "keys/p521.pub.pem"]
ROOT = ["--cert-root", "certs/root.cert.pem"]
MODEL = "model"
SINGLE = "model/weights/model.safetensors"
EMPTY_WARNING = [("shards.empty_file_unsigned", "empty.bin")]

# vector (relative to bundles/) -> (model, trust args, exit code, error codes, warnings)
OUTCOMES: dict[str, tuple[str, list[str], int, list[str], list[tuple[str, str]]]] = {
    "api-files-blake2.sig": (MODEL, P256, 0, [], []),
    "api-files-blake3.sig": (MODEL, P256, 0, [], []),
    "api-files-ignore-readme.sig": (MODEL, P256, 0, [], []),
    "api-files-no-git-ignore.sig": (MODEL, P256, 0, [], []),
    "api-shards-blake2-32B.sig": (MODEL, P256, 0, [], EMPTY_WARNING),
    "api-shards-sha256-32B.sig": (MODEL, P256, 0, [], EMPTY_WARNING),
    "api-shards-sha256-default.sig": (MODEL, P256, 0, [], EMPTY_WARNING),
    "cert-chain.sig": (MODEL, ROOT, 0, [], []),
    "cert-leaf-int.sig": (MODEL, ROOT, 0, [], []),
    "key-p256-single-file.sig": (SINGLE, P256, 0, [], []),
    "key-p256.sig": (MODEL, P256, 0, [], []),
    "key-p384.sig": (MODEL, P384, 0, [], []),
    "key-p521.sig": (MODEL, P521, 0, [], []),
    "foreign/cleanroom-files-blake3-p256.sig": (MODEL, P256, 0, [], []),
    "foreign/cleanroom-files-p256.sig": (MODEL, P256, 0, [], []),
    "foreign/cleanroom-files-stringorder-p384.sig": (MODEL, P384, 0, [], []),
    "foreign/cleanroom-shards32-intsize-p256.sig": (MODEL, P256, 0, [], EMPTY_WARNING),
    "foreign/cleanroom-shards32-specalg-p256.sig": (MODEL, P256, 0, [], EMPTY_WARNING),
    "negative/cert-expired-leaf.sig": (MODEL, ROOT, 1, ["cert.expired"], []),
    "negative/cert-tls-leaf.sig": (MODEL, ROOT, 1, ["cert.usage"], []),
    "negative/empty-manifest.sig": (MODEL, P256, 1, ["manifest.empty"], []),
    "negative/key-p256-extra-junk-signature.sig": (
        MODEL,
        P256,
        1,
        ["bundle.multiple_signatures"],
        [],
    ),
    "negative/key-p256-hint-missing.sig": (MODEL, P256, 0, [], []),
    "negative/key-p256-hint-wrong.sig": (MODEL, P256, 1, ["signer.untrusted_key"], []),
    "negative/key-p256-junk-first-signature.sig": (
        MODEL,
        P256,
        1,
        ["bundle.multiple_signatures"],
        [],
    ),
    "negative/key-p256-mediatype-v02.sig": (MODEL, P256, 1, ["bundle.media_type"], []),
    "negative/key-p256-no-tlogentries.sig": (MODEL, P256, 0, [], []),
    "negative/key-p256-not-json.sig": (MODEL, P256, 1, ["bundle.malformed"], []),
    "negative/key-p256-payload-digest-changed.sig": (MODEL, P256, 1, ["signature.invalid"], []),
    "negative/key-p256-payloadtype-changed.sig": (MODEL, P256, 1, ["bundle.payload_type"], []),
    "negative/key-p256-sig-corrupted.sig": (MODEL, P256, 1, ["signature.invalid"], []),
    "negative/key-p256-unknown-field.sig": (MODEL, P256, 1, ["bundle.unknown_field"], []),
}


def test_every_vector_has_a_decided_outcome(oms_dir: Path) -> None:
    """A new vector in tests/oms_vectors.py must get a deliberate entry here before it passes."""
    found = {
        p.relative_to(oms_dir / "bundles").as_posix() for p in (oms_dir / "bundles").rglob("*.sig")
    }
    assert found == set(OUTCOMES)


@pytest.mark.parametrize("vector", sorted(OUTCOMES))
def test_vector_outcome(oms_dir: Path, vector: str) -> None:
    model, trust, rc, errors, warnings = OUTCOMES[vector]
    r = run_cli(
        "verify", model, "--signature", f"bundles/{vector}", *trust, "--format", "json",
        cwd=oms_dir,
    )  # fmt: skip
    assert r.rc == rc, (r.stdout, r.stderr)
    doc = r.json()
    assert doc["verdict"] == ("accepted" if rc == 0 else "rejected")
    assert doc["exit_code"] == rc
    assert r.error_codes() == errors
    got_warnings = [(x["code"], x["path"]) for x in doc["reasons"] if x["severity"] == "warning"]
    assert got_warnings == warnings
    if rc == 0:
        assert doc["signer"] is not None and doc["model"]["root_digest"].startswith("sha256:")


def test_model_root_digest_is_the_documented_one(oms_dir: Path) -> None:
    """README: files+sha256 subject digest of model/ in model-signing's (component) order."""
    r = run_cli("digest", "model", cwd=oms_dir)
    assert r.stdout.strip() == f"sha256:{MODEL_ROOT_DIGEST}"


def test_empty_manifest_stays_rejected_with_unsigned_files_allowed(oms_dir: Path) -> None:
    r = run_cli(
        "verify", "model", "--signature", "bundles/negative/empty-manifest.sig", *P256,
        "--allow-unsigned-files", "--format", "json", cwd=oms_dir,
    )  # fmt: skip
    assert r.rc == 1 and r.error_codes() == ["manifest.empty"]


# --- side by side with model-signing's own CLI outcomes (oms_vectors.MODEL_SIGNING_CLI) ------

# (bundle, 1.1.1 verify args) -> why weightguard's accept/reject differs from 1.1.1's
DIFFERENCES: dict[tuple[str, str], str] = {
    **{
        (f"bundles/{b}", "key --public_key keys/p256.pub.pem"): "1.1.1 CLI hashes files+sha256 only"
        for b in (
            "api-files-blake2.sig",
            "api-files-blake3.sig",
            "api-shards-blake2-32B.sig",
            "api-shards-sha256-32B.sig",
            "api-shards-sha256-default.sig",
            "foreign/cleanroom-shards32-intsize-p256.sig",
            "foreign/cleanroom-files-blake3-p256.sig",
        )
    },
    (
        "bundles/foreign/cleanroom-shards32-specalg-p256.sig",
        "key --public_key keys/p256.pub.pem",
    ): "spec-style shard algorithm names are accepted",
    (
        "bundles/negative/key-p256-extra-junk-signature.sig",
        "key --public_key keys/p256.pub.pem",
    ): "one signature per bundle",
    (
        "bundles/negative/cert-expired-leaf.sig",
        "certificate --certificate_chain certs/root.cert.pem",
    ): "leaf validity enforced",
    (
        "bundles/negative/empty-manifest.sig",
        "key --public_key keys/p256.pub.pem --ignore_unsigned_files",
    ): "empty manifests are rejected",
    (
        "bundles/cert-leaf-int.sig",
        "certificate --certificate_chain certs/int.cert.pem",
    ): "any given root is an explicit trust anchor",
}


def _weightguard_args(ms_args: str) -> list[str] | None:
    """Translate 1.1.1 verify args to weightguard's; None when there is no equivalent."""
    words = shlex.split(ms_args)
    method, rest = words[0], words[1:]
    out: list[str] = []
    while rest:
        flag = rest.pop(0)
        if flag == "--public_key":
            out += ["--key", rest.pop(0)]
        elif flag == "--certificate_chain":
            out += ["--cert-root", rest.pop(0)]
        elif flag == "--ignore_unsigned_files":
            out.append("--allow-unsigned-files")
        else:
            raise AssertionError(f"unknown model_signing flag {flag}")
    if method == "certificate" and "--cert-root" not in out:
        return None  # 1.1.1 would use the certifi web PKI: we never do
    return out


def test_cli_outcomes_match_model_signing_except_documented_differences(oms_dir: Path) -> None:
    from weightguard.api import verify
    from weightguard.cli.verify import build_verifier
    from weightguard.errors import UsageError

    seen_differences = set()
    for bundle, model, ms_args, ms_rc in MODEL_SIGNING_CLI:
        key = (bundle, ms_args)
        args = _weightguard_args(ms_args)
        if args is None:
            with pytest.raises(UsageError):
                build_verifier((), (), None, None)
            continue
        keys = tuple(args[i + 1] for i, a in enumerate(args) if a == "--key")
        roots = tuple(args[i + 1] for i, a in enumerate(args) if a == "--cert-root")
        verifier = build_verifier(
            tuple(str(oms_dir / k) for k in keys),
            tuple(str(oms_dir / r) for r in roots),
            None,
            None,
        )
        result = verify(
            oms_dir / model,
            verifier,  # type: ignore[arg-type]
            signature_path=oms_dir / bundle,
            allow_unsigned_files="--allow-unsigned-files" in args,
        )
        reference_accepts = ms_rc == 0
        if key in DIFFERENCES:
            seen_differences.add(key)
            assert result.accepted != reference_accepts, (key, DIFFERENCES[key])
        else:
            assert result.accepted == reference_accepts, (key, result.reasons)
    assert seen_differences == set(DIFFERENCES)


def test_api_auto_detect_vectors_all_verify() -> None:
    """1.1.1's API fails on blake2b and its own float shard_size; weightguard reads every
    one of these bundles with its signed parameters."""
    assert len(MODEL_SIGNING_API_AUTO_DETECT) >= 10
    for bundle in MODEL_SIGNING_API_AUTO_DETECT:
        vector = bundle.removeprefix("bundles/")
        model, trust, rc, errors, _ = OUTCOMES[vector]
        assert (rc, errors) == (0, []), vector


def test_model_signing_cli_still_behaves_as_recorded(
    oms_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference table is not taken on trust: model-signing 1.1.1's own CLI, run on
    this session's vectors, gives each recorded exit code."""
    from click.testing import CliRunner
    from model_signing._cli import main as model_signing_cli

    monkeypatch.chdir(oms_dir)
    seen = {}
    for bundle, model, ms_args, ms_rc in MODEL_SIGNING_CLI:
        words = shlex.split(ms_args)
        if words == ["certificate"]:
            continue  # would fall back to the certifi web PKI bundle: not a reference for us
        result = CliRunner().invoke(
            model_signing_cli, ["verify", words[0], model, "--signature", bundle, *words[1:]]
        )
        seen[(bundle, ms_args)] = result.exit_code
    expected = {(b, a): rc for b, _, a, rc in MODEL_SIGNING_CLI if a != "certificate"}
    assert seen == expected
