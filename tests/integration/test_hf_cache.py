"""Issue 12 point 4: a Hugging Face cache snapshot signs and verifies with symlinks allowed.

Snapshot files are symlinks to `../../blobs/<hash>` of the same `models--org--name`
folder. With `--allow-symlinks` (and only then) such targets are followed; the signature
covers the content under the snapshot's own names, so root digests equal model-signing's
`allow_symlinks` hashing and each tool verifies the other's bundle. A blob whose name
(sha256 for LFS files, git blob sha1 otherwise) contradicts its content is rejected
(`model.hf_blob_mismatch`); a link anywhere else outside the snapshot is still refused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.hfrepo import hf_cache, safetensors_bytes
from tests.models import KeyPair, make_keypair, run_model_signing
from weightguard.api import digest, sign, verify
from weightguard.errors import RejectedError
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier

FILES = {
    "config.json": b'{"hidden_size": 4}\n',
    "model.safetensors": safetensors_bytes({"w": [4, 4]}),
    "tokenizer/tokenizer.json": b'{"version": "1.0"}\n',
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_keypair(tmp_path_factory.mktemp("keys"), "k")


def _errors(snapshot: Path, keys: KeyPair, sig: Path | None = None) -> list[str]:
    result = verify(snapshot, EcKeyVerifier.from_files([keys.public]), signature_path=sig)
    return [r.code for r in result.reasons if r.severity == "error"]


def test_snapshot_needs_allow_symlinks(tmp_path: Path) -> None:
    snapshot = hf_cache(tmp_path / "hub", FILES)
    with pytest.raises(RejectedError) as info:
        digest(snapshot)
    assert info.value.code == "model.symlink"


@pytest.mark.parametrize(
    ("hash_type", "shard"), [("sha256", None), ("blake3", None), ("sha256", 64)]
)
def test_root_digest_equals_model_signing(
    tmp_path: Path, hash_type: str, shard: int | None
) -> None:
    hashing = pytest.importorskip("model_signing.hashing")
    snapshot = hf_cache(tmp_path / "hub", FILES)
    config = (
        hashing.Config().use_shard_serialization(shard_size=shard)
        if shard
        else hashing.Config().use_file_serialization(hashing_algorithm=hash_type)
    ).set_allow_symlinks(True)
    outer = hashlib.sha256()
    for d in config.hash(snapshot).resource_descriptors():
        outer.update(d.digest.digest_value)
    ours = digest(snapshot, hash_type=hash_type, shard_size=shard, allow_symlinks=True)
    assert ours == outer.hexdigest()


def test_weightguard_bundle_verifies_with_model_signing(tmp_path: Path, keys: KeyPair) -> None:
    snapshot = hf_cache(tmp_path / "hub", FILES)
    sig = tmp_path / "snap.sig"
    sign(snapshot, EcKeySigner.from_file(keys.private), signature_path=sig, allow_symlinks=True)
    assert _errors(snapshot, keys, sig) == []
    r = run_model_signing(
        "verify", "key", snapshot, "--signature", sig, "--public_key", keys.public,
        "--allow_symlinks",
    )  # fmt: skip
    assert r.rc == 0, r.stderr


def test_model_signing_bundle_verifies_with_weightguard(tmp_path: Path, keys: KeyPair) -> None:
    signing = pytest.importorskip("model_signing.signing")
    hashing = pytest.importorskip("model_signing.hashing")
    snapshot = hf_cache(tmp_path / "hub", FILES)
    sig = tmp_path / "ms.sig"
    (
        signing.Config()
        .use_elliptic_key_signer(private_key=keys.private)
        .set_hashing_config(hashing.Config().set_allow_symlinks(True))
        .sign(snapshot, sig)
    )
    assert _errors(snapshot, keys, sig) == []


def test_blob_content_contradicting_its_name_is_rejected(tmp_path: Path, keys: KeyPair) -> None:
    """Signed from a cache whose blob was already swapped: the bonus check catches it
    at signing; after signing, a swap is a digest mismatch and a name mismatch."""
    snapshot = hf_cache(tmp_path / "hub", FILES)
    blob = Path(os.path.realpath(snapshot / "model.safetensors"))
    sign(snapshot, EcKeySigner.from_file(keys.private), allow_symlinks=True)
    blob.write_bytes(safetensors_bytes({"w": [4, 4]}, seed=7))
    assert _errors(snapshot, keys) == ["file.digest_mismatch", "model.hf_blob_mismatch"]
    with pytest.raises(RejectedError) as info:
        sign(snapshot, EcKeySigner.from_file(keys.private), allow_symlinks=True)
    assert (info.value.code, info.value.path) == ("model.hf_blob_mismatch", "model.safetensors")


def test_small_file_blob_is_checked_by_git_sha1(tmp_path: Path) -> None:
    snapshot = hf_cache(tmp_path / "hub", FILES)
    Path(os.path.realpath(snapshot / "config.json")).write_bytes(b'{"hidden_size": 5}\n')
    with pytest.raises(RejectedError) as info:
        digest(snapshot, allow_symlinks=True)
    assert (info.value.code, info.value.path) == ("model.hf_blob_mismatch", "config.json")


@pytest.mark.parametrize(
    "target",
    [
        "../../refs/main",  # same repo, but not a blob
        "../../../models--other--repo/blobs/" + "a" * 64,  # another repo's blob
        "../other-rev/config.json",  # a sibling snapshot
    ],
)
def test_links_elsewhere_are_still_refused(tmp_path: Path, target: str) -> None:
    snapshot = hf_cache(tmp_path / "hub", FILES)
    other = tmp_path / "hub" / "models--other--repo" / "blobs"
    other.mkdir(parents=True)
    (other / ("a" * 64)).write_bytes(b"x")
    sibling = snapshot.parent / "other-rev"
    sibling.mkdir()
    (sibling / "config.json").write_bytes(b"{}")
    (snapshot / "extra.json").symlink_to(target)
    with pytest.raises(RejectedError) as info:
        digest(snapshot, allow_symlinks=True)
    assert (info.value.code, info.value.path) == ("model.symlink_escape", "extra.json")


def test_layout_outside_a_snapshot_folder_gets_no_exception(tmp_path: Path) -> None:
    """Only a root that is `<repo>/snapshots/<rev>` may link into `<repo>/blobs`."""
    snapshot = hf_cache(tmp_path / "hub", FILES)
    fake = snapshot.parent.parent / "not-snapshots" / "rev"
    fake.mkdir(parents=True)
    (fake / "config.json").symlink_to(os.path.realpath(snapshot / "config.json"))
    with pytest.raises(RejectedError) as info:
        digest(fake, allow_symlinks=True)
    assert info.value.code == "model.symlink_escape"
