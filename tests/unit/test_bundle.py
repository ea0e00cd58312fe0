"""weightguard.bundle: DSSE PAE, bundle bytes as model-signing 1.1.1 writes them, lenient
but unambiguous reading (oms-format.md 2.1-2.4, 2.9, 2.10), statement <-> manifest."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weightguard.bundle import (
    BUNDLE_MEDIA_TYPE,
    OMS_LEGACY_PREDICATE,
    OMS_PREDICATE,
    PAYLOAD_TYPE,
    encode_bundle,
    encode_statement,
    legacy_pae,
    manifest_from_statement,
    pae,
    parse_bundle,
    parse_statement,
    statement_for_manifest,
)
from weightguard.errors import BundleError, RejectedError
from weightguard.manifest import Manifest, Resource, Serialization, root_digest

MATERIAL = {"publicKey": {"hint": "ab" * 32}, "tlogEntries": []}


def test_pae_matches_dsse_spec() -> None:
    assert pae(PAYLOAD_TYPE, b"{}") == b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
    assert pae("t", b"") == b"DSSEv1 1 t 0 "
    # lengths are byte counts, not characters
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"
    assert legacy_pae(PAYLOAD_TYPE, b"{}").startswith(b"DSSEV1 28 ") and b"b'{}'" in legacy_pae(
        PAYLOAD_TYPE, b"{}"
    )


def test_encode_bundle_is_compact_1_1_1_layout() -> None:
    raw = encode_bundle(MATERIAL, b'{"x": 1}', b"\x30\x01")
    assert b" " not in raw and not raw.endswith(b"\n")
    doc = json.loads(raw)
    assert list(doc) == ["mediaType", "verificationMaterial", "dsseEnvelope"]
    assert doc["mediaType"] == BUNDLE_MEDIA_TYPE
    assert list(doc["dsseEnvelope"]) == ["payload", "payloadType", "signatures"]
    assert doc["dsseEnvelope"]["signatures"] == [{"sig": "MAE=", "keyid": ""}]
    parsed = parse_bundle(raw)
    assert parsed.envelope.payload == b'{"x": 1}'
    assert parsed.envelope.signatures[0].sig == b"\x30\x01"
    assert parsed.kind == "key" and parsed.key_hint == "ab" * 32 and parsed.raw == raw


def _doc() -> dict[str, Any]:
    return json.loads(encode_bundle(MATERIAL, b"{}", b"sig"))


def _bytes(doc: object) -> bytes:
    return json.dumps(doc).encode()


def _mutated(path: list[str | int], value: object) -> bytes:
    doc = _doc()
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return _bytes(doc)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not json", "bundle.malformed"),
        (b"\xff\xfe{}", "bundle.malformed"),
        (b"[]", "bundle.malformed"),
        (b'{"mediaType": 1, "mediaType": 2}', "bundle.malformed"),
        (b'{"x": NaN}', "bundle.malformed"),
        (b"[" * 100_000 + b"]" * 100_000, "bundle.malformed"),
        (_mutated(["extra"], 1), "bundle.unknown_field"),
        (
            _mutated(["mediaType"], "application/vnd.dev.sigstore.bundle+json;version=0.2"),
            "bundle.media_type",
        ),
        (_mutated(["mediaType"], KeyError), "bundle.media_type"),
        (_mutated(["verificationMaterial"], KeyError), "bundle.malformed"),
        (_mutated(["verificationMaterial", "tlogEntries"], {}), "bundle.malformed"),
        (_mutated(["dsseEnvelope"], KeyError), "bundle.malformed"),
        (_mutated(["dsseEnvelope", "payloadType"], "application/json"), "bundle.payload_type"),
        (_mutated(["dsseEnvelope", "payload"], "!!!"), "bundle.malformed"),
        (_mutated(["dsseEnvelope", "payload"], 5), "bundle.malformed"),
        (_mutated(["dsseEnvelope", "signatures"], []), "bundle.no_signature"),
        (_mutated(["dsseEnvelope", "signatures"], KeyError), "bundle.no_signature"),
        (_mutated(["dsseEnvelope", "signatures", 0], "sig"), "bundle.malformed"),
        (_mutated(["dsseEnvelope", "signatures", 0, "keyid"], 3), "bundle.malformed"),
        (_mutated(["dsseEnvelope", "signatures", 0, "sig"], "*"), "bundle.malformed"),
        (
            _mutated(["dsseEnvelope", "signatures"], [{"sig": "AA=="}, {"sig": "AA=="}]),
            "bundle.multiple_signatures",
        ),
    ],
)
def test_parse_bundle_rejects(data: bytes, code: str) -> None:
    with pytest.raises(BundleError) as info:
        parse_bundle(data)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("material", "code"),
    [
        ({}, "bundle.malformed"),
        ({"tlogEntries": []}, "bundle.malformed"),
        ({"qublicKey": {"hint": "ab"}, "tlogEntries": []}, "bundle.unknown_field"),
        ({"publicKey": {}, "x509CertificateChain": {"certificates": []}}, "bundle.malformed"),
        ({"publicKey": "ab"}, "bundle.malformed"),
        ({"publicKey": {}, "extra": 1}, "bundle.unknown_field"),
    ],
)
def test_verification_material_must_be_one_known_kind(material: dict[str, Any], code: str) -> None:
    """Regression (found by the bundle bit-flip property test): a mangled `publicKey` name
    made the bundle a hint-less key bundle that still verified."""
    with pytest.raises(BundleError) as info:
        parse_bundle(encode_bundle(material, b"{}", b"s"))
    assert info.value.code == code


def test_parse_bundle_accepts_spec_variants() -> None:
    """Parameterised v0.3 media type, no tlogEntries, keyid absent or null (2.10)."""
    doc = _doc()
    doc["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.3"
    del doc["verificationMaterial"]["tlogEntries"]
    doc["dsseEnvelope"]["signatures"] = [{"sig": "c2ln", "keyid": None}]
    assert parse_bundle(_bytes(doc)).envelope.signatures[0].keyid is None
    del doc["dsseEnvelope"]["signatures"][0]["keyid"]
    assert parse_bundle(_bytes(doc)).envelope.signatures[0].sig == b"sig"


def test_bundle_kinds_and_chain() -> None:
    cert = {"x509CertificateChain": {"certificates": [{"rawBytes": "AQI="}]}}
    b = parse_bundle(encode_bundle(cert, b"{}", b"s"))
    assert b.kind == "x509" and b.chain_der() == [b"\x01\x02"] and b.key_hint is None
    assert parse_bundle(encode_bundle({"certificate": {}}, b"{}", b"s")).kind == "sigstore"
    empty = parse_bundle(encode_bundle({"x509CertificateChain": {"certificates": []}}, b"{}", b"s"))
    with pytest.raises(BundleError):
        empty.chain_der()


# --- statements and manifests ---------------------------------------------------------


def _manifest(method: str = "files", names: tuple[str, ...] = ("a.bin", "b/c.bin")) -> Manifest:
    size = 100 if method == "shards" else None
    alg = "sha256" if method == "files" else "sha256-sharded-100"
    res = tuple(
        Resource(
            n if method == "files" else f"{n}:0:10", alg, hashlib.sha256(n.encode()).hexdigest()
        )
        for n in names
    )
    return Manifest(
        "model",
        res,
        Serialization(method, "sha256", False, size, (".git", "model.sig")),
        () if method == "shards" else None,
    )


def _statement(manifest: Manifest | None = None) -> dict[str, Any]:
    return statement_for_manifest(manifest or _manifest())


def _reparse(stmt: dict[str, Any]) -> Manifest:
    return manifest_from_statement(parse_statement(encode_statement(stmt)))


@pytest.mark.parametrize("method", ["files", "shards"])
def test_statement_round_trip(method: str) -> None:
    man = _manifest(method)
    stmt = _statement(man)
    assert list(stmt) == ["_type", "subject", "predicateType", "predicate"]
    assert stmt["subject"] == [{"name": "model", "digest": {"sha256": man.root_digest}}]
    assert stmt["predicateType"] == OMS_PREDICATE
    ser = stmt["predicate"]["serialization"]
    if method == "shards":
        assert ser["shard_size"] == 100 and isinstance(ser["shard_size"], int)
        assert stmt["predicate"]["weightguard_empty_files"] == []
    else:
        assert "shard_size" not in ser and "weightguard_empty_files" not in stmt["predicate"]
    assert _reparse(stmt) == man


def test_statement_encoding_is_indented_ascii() -> None:
    man = Manifest("modèle", _manifest().resources, _manifest().serialization)
    raw = encode_statement(_statement(man))
    assert raw.isascii() and b"\\u00e8" in raw and raw.startswith(b'{\n  "_type"')


def _edit(stmt: dict[str, Any], fix_root: bool = True, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(stmt)
    for dotted, value in changes.items():
        target = out
        keys = dotted.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last: Any = int(keys[-1]) if isinstance(target, list) else keys[-1]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    if fix_root and isinstance(out["predicate"].get("resources"), list):
        try:
            res = [
                Resource(r["name"], r["algorithm"], r["digest"])
                for r in out["predicate"]["resources"]
            ]
            out["subject"][0]["digest"]["sha256"] = root_digest(res)
        except (KeyError, TypeError, ValueError, IndexError):
            pass
    return out


def _res(name: str, digest: str | None = None, alg: str = "sha256") -> dict[str, str]:
    return {
        "name": name,
        "algorithm": alg,
        "digest": digest or hashlib.sha256(name.encode()).hexdigest(),
    }


S = _statement()


@pytest.mark.parametrize(
    ("stmt", "code"),
    [
        (_edit(S, predicateType="https://example.com/other"), "statement.predicate_type"),
        (_edit(S, _type="https://in-toto.io/Statement/v0.1"), "statement.type"),
        (_edit(S, subject=[]), "statement.subject_count"),
        (_edit(S, subject=S["subject"] * 2), "statement.subject_count"),
        (_edit(S, subject=["x"]), "statement.malformed"),
        (_edit(S, fix_root=False, subject__0__digest={"sha512": "00"}), "statement.malformed"),
        (_edit(S, fix_root=False, subject__0__digest__sha256="00" * 32), "statement.root_mismatch"),
        (_edit(S, predicate__resources=[]), "manifest.empty"),
        (_edit(S, predicate__resources={}), "statement.malformed"),
        (_edit(S, predicate__resources=[_res("a"), _res("a")]), "manifest.duplicate_name"),
        (_edit(S, predicate__resources=[_res("../etc/passwd")]), "manifest.unsafe_name"),
        (_edit(S, predicate__resources=[_res("/etc/passwd")]), "manifest.unsafe_name"),
        (_edit(S, predicate__resources=[_res("a\\..\\b")]), "manifest.unsafe_name"),
        (_edit(S, predicate__resources=[_res("a/./b")]), "manifest.unsafe_name"),
        (_edit(S, predicate__resources=[_res("a//b")]), "manifest.unsafe_name"),
        (_edit(S, predicate__resources=[_res("a", alg="blake3")]), "statement.algorithm"),
        (_edit(S, predicate__resources=[_res("a", digest="AB" * 32)]), "statement.malformed"),
        (_edit(S, predicate__resources=[_res("a", digest="ab" * 31)]), "statement.malformed"),
        (_edit(S, predicate__resources=[_res("a", digest="zz" * 32)]), "statement.malformed"),
        (_edit(S, predicate__resources=[{"name": "a"}]), "statement.malformed"),
        (_edit(S, predicate__serialization=KeyError), "statement.malformed"),
        (_edit(S, predicate__serialization__method="tree"), "statement.serialization"),
        (_edit(S, predicate__serialization__hash_type="md5"), "statement.serialization"),
        (_edit(S, predicate__serialization__ignore_paths=["../x"]), "manifest.unsafe_name"),
        (_edit(S, predicate__serialization__ignore_paths="x"), "statement.serialization"),
        (_edit(S, predicate__serialization__allow_symlinks="false"), "statement.serialization"),
        (_edit(S, predicate__weightguard_empty_files=["../x"]), "manifest.unsafe_name"),
        (_edit(S, predicate__weightguard_empty_files="x"), "statement.malformed"),
    ],
)
def test_manifest_from_statement_rejects(stmt: dict[str, Any], code: str) -> None:
    with pytest.raises(RejectedError) as info:
        _reparse(stmt)
    assert info.value.code == code


SH = _statement(_manifest("shards"))


@pytest.mark.parametrize(
    ("stmt", "code"),
    [
        (_edit(SH, predicate__serialization__shard_size=1.5), "statement.serialization"),
        (_edit(SH, predicate__serialization__shard_size=True), "statement.serialization"),
        (_edit(SH, predicate__serialization__shard_size=0), "statement.serialization"),
        (_edit(SH, predicate__serialization__shard_size=KeyError), "statement.serialization"),
        (
            _edit(SH, predicate__resources=[_res("a:0:10", alg="sha256-sharded-99")]),
            "statement.algorithm",
        ),
        (
            _edit(SH, predicate__resources=[_res("a", alg="sha256-sharded-100")]),
            "manifest.bad_name",
        ),
        (_edit(SH, predicate__resources=[_res("a:9:1", alg="sha256")]), "manifest.bad_name"),
        (_edit(SH, predicate__resources=[_res("../a:0:1", alg="sha256")]), "manifest.unsafe_name"),
    ],
)
def test_shard_statements_reject(stmt: dict[str, Any], code: str) -> None:
    with pytest.raises(RejectedError) as info:
        _reparse(stmt)
    assert info.value.code == code


def test_shard_variants_accepted() -> None:
    """1.1.1 writes shard_size as a float and `<hash>-sharded-<N>`; the spec says plain."""
    as_float = _reparse(_edit(SH, predicate__serialization__shard_size=100.0))
    assert as_float.serialization.shard_size == 100
    spec = _reparse(_edit(SH, predicate__resources=[_res("a:b:0:10", alg="sha256")]))
    assert spec.resources[0].algorithm == "sha256-sharded-100"
    assert spec.resources[0].path == "a:b"


def test_ignore_paths_always_written_and_absence_remembered() -> None:
    """Regression: an empty ignore list is written (not omitted), so verifiers can tell
    "nothing ignored" from "bundle predates ignore_paths" (legacy git-path default)."""
    man = Manifest("m", _manifest().resources, Serialization("files", "sha256"))
    stmt = statement_for_manifest(man)
    assert stmt["predicate"]["serialization"]["ignore_paths"] == []
    assert _reparse(stmt).serialization.ignore_paths_recorded
    legacy = _edit(stmt, predicate__serialization__ignore_paths=KeyError)
    assert not _reparse(legacy).serialization.ignore_paths_recorded


def test_empty_files_absent_means_not_recorded() -> None:
    """Foreign shard bundles carry no `weightguard_empty_files`: None, not ()."""
    assert _reparse(_edit(SH, predicate__weightguard_empty_files=KeyError)).empty_files is None
    assert _reparse(SH).empty_files == ()


def test_single_file_dot_and_unknown_predicate_fields() -> None:
    stmt = _edit(S, predicate__resources=[_res(".")], predicate__future={"x": 1})
    assert _reparse(stmt).resources[0].name == "."


def test_legacy_v02_statement() -> None:
    legacy = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "a.bin", "digest": {"sha256": "AA" * 32}},
            {"name": "b/c.bin", "digest": {"sha256": "bb" * 32}},
        ],
        "predicateType": OMS_LEGACY_PREDICATE,
        "predicate": {"unused": "x"},
    }
    man = _reparse(legacy)
    assert [(r.name, r.digest) for r in man.resources] == [
        ("a.bin", "aa" * 32),
        ("b/c.bin", "bb" * 32),
    ]
    for bad, code in (
        ([], "manifest.empty"),
        ([{"name": "../x", "digest": {"sha256": "aa" * 32}}], "manifest.unsafe_name"),
        (legacy["subject"][:1] * 2, "manifest.duplicate_name"),
        ([{"name": "x", "digest": {"sha512": "aa"}}], "statement.malformed"),
    ):
        with pytest.raises(RejectedError) as info:
            _reparse({**legacy, "subject": bad})
        assert info.value.code == code


# --- properties ---------------------------------------------------------------------

_name = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"),
        min_size=1,
        max_size=8,
    ).filter(lambda s: s not in (".", "..")),
    min_size=1,
    max_size=3,
).map("/".join)


@given(
    st.lists(
        st.tuples(_name, st.binary(min_size=32, max_size=32)),
        min_size=1,
        max_size=10,
        unique_by=lambda t: t[0],
    ),
    st.sampled_from(["files", "shards"]),
    st.text(max_size=10),
)
def test_any_manifest_survives_the_statement_round_trip(
    entries: list[tuple[str, bytes]], method: str, model_name: str
) -> None:
    """Statement bytes we write parse back to the same manifest, names verbatim (unicode,
    `:`, spaces), resources in the order given, root digest over that order."""
    if method == "shards":
        res = tuple(Resource(f"{n}:0:7", "sha256-sharded-7", d.hex()) for n, d in entries)
        ser = Serialization("shards", "sha256", False, 7, ())
        empty: tuple[str, ...] | None = ()
    else:
        res = tuple(Resource(n, "sha256", d.hex()) for n, d in entries)
        ser = Serialization("files", "sha256", True, None, (".git",))
        empty = None
    man = Manifest(model_name, res, ser, empty)
    raw = encode_statement(statement_for_manifest(man))
    back = manifest_from_statement(parse_statement(raw))
    assert back == man
    assert back.root_digest == json.loads(raw)["subject"][0]["digest"]["sha256"]


@given(st.binary(max_size=64), st.binary(min_size=1, max_size=80))
def test_any_payload_and_signature_survive_the_bundle_round_trip(
    payload: bytes, sig: bytes
) -> None:
    bundle = parse_bundle(encode_bundle(MATERIAL, payload, sig))
    assert bundle.envelope.payload == payload
    assert bundle.envelope.signatures[0].sig == sig
    assert base64.b64decode(json.loads(bundle.raw)["dsseEnvelope"]["payload"]) == payload
