"""weightguard.manifest: OMS enumeration rules (oms-format.md 2.7), resource names and
order (2.5), shard names with `:` (2.10), root digests, plus hypothesis properties."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.models import colon_model, ordering_trap_model, single_file_model, unicode_model, write
from weightguard.errors import RejectedError, UsageError
from weightguard.manifest import (
    GIT_PATHS,
    Resource,
    build_manifest,
    enumerate_model,
    expected_digest_size,
    parse_shard_name,
    root_digest,
    sort_key,
    validate_relative_name,
)


def rels(path: Path, **kwargs: object) -> list[str]:
    return [f.rel for f in enumerate_model(path, **kwargs).files]  # type: ignore[arg-type]


def test_ordering_trap_uses_path_components_not_strings(tmp_path: Path) -> None:
    names = rels(ordering_trap_model(tmp_path / "m"))
    assert names == [
        ".hidden",
        "config.json",
        "empty.bin",
        "tokenizer/.gitignore",
        "tokenizer/vocab.txt",
        "weights/blob.bin",
        "weights/sub/deep.bin",
        "weights-extra.bin",
        "weights.json",
    ]
    assert names != sorted(names)  # plain string order would differ (the trap)


def test_root_git_paths_are_ignored_and_recorded_nested_ones_hashed(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    write(m / ".git/HEAD", b"ref: x\n")
    write(m / ".gitattributes", b"* -text\n")
    write(m / ".github/workflows/ci.yml", b"on: push\n")
    inv = enumerate_model(m)
    assert not any(f.rel.startswith((".git/", ".github/")) for f in inv.files)
    assert ".gitattributes" not in [f.rel for f in inv.files]
    assert "tokenizer/.gitignore" in [f.rel for f in inv.files]
    assert set(GIT_PATHS) <= set(inv.ignore_paths)
    assert ".gitattributes" in rels(m, ignore_git_paths=False)


def test_ignores_match_whole_components(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    names = rels(m, ignore_paths=["weights"])
    assert "weights-extra.bin" in names and "weights.json" in names
    assert not any(n.startswith("weights/") for n in names)
    assert "weights/blob.bin" in rels(m, ignore_paths=["weights/b"])
    assert "weights/sub/deep.bin" not in rels(m, ignore_paths=["weights/sub"])
    assert enumerate_model(m, ignore_paths=["weights/sub"]).ignore_paths[0] == "weights/sub"


@pytest.mark.parametrize("bad", ["/abs", "../up", "a/../../b", "", "."])
def test_ignore_paths_must_stay_inside_the_model(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError):
        enumerate_model(ordering_trap_model(tmp_path / "m"), ignore_paths=[bad])


def test_single_file_is_named_dot(tmp_path: Path) -> None:
    f = single_file_model(tmp_path)
    inv = enumerate_model(f)
    assert inv.is_file and [x.rel for x in inv.files] == ["."]
    assert inv.model_name == "model.safetensors"


def test_missing_model_and_empty_model(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        enumerate_model(tmp_path / "absent")
    assert info.value.code == "model.missing"
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    inv = enumerate_model(tmp_path / "empty")
    assert inv.files == ()  # empty directories are invisible
    with pytest.raises(RejectedError) as rej:
        build_manifest(inv)
    assert rej.value.code == "manifest.empty"


def test_symlinks_refused_by_default(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    (m / "link.json").symlink_to("config.json")
    with pytest.raises(RejectedError) as info:
        enumerate_model(m)
    assert info.value.code == "model.symlink"
    assert info.value.path == "link.json"


def test_allowed_symlinks_hash_target_under_link_name(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    (m / "link.json").symlink_to("config.json")
    inv = enumerate_model(m, allow_symlinks=True)
    names = [f.rel for f in inv.files]
    assert "link.json" in names
    assert inv.symlinks == ("link.json",)
    man = build_manifest(inv, allow_symlinks=True)
    digests = {r.name: r.digest for r in man.resources}
    assert digests["link.json"] == digests["config.json"]


def test_allowed_symlinks_still_refuse_a_symlinked_directory(tmp_path: Path) -> None:
    """Stricter than OMS, which skips it silently (tests/adversarial/test_symlinks.py)."""
    m = ordering_trap_model(tmp_path / "m")
    (m / "linkdir").symlink_to("weights", target_is_directory=True)
    with pytest.raises(RejectedError) as info:
        enumerate_model(m, allow_symlinks=True)
    assert (info.value.code, info.value.path) == ("model.symlink_dir", "linkdir")


def test_symlink_escaping_the_model_is_refused_even_when_allowed(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    outside = write(tmp_path / "secret.txt", b"s")
    (m / "esc").symlink_to(outside)
    with pytest.raises(RejectedError) as info:
        enumerate_model(m, allow_symlinks=True)
    assert info.value.code == "model.symlink_escape"


def test_ignored_symlink_is_not_an_error(tmp_path: Path) -> None:
    """Ignores apply before the symlink check (fixed upstream after 1.1.1, #550)."""
    m = ordering_trap_model(tmp_path / "m")
    (m / "link.json").symlink_to("config.json")
    assert "link.json" not in rels(m, ignore_paths=["link.json"])


def test_fifo_is_refused(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    os.mkfifo(m / "pipe")
    with pytest.raises(RejectedError) as info:
        enumerate_model(m)
    assert info.value.code == "model.special_file"


def test_non_utf8_name_is_refused(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    with open(os.path.join(os.fsencode(m), b"bad-\xff.bin"), "wb") as fh:
        fh.write(b"x")
    with pytest.raises(RejectedError) as info:
        enumerate_model(m)
    assert info.value.code == "model.non_utf8_name"


def test_unicode_and_colon_names_are_kept_verbatim(tmp_path: Path) -> None:
    assert rels(unicode_model(tmp_path / "u")) == [
        "Zeta.bin",
        "données.txt",
        "emoji-🙂.bin",
        "日本/モデル.bin",
    ]
    assert rels(colon_model(tmp_path / "c")) == ["a:b.bin", "dir:x/1:2:3.bin", "plain.bin"]


def test_files_manifest_names_algorithms_and_root(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    man = build_manifest(enumerate_model(m))
    assert man.serialization.method == "files" and man.serialization.shard_size is None
    assert man.empty_files is None
    for r in man.resources:
        assert r.algorithm == "sha256"
        assert r.digest == hashlib.sha256((m / r.name).read_bytes()).hexdigest()
    outer = hashlib.sha256(b"".join(bytes.fromhex(r.digest) for r in man.resources))
    assert man.root_digest == outer.hexdigest()


def test_shards_manifest(tmp_path: Path) -> None:
    m = ordering_trap_model(tmp_path / "m")
    man = build_manifest(enumerate_model(m), method="shards", shard_size=100)
    names = [r.name for r in man.resources]
    assert names[
        names.index("weights/blob.bin:0:100") : names.index("weights/blob.bin:0:100") + 3
    ] == [
        "weights/blob.bin:0:100",
        "weights/blob.bin:100:200",
        "weights/blob.bin:200:300",
    ]
    assert not any(n.startswith("empty.bin") for n in names)  # no shard for an empty file
    assert man.empty_files == ("empty.bin",)
    assert {r.algorithm for r in man.resources} == {"sha256-sharded-100"}
    data = (m / "weights/blob.bin").read_bytes()
    by_name = {r.name: r.digest for r in man.resources}
    assert by_name["weights/blob.bin:100:200"] == hashlib.sha256(data[100:200]).hexdigest()


def test_shards_manifest_without_empty_files_records_none_found(tmp_path: Path) -> None:
    """Regression: an empty tuple (not None) is recorded, so adding an empty file later
    is caught even when the signed model had none."""
    m = colon_model(tmp_path / "c")
    man = build_manifest(enumerate_model(m), method="shards", shard_size=16)
    assert man.empty_files == ()


def test_shards_default_size_and_bad_parameters(tmp_path: Path) -> None:
    inv = enumerate_model(colon_model(tmp_path / "c"))
    assert build_manifest(inv, method="shards").serialization.shard_size == 1_000_000_000
    with pytest.raises(UsageError):
        build_manifest(inv, method="shards", shard_size=-1)
    with pytest.raises(UsageError):
        build_manifest(inv, method="tree")
    with pytest.raises(UsageError):
        build_manifest(inv, hash_type="md5")


def test_parse_shard_name_from_the_right() -> None:
    assert parse_shard_name("a:b.bin:0:32") == ("a:b.bin", 0, 32)
    assert parse_shard_name("f:10000000000:10000000001") == ("f", 10**10, 10**10 + 1)
    for bad in ("f", "f:1", ":0:1", "f:x:1", "f:5:4", "f:-1:3", "f:1:2x"):
        with pytest.raises(RejectedError):
            parse_shard_name(bad)


@pytest.mark.parametrize(
    "bad", ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/.", "a\\b", "a\x00b", "a/"]
)
def test_unsafe_names(bad: str) -> None:
    with pytest.raises(RejectedError) as info:
        validate_relative_name(bad)
    assert info.value.code == "manifest.unsafe_name"


def test_expected_digest_size() -> None:
    assert expected_digest_size("sha256") == 32
    assert expected_digest_size("blake2b") == 64
    assert expected_digest_size("blake3-sharded-5") == 32


# --- properties ---------------------------------------------------------------------

_component = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=6,
).filter(lambda s: s not in (".", ".."))
_relpath = st.lists(_component, min_size=1, max_size=4).map("/".join)


@given(st.lists(_relpath, min_size=1, max_size=12, unique=True))
def test_sort_key_is_pure_posix_path_order(paths: list[str]) -> None:
    """1.1.1 sorts `pathlib.PurePosixPath`s; our key must give the same order."""
    assert sorted(paths, key=sort_key) == [str(p) for p in sorted(map(PurePosixPath, paths))]


@given(_relpath, st.integers(0, 2**63), st.integers(0, 2**63))
def test_shard_name_round_trip(path: str, a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    assert parse_shard_name(f"{path}:{start}:{end}") == (path, start, end)


_digest = st.binary(min_size=32, max_size=32).map(bytes.hex)


@given(st.lists(_digest, min_size=2, max_size=8, unique=True))
def test_root_digest_depends_on_order(digests: list[str]) -> None:
    res = [Resource(f"f{i}", "sha256", d) for i, d in enumerate(digests)]
    assert (
        root_digest(res) == hashlib.sha256(b"".join(bytes.fromhex(d) for d in digests)).hexdigest()
    )
    assert root_digest(res) != root_digest(list(reversed(res)))


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        _relpath.filter(lambda p: not p.split("/")[0].startswith(".git")),
        st.binary(max_size=40),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 17),
)
def test_generated_trees_shard_and_file_manifests_agree(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], shard: int
) -> None:
    """On arbitrary trees: every non-empty file is covered by contiguous shards in order,
    and files mode lists exactly the files, sorted by components."""
    root = tmp_path_factory.mktemp("tree")
    written: dict[str, bytes] = {}
    for rel, data in files.items():
        target = root / rel
        # A path that is a prefix directory of another cannot also be a file: skip those.
        if any(p.is_file() for p in target.parents if p != root) or target.is_dir():
            continue
        write(target, data)
        written[rel] = data
    if not written:
        return
    inv = enumerate_model(root)
    assert [f.rel for f in inv.files] == sorted(written, key=sort_key)
    files_man = build_manifest(inv, workers=2)
    assert [r.name for r in files_man.resources] == sorted(written, key=sort_key)
    shards_man = build_manifest(inv, method="shards", shard_size=shard, workers=2)
    covered: dict[str, int] = {}
    for r in shards_man.resources:
        path, start, end = parse_shard_name(r.name)
        assert start == covered.get(path, 0) and 0 < end - start <= shard
        assert r.digest == hashlib.sha256(written[path][start:end]).hexdigest()
        covered[path] = end
    assert covered == {p: len(d) for p, d in written.items() if d}
    assert set(shards_man.empty_files or ()) == {p for p, d in written.items() if not d}


def test_file_vanishing_while_listing_is_a_read_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a raw FileNotFoundError escaped (no reason code, no JSON report)."""
    import weightguard.manifest as manifest_mod
    from weightguard.errors import ModelReadError

    m = ordering_trap_model(tmp_path / "m")
    real_scandir = os.scandir

    def scandir(path: bytes) -> list[os.DirEntry[bytes]]:
        entries = list(real_scandir(path))
        for e in entries:
            if e.name == b"weights.json":
                os.unlink(e.path)  # gone after listing, before its stat
        return entries

    monkeypatch.setattr(manifest_mod.os, "scandir", scandir)
    with pytest.raises(ModelReadError) as info:
        enumerate_model(m)
    assert info.value.path == "weights.json"
