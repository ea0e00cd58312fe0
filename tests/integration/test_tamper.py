"""The tamper matrix of issue 2, through the real CLI: every change to a signed model or
its bundle is rejected (exit 1) with the reason code that names it, in `files` and
`shards` mode.

Codes that coincide, and why: in files mode OMS records no sizes, so truncation and an
appended byte are digest mismatches (shards mode knows the shard boundaries and reports
`file.size_mismatch`); an edited payload and a corrupted signature are, to a verifier,
the same event (the signature does not verify over the payload bytes).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.models import (
    KeyPair,
    Pki,
    make_keypair,
    make_pki,
    ordering_trap_model,
    run_cli,
    write,
)

SHARD = "100"  # small shards, so files span several and sizes are recorded


@dataclass(frozen=True)
class Signed:
    model: Path
    sig: Path
    keys: KeyPair
    other: KeyPair
    pki: Pki
    cert_sig: Path


@pytest.fixture(scope="module", params=["files", "shards"])
def signed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    base = tmp_path_factory.mktemp(f"tamper-{request.param}")
    keys = make_keypair(base / "keys", "k")
    other = make_keypair(base / "keys", "other")
    pki = make_pki(base / "pki")
    model = ordering_trap_model(base / "model")
    mode = ["--shards", SHARD] if request.param == "shards" else []
    sig = base / "model.sig"
    assert run_cli("sign", model, "--key", keys.private, "--signature", sig, *mode).rc == 0
    cert_sig = base / "cert.sig"
    r = run_cli(
        "sign", model, "--key", pki.leaf_key, "--cert", pki.leaf_cert,
        "--chain", pki.intermediate, "--signature", cert_sig, *mode,
    )  # fmt: skip
    assert r.rc == 0, r.stderr
    return Signed(model, sig, keys, other, pki, cert_sig)


@pytest.fixture
def work(signed: Signed, tmp_path: Path) -> Signed:
    """A private copy of the signed model and bundles for one tamper case."""
    model = tmp_path / "model"
    shutil.copytree(signed.model, model, symlinks=True)
    sig = Path(shutil.copy(signed.sig, tmp_path / "model.sig"))
    cert_sig = Path(shutil.copy(signed.cert_sig, tmp_path / "cert.sig"))
    return Signed(model, sig, signed.keys, signed.other, signed.pki, cert_sig)


def verify(w: Signed, *trust: str | os.PathLike[str], sig: Path | None = None) -> list[str]:
    trust = trust or ("--key", w.keys.public)
    r = run_cli("verify", w.model, "--signature", sig or w.sig, *trust, "--format", "json")
    assert r.rc == 1, (r.rc, r.stdout, r.stderr)
    doc = r.json()
    assert doc["verdict"] == "rejected" and doc["exit_code"] == 1
    return sorted(set(r.error_codes()))


def test_untouched_model_verifies(work: Signed) -> None:
    for sig, trust in (
        (work.sig, ("--key", work.keys.public)),
        (work.cert_sig, ("--cert-root", work.pki.root)),
    ):
        r = run_cli("verify", work.model, "--signature", sig, *trust, "--format", "json")
        assert r.rc == 0, r.stdout
        assert r.json()["reasons"] == []


def _flip(w: Signed) -> None:
    p = w.model / "weights" / "blob.bin"
    data = bytearray(p.read_bytes())
    data[150] ^= 0x01
    p.write_bytes(bytes(data))


def _truncate(w: Signed) -> None:
    os.truncate(w.model / "weights" / "blob.bin", 299)


def _append(w: Signed) -> None:
    with open(w.model / "config.json", "ab") as fh:
        fh.write(b"\0")


def _rename(w: Signed) -> None:
    (w.model / "weights.json").rename(w.model / "weights2.json")


def _symlink_added(w: Signed) -> None:
    (w.model / "link.json").symlink_to("config.json")


def _symlink_replaces_signed_file(w: Signed) -> None:
    target = w.model / "weights.json"
    data = target.read_bytes()
    write(w.model.parent / "outside.json", data)  # same bytes, but outside the model
    target.unlink()
    target.symlink_to(w.model.parent / "outside.json")


MODEL_CASES: dict[str, tuple[Callable[[Signed], None], dict[str, list[str]]]] = {
    # case: (tamper, {mode: expected error codes}); "*" = both modes
    "byte flip": (_flip, {"*": ["file.digest_mismatch"]}),
    "truncation": (
        _truncate,
        {"files": ["file.digest_mismatch"], "shards": ["file.size_mismatch"]},
    ),
    "appended byte": (
        _append,
        {"files": ["file.digest_mismatch"], "shards": ["file.size_mismatch"]},
    ),
    "added file": (lambda w: write(w.model / "extra.txt", b"new"), {"*": ["file.unsigned"]}),
    "added hidden file": (lambda w: write(w.model / ".env", b"X=1"), {"*": ["file.unsigned"]}),
    "added nested git file": (
        lambda w: write(w.model / "weights" / ".gitignore", b"*"),
        {"*": ["file.unsigned"]},
    ),
    "removed file": (lambda w: (w.model / "weights.json").unlink(), {"*": ["file.missing"]}),
    "renamed file": (_rename, {"*": ["file.missing", "file.unsigned"]}),
    "added empty file": (lambda w: write(w.model / "new.bin", b""), {"*": ["file.unsigned"]}),
    "removed empty file": (lambda w: (w.model / "empty.bin").unlink(), {"*": ["file.missing"]}),
    "empty file filled": (
        lambda w: write(w.model / "empty.bin", b"x"),
        {"files": ["file.digest_mismatch"], "shards": ["file.size_mismatch"]},
    ),
    "symlink planted": (_symlink_added, {"*": ["model.symlink"]}),
    "signed file replaced by symlink": (_symlink_replaces_signed_file, {"*": ["model.symlink"]}),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_tampering(signed: Signed, work: Signed, case: str) -> None:
    tamper, expected = MODEL_CASES[case]
    mode = "shards" if "sharded" in _algorithm(signed.sig) else "files"
    tamper(work)
    assert verify(work) == expected.get(mode, expected.get("*"))


def _algorithm(sig: Path) -> str:
    payload = json.loads(base64.b64decode(json.loads(sig.read_bytes())["dsseEnvelope"]["payload"]))
    return str(payload["predicate"]["resources"][0]["algorithm"])


def _edit_bundle(sig: Path, edit: Callable[[dict[str, object]], None]) -> None:
    doc = json.loads(sig.read_bytes())
    edit(doc)
    sig.write_bytes(json.dumps(doc, separators=(",", ":")).encode())


def _edit_payload(doc: dict[str, object]) -> None:
    env = doc["dsseEnvelope"]
    assert isinstance(env, dict)
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["resources"][0]["digest"] = "0" * 64  # and keep the old signature
    env["payload"] = base64.b64encode(json.dumps(stmt, indent=2).encode()).decode()


def _corrupt_signature(doc: dict[str, object]) -> None:
    env = doc["dsseEnvelope"]
    assert isinstance(env, dict)
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[-1] ^= 0x01
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()


def test_bundle_payload_edited(work: Signed) -> None:
    _edit_bundle(work.sig, _edit_payload)
    assert verify(work) == ["signature.invalid"]


def test_signature_corrupted(work: Signed) -> None:
    _edit_bundle(work.sig, _corrupt_signature)
    assert verify(work) == ["signature.invalid"]


def test_other_key(work: Signed) -> None:
    assert verify(work, "--key", work.other.public) == ["signer.untrusted_key"]


def test_bundle_signed_by_other_key(work: Signed) -> None:
    """An attacker re-signs the (tampered) model with their own key."""
    _flip(work)
    # --force: an attacker's tool replaces bundles at will (sign refuses without it).
    args = ["--signature", work.sig, "--force"]
    assert run_cli("sign", work.model, "--key", work.other.private, *args).rc == 0
    assert verify(work) == ["signer.untrusted_key"]


def test_other_ca(work: Signed) -> None:
    """The chain is fine, but leads to a root we do not trust."""
    assert verify(work, "--cert-root", work.pki.other_root, sig=work.cert_sig) == ["cert.untrusted"]


def test_leaf_from_other_ca(work: Signed) -> None:
    p = work.pki
    r = run_cli(
        "sign", work.model, "--key", p.other_leaf_key, "--cert", p.other_leaf_cert,
        "--signature", work.cert_sig, "--force",
    )  # fmt: skip
    assert r.rc == 0
    assert verify(work, "--cert-root", p.root, sig=work.cert_sig) == ["cert.untrusted"]


def test_certificate_identity_mismatch(work: Signed) -> None:
    codes = verify(
        work, "--cert-root", work.pki.root, "--cert-identity", "mallory@x.test", sig=work.cert_sig
    )
    assert codes == ["signer.identity_mismatch"]


def test_key_bundle_checked_with_certificate_roots(work: Signed) -> None:
    assert verify(work, "--cert-root", work.pki.root) == ["signer.kind_mismatch"]


def test_bundle_of_another_model(work: Signed, tmp_path: Path) -> None:
    """A valid signature, by the trusted key, over a different model."""
    other = write(tmp_path / "other" / "config.json", b"{}")
    assert (
        run_cli(
            "sign", other.parent, "--key", work.keys.private, "--signature", work.sig, "--force"
        ).rc
        == 0
    )
    assert verify(work) == ["file.digest_mismatch", "file.unsigned"]


# --- crafted statements, validly signed by the trusted key ------------------------------
# An attacker who holds a trusted key (or a buggy producer) must still not be able to make
# the verifier read outside the model, or let one name mean two files.


@pytest.fixture(scope="module")
def craft_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_keypair(tmp_path_factory.mktemp("craft-keys"), "k")


@pytest.fixture
def plain(craft_keys: KeyPair, tmp_path: Path) -> Signed:
    """An unsigned model and a trusted key (crafted bundles are files mode only)."""
    model = ordering_trap_model(tmp_path / "model")
    return Signed(model, tmp_path / "model.sig", craft_keys, craft_keys, None, tmp_path / "x")  # type: ignore[arg-type]


def _craft(w: Signed, resources: list[dict[str, str]], **serialization: object) -> None:
    """Re-sign a statement with these resources (correct root digest) as the trusted key."""
    from weightguard.bundle import OMS_PREDICATE, STATEMENT_TYPE, encode_statement
    from weightguard.manifest import Resource, root_digest
    from weightguard.signing.ec import EcKeySigner

    stmt = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": "model",
                "digest": {
                    "sha256": root_digest(
                        [Resource(r["name"], r["algorithm"], r["digest"]) for r in resources]
                    )
                },
            }
        ],
        "predicateType": OMS_PREDICATE,
        "predicate": {
            "resources": resources,
            "serialization": {"method": "files", "hash_type": "sha256", **serialization},
        },
    }
    w.sig.write_bytes(EcKeySigner.from_file(w.keys.private).sign_payload(encode_statement(stmt)))


def _res(name: str, data: bytes, alg: str = "sha256") -> dict[str, str]:
    import hashlib

    return {"name": name, "algorithm": alg, "digest": hashlib.sha256(data).hexdigest()}


def _signed_resources(w: Signed) -> list[dict[str, str]]:
    from weightguard.manifest import enumerate_model

    return [_res(f.rel, Path(f.abspath).read_bytes()) for f in enumerate_model(w.model).files]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../outside.txt", "manifest.unsafe_name"),
        ("weights/../../outside.txt", "manifest.unsafe_name"),
        ("/etc/hostname", "manifest.unsafe_name"),
        ("weights\\blob.bin", "manifest.unsafe_name"),
        ("./config.json", "manifest.unsafe_name"),
        ("weights//blob.bin", "manifest.unsafe_name"),
        ("", "manifest.unsafe_name"),
    ],
)
def test_crafted_unsafe_names_are_rejected(plain: Signed, name: str, code: str) -> None:
    outside = write(plain.model.parent / "outside.txt", b"outside")
    resources = [*_signed_resources(plain), _res(name, outside.read_bytes())]
    _craft(plain, resources)
    assert verify(plain) == [code]


def test_crafted_duplicate_names_are_rejected(plain: Signed) -> None:
    resources = _signed_resources(plain)
    _craft(plain, [*resources, resources[0]])
    assert verify(plain) == ["manifest.duplicate_name"]


def test_crafted_unsafe_ignore_path_is_rejected(plain: Signed) -> None:
    _craft(plain, _signed_resources(plain), ignore_paths=["../model"])
    assert verify(plain) == ["manifest.unsafe_name"]


def test_crafted_bundle_of_the_right_files_is_accepted(plain: Signed) -> None:
    """The crafting helper itself is sound: the honest statement verifies."""
    _craft(plain, _signed_resources(plain))
    r = run_cli("verify", plain.model, "--signature", plain.sig, "--key", plain.keys.public)
    assert r.rc == 0, r.stdout


def test_git_file_added_to_a_model_signed_with_git_paths(
    tmp_path: Path, craft_keys: KeyPair
) -> None:
    """Regression: signed with `--no-ignore-git-paths` (nothing ignored), the bundle lists
    an empty `ignore_paths`; a root `.gitattributes` added later is not silently ignored
    (only bundles without the key get the legacy git-path default)."""
    model = ordering_trap_model(tmp_path / "m")
    sig = tmp_path / "m.sig"
    r = run_cli(
        "sign", model, "--key", craft_keys.private, "--signature", sig, "--no-ignore-git-paths"
    )
    assert r.rc == 0, r.stderr
    write(model / ".gitattributes", b"*.bin filter=lfs\n")
    w = Signed(model, sig, craft_keys, craft_keys, None, sig)  # type: ignore[arg-type]
    assert verify(w) == ["file.unsigned"]


def test_ignored_directory_symlinked_outside_the_model(tmp_path: Path, craft_keys: KeyPair) -> None:
    """Regression: `--ignore weights` skipped the listing of `weights/`, and the signed
    files under it were then read through a directory symlink pointing outside the model
    (same bytes, so it was accepted). Signed files must be inside the model root."""
    model = ordering_trap_model(tmp_path / "m")
    sig = tmp_path / "m.sig"
    assert run_cli("sign", model, "--key", craft_keys.private, "--signature", sig).rc == 0
    (model / "weights").rename(tmp_path / "outside")
    (model / "weights").symlink_to(tmp_path / "outside", target_is_directory=True)
    w = Signed(model, sig, craft_keys, craft_keys, None, sig)  # type: ignore[arg-type]
    assert verify(w) == ["model.symlink"]
    r = run_cli(
        "verify", model, "--signature", sig, "--key", craft_keys.public, "--ignore", "weights",
        "--format", "json",
    )  # fmt: skip
    assert r.rc == 1 and r.error_codes() == ["file.missing", "file.missing"]


# --- properties: no mutation of the model or the bundle is ever accepted ----------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.fixture(scope="module")
def prop_model(tmp_path_factory: pytest.TempPathFactory, craft_keys: KeyPair) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("prop")
    model = ordering_trap_model(base / "m")
    out = {"model": model}
    for mode, extra in (("files", []), ("shards", ["--shards", "64"])):
        sig = base / f"{mode}.sig"
        assert (
            run_cli("sign", model, "--key", craft_keys.private, "--signature", sig, *extra).rc == 0
        )
        out[mode] = sig
    return out


def _api_verify(model: Path, sig: Path, keys: KeyPair) -> object:
    from weightguard.api import verify as api_verify
    from weightguard.signing.ec import EcKeyVerifier

    return api_verify(model, EcKeyVerifier.from_files([keys.public]), signature_path=sig)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mode=st.sampled_from(["files", "shards"]), data=st.data())
def test_any_bundle_byte_flip_is_rejected_unless_meaningless(
    prop_model: dict[str, Path], craft_keys: KeyPair, tmp_path: Path, mode: str, data: st.DataObject
) -> None:
    """Flip one bit anywhere in the bundle: accepted only if what gets verified is
    unchanged (the payload bytes and the signature, after decoding: e.g. a non-canonical
    base64 tail, or a renamed advisory field such as the key hint or keyid), never otherwise."""
    from weightguard.bundle import parse_bundle

    raw = bytearray(prop_model[mode].read_bytes())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    sig = tmp_path / f"flip-{pos}.sig"
    sig.write_bytes(bytes(raw))
    result = _api_verify(prop_model["model"], sig, craft_keys)
    if result.accepted:  # type: ignore[attr-defined]
        before = parse_bundle(prop_model[mode].read_bytes()).envelope
        after = parse_bundle(bytes(raw)).envelope
        assert after.payload == before.payload
        assert [s.sig for s in after.signatures] == [s.sig for s in before.signatures]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mode=st.sampled_from(["files", "shards"]), data=st.data())
def test_any_model_byte_flip_is_rejected(
    prop_model: dict[str, Path], craft_keys: KeyPair, tmp_path_factory: pytest.TempPathFactory,
    mode: str, data: st.DataObject,
) -> None:  # fmt: skip
    model = tmp_path_factory.mktemp("flip") / "m"
    shutil.copytree(prop_model["model"], model)
    files = sorted(p for p in model.rglob("*") if p.is_file() and p.stat().st_size)
    target = data.draw(st.sampled_from(files))
    content = bytearray(target.read_bytes())
    pos = data.draw(st.integers(0, len(content) - 1))
    content[pos] ^= 1 << data.draw(st.integers(0, 7))
    target.write_bytes(bytes(content))
    result = _api_verify(model, prop_model[mode], craft_keys)
    assert not result.accepted  # type: ignore[attr-defined]
    assert [r.code for r in result.reasons] == ["file.digest_mismatch"]  # type: ignore[attr-defined]
