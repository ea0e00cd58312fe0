"""Sigstore bundle v0.3 + DSSE + in-toto Statement: the OMS signature file, without crypto.

Owns: the DSSE pre-authentication encoding, writing bundles byte-for-byte as
model-signing 1.1.1 does (oms-format.md 2.1-2.4), and reading them leniently across
1.1.1, the OMS v1.0 spec variants and older model-signing bundles (2.9, 2.10) while
refusing anything ambiguous. The exact payload bytes are what gets verified; we never
re-serialize a statement we read. Signature checks live in `weightguard.signing`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weightguard.errors import BundleError
from weightguard.manifest import (
    Manifest,
    Resource,
    Serialization,
    expected_digest_size,
    parse_shard_name,
    root_digest,
    validate_relative_name,
)

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
# Sigstore bundle spec: v0.3 may also be written in the older parameterised form.
ACCEPTED_MEDIA_TYPES = frozenset(
    {BUNDLE_MEDIA_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3"}
)
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
OMS_PREDICATE = "https://model_signing/signature/v1.0"
OMS_LEGACY_PREDICATE = "https://model_signing/Digests/v0.1"  # model-signing 0.2 (2.9)
_HEX = re.compile(r"[0-9a-f]+")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TOP_LEVEL_KEYS = frozenset({"mediaType", "verificationMaterial", "dsseEnvelope"})
# Sigstore bundle v0.3 VerificationMaterial: one `content` (key hint, chain or leaf) plus
# optional log entries and timestamps. Nothing else may appear (protobuf-specs bundle.proto).
_MATERIAL_CONTENT = ("publicKey", "x509CertificateChain", "certificate")
_MATERIAL_KEYS = frozenset({*_MATERIAL_CONTENT, "tlogEntries", "timestampVerificationData"})


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (DSSE protocol, "Signature definition")."""
    ptype = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)


def legacy_pae(payload_type: str, payload: bytes) -> bytes:
    """The buggy v0.2-era encoding model-signing still accepts (oms-format.md 2.3)."""
    ptype = payload_type.encode()
    return b"DSSEV1 %d %s %d %s" % (len(ptype), ptype, len(payload), repr(payload).encode())


@dataclass(frozen=True)
class DsseSignature:
    """One DSSE signature: raw signature bytes and the (informational) key id."""

    sig: bytes
    keyid: str | None


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope; `payload` holds the exact signed bytes."""

    payload: bytes
    payload_type: str
    signatures: tuple[DsseSignature, ...]


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle. `material` is the raw `verificationMaterial` object."""

    media_type: str
    material: Mapping[str, Any]
    envelope: Envelope
    raw: bytes

    @property
    def kind(self) -> str:
        """``key``, ``x509`` or ``sigstore`` by the verification material present."""
        if "x509CertificateChain" in self.material:
            return "x509"
        if "certificate" in self.material:
            return "sigstore"
        return "key"

    @property
    def key_hint(self) -> str | None:
        """`publicKey.hint` (sha256 of the PEM), absent in bundles before 1.1."""
        pk = self.material.get("publicKey")
        hint = pk.get("hint") if isinstance(pk, Mapping) else None
        return hint if isinstance(hint, str) and hint else None

    def chain_der(self) -> list[bytes]:
        """DER certificates of `x509CertificateChain`, leaf first."""
        chain = self.material.get("x509CertificateChain")
        certs = chain.get("certificates") if isinstance(chain, Mapping) else None
        if not isinstance(certs, list) or not certs:
            raise BundleError("x509CertificateChain has no certificates", code="bundle.malformed")
        return [
            _b64(c.get("rawBytes") if isinstance(c, Mapping) else None, "rawBytes") for c in certs
        ]


_MAX_INT_DIGITS = 40


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could keep different duplicates (first vs last): refuse the ambiguity.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BundleError(f"duplicate JSON key {key!r}", code="bundle.malformed")
        out[key] = value
    return out


def strict_json(data: bytes, what: str) -> Any:
    """Parse JSON that must be UTF-8, with no duplicate keys and no NaN/Infinity."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{what} is not UTF-8", code="bundle.malformed") from None

    def _no_constants(name: str) -> Any:
        raise BundleError(f"{what} contains {name}", code="bundle.malformed")

    def _small_int(digits: str) -> int:
        # Python's int() raises ValueError past 4300 digits; no field we read needs 20.
        if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
            raise BundleError(f"{what} holds an over-long integer", code="bundle.malformed")
        return int(digits)

    try:
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_no_constants,
            parse_int=_small_int,
        )
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}", code="bundle.malformed"
        ) from None
    except RecursionError:
        raise BundleError(f"{what} nests too deeply", code="bundle.malformed") from None


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{field} must be a base64 string", code="bundle.malformed")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{field} is not valid base64", code="bundle.malformed") from None


def parse_bundle(data: bytes) -> Bundle:
    """Parse a bundle file: media type, verification material and DSSE envelope.

    Raises:
        BundleError: not JSON, unknown top-level fields, wrong media or payload type,
            missing envelope, or not exactly one signature.
    """
    doc = strict_json(data, "signature bundle")
    if not isinstance(doc, dict):
        raise BundleError("signature bundle is not a JSON object", code="bundle.malformed")
    unknown = set(doc) - _TOP_LEVEL_KEYS
    if unknown:
        raise BundleError(
            f"unknown bundle fields: {', '.join(sorted(unknown))}", code="bundle.unknown_field"
        )
    media = doc.get("mediaType")
    if not isinstance(media, str) or media not in ACCEPTED_MEDIA_TYPES:  # a list: unhashable
        raise BundleError(
            f"unsupported bundle media type {media!r}; expected {BUNDLE_MEDIA_TYPE}",
            code="bundle.media_type",
        )
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise BundleError("verificationMaterial is missing", code="bundle.malformed")
    unknown = set(material) - _MATERIAL_KEYS
    if unknown:
        raise BundleError(
            f"unknown verificationMaterial fields: {', '.join(sorted(unknown))}",
            code="bundle.unknown_field",
        )
    content = [k for k in _MATERIAL_CONTENT if k in material]
    if len(content) != 1 or not isinstance(material[content[0]], dict):
        # Otherwise a bundle with no (or a mangled) key hint would silently be read as a
        # hint-less key bundle, or one with two contents as whichever we look at first.
        raise BundleError(
            "verificationMaterial must hold exactly one of publicKey, "
            "x509CertificateChain or certificate",
            code="bundle.malformed",
        )
    tlog = material.get("tlogEntries", [])
    if not isinstance(tlog, list):
        raise BundleError("tlogEntries must be a list", code="bundle.malformed")
    env = doc.get("dsseEnvelope")
    if not isinstance(env, dict):
        raise BundleError(
            "bundle has no dsseEnvelope (message signatures are not OMS)", code="bundle.malformed"
        )
    payload_type = env.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise BundleError(
            f"unsupported DSSE payload type {payload_type!r}; expected {PAYLOAD_TYPE}",
            code="bundle.payload_type",
        )
    payload = _b64(env.get("payload"), "dsseEnvelope.payload")
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise BundleError("DSSE envelope has no signatures", code="bundle.no_signature")
    signatures = []
    for item in sigs:
        if not isinstance(item, dict):
            raise BundleError("DSSE signature entry is not an object", code="bundle.malformed")
        keyid = item.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise BundleError("DSSE keyid must be a string", code="bundle.malformed")
        signatures.append(DsseSignature(_b64(item.get("sig"), "signature"), keyid))
    if len(signatures) != 1:
        # model-signing checks only signatures[0] and ignores the rest (oms-format.md 2.3);
        # we refuse the ambiguity instead of guessing which signature the bundle means.
        raise BundleError(
            f"bundle carries {len(signatures)} signatures; OMS bundles carry one",
            code="bundle.multiple_signatures",
        )
    return Bundle(media, material, Envelope(payload, payload_type, tuple(signatures)), data)


def encode_bundle(material: Mapping[str, Any], payload: bytes, signature: bytes) -> bytes:
    """Write a bundle as model-signing 1.1.1 does: compact JSON, its key order, keyid ""."""
    doc = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Statement:
    """An in-toto Statement v1 as read from verified payload bytes."""

    subjects: tuple[tuple[str, Mapping[str, str]], ...]  # (name, {alg: hex})
    predicate_type: str
    predicate: Mapping[str, Any]


def encode_statement(statement: Mapping[str, Any]) -> bytes:
    """Serialize a statement as protobuf's MessageToJson does (indent 2, ASCII escapes)."""
    return json.dumps(statement, indent=2, ensure_ascii=True).encode()


def parse_statement(payload: bytes) -> Statement:
    """Parse an in-toto Statement v1 from payload bytes.

    Raises:
        BundleError: not a Statement v1, malformed subjects or predicate.
    """
    doc = strict_json(payload, "DSSE payload")
    if not isinstance(doc, dict):
        raise BundleError("DSSE payload is not a JSON object", code="statement.malformed")
    if doc.get("_type") != STATEMENT_TYPE:
        raise BundleError(f"unsupported statement type {doc.get('_type')!r}", code="statement.type")
    subjects_raw = doc.get("subject")
    if not isinstance(subjects_raw, list):
        raise BundleError("statement subject must be a list", code="statement.malformed")
    subjects = []
    for s in subjects_raw:
        digest = s.get("digest") if isinstance(s, dict) else None
        name = s.get("name", "") if isinstance(s, dict) else None
        if (
            not isinstance(digest, dict)
            or not isinstance(name, str)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items())
        ):
            raise BundleError("malformed statement subject", code="statement.malformed")
        subjects.append((name, dict(digest)))
    ptype = doc.get("predicateType")
    predicate = doc.get("predicate", {})
    if not isinstance(ptype, str) or not isinstance(predicate, dict):
        raise BundleError("statement predicate is malformed", code="statement.malformed")
    return Statement(tuple(subjects), ptype, predicate)


def statement_for_manifest(manifest: Manifest) -> dict[str, Any]:
    """The OMS v1.0 statement for a manifest (oms-format.md 2.4), 1.1.1 field order."""
    ser = manifest.serialization
    serialization: dict[str, Any] = {
        "method": ser.method,
        "hash_type": ser.hash_type,
        "allow_symlinks": ser.allow_symlinks,
    }
    if ser.shard_size is not None:
        serialization["shard_size"] = ser.shard_size  # an integer, unlike 1.1.1 (2.6)
    # Always written, even empty: an absent list would make verifiers ignore git paths.
    serialization["ignore_paths"] = list(ser.ignore_paths)
    predicate: dict[str, Any] = {
        "resources": [
            {"name": r.name, "algorithm": r.algorithm, "digest": r.digest}
            for r in manifest.resources
        ],
        "serialization": serialization,
    }
    if manifest.empty_files is not None:
        # Shards mode gives empty files no resource (2.5). OMS verifiers ignore unknown
        # predicate fields, so we record them here (even none) and check them on verify.
        predicate["weightguard_empty_files"] = list(manifest.empty_files)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": manifest.root_digest}}],
        "predicateType": OMS_PREDICATE,
        "predicate": predicate,
    }


def manifest_from_statement(stmt: Statement) -> Manifest:
    """Validate an OMS statement and turn it into a Manifest.

    Raises:
        BundleError: unknown predicate type, not exactly one subject, root digest mismatch,
            empty manifest, duplicate or unsafe names, malformed resources.
    """
    if stmt.predicate_type == OMS_LEGACY_PREDICATE:
        return _legacy_manifest(stmt)
    if stmt.predicate_type != OMS_PREDICATE:
        raise BundleError(
            f"unsupported predicate type {stmt.predicate_type!r}", code="statement.predicate_type"
        )
    if len(stmt.subjects) != 1:
        raise BundleError(
            f"statement has {len(stmt.subjects)} subjects; OMS requires one",
            code="statement.subject_count",
        )
    name, digest = stmt.subjects[0]
    claimed_root = digest.get("sha256")
    if not claimed_root:
        raise BundleError("subject has no sha256 digest", code="statement.malformed")
    ser = _serialization(stmt.predicate.get("serialization"))
    raw_resources = stmt.predicate.get("resources")
    if not isinstance(raw_resources, list):
        raise BundleError("predicate.resources must be a list", code="statement.malformed")
    resources = tuple(_resource(r, ser) for r in raw_resources)
    if not resources:
        raise BundleError("the signed manifest is empty", code="manifest.empty")
    names = [r.name for r in resources]
    if len(set(names)) != len(names):
        raise BundleError(
            "the signed manifest names a resource twice", code="manifest.duplicate_name"
        )
    computed = root_digest(resources)
    if computed != claimed_root.lower():
        raise BundleError(
            "subject digest does not match the listed resources", code="statement.root_mismatch"
        )
    empty = stmt.predicate.get("weightguard_empty_files")
    if empty is None:
        return Manifest(name, resources, ser, None)
    if not isinstance(empty, list) or not all(isinstance(e, str) for e in empty):
        raise BundleError(
            "weightguard_empty_files must be a list of names", code="statement.malformed"
        )
    for e in empty:
        validate_relative_name(e)
    return Manifest(name, resources, ser, tuple(empty))


def _serialization(raw: object) -> Serialization:
    if not isinstance(raw, dict):
        raise BundleError("predicate.serialization is missing", code="statement.malformed")
    method = raw.get("method")
    hash_type = raw.get("hash_type")
    if method not in ("files", "shards") or not isinstance(hash_type, str):
        raise BundleError(
            f"unsupported serialization method {method!r}", code="statement.serialization"
        )
    from weightguard.digest import canonical_algorithm
    from weightguard.errors import UsageError

    try:
        hash_type = canonical_algorithm(hash_type)
    except UsageError:
        raise BundleError(
            f"unsupported hash type {hash_type!r}", code="statement.serialization"
        ) from None
    shard_size: int | None = None
    if method == "shards":
        size = raw.get("shard_size")
        # 1.1.1 writes an integral float (2.6); accept it, refuse anything else.
        if isinstance(size, float) and size.is_integer():
            size = int(size)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size < 2**63:
            raise BundleError(
                "shard_size must be a positive integer", code="statement.serialization"
            )
        shard_size = size
    recorded = "ignore_paths" in raw
    ignores = raw.get("ignore_paths", [])
    if not isinstance(ignores, list) or not all(isinstance(i, str) for i in ignores):
        raise BundleError("ignore_paths must be a list of strings", code="statement.serialization")
    for ig in ignores:
        validate_relative_name(ig)
    symlinks = raw.get("allow_symlinks", False)
    if not isinstance(symlinks, bool):
        raise BundleError("allow_symlinks must be a boolean", code="statement.serialization")
    return Serialization(method, hash_type, symlinks, shard_size, tuple(ignores), recorded)


def _resource(raw: object, ser: Serialization) -> Resource:
    if not isinstance(raw, dict):
        raise BundleError("resource entry is not an object", code="statement.malformed")
    name, alg, digest = raw.get("name"), raw.get("algorithm"), raw.get("digest")
    if not (isinstance(name, str) and isinstance(alg, str) and isinstance(digest, str)):
        raise BundleError(
            "resource needs string name, algorithm and digest", code="statement.malformed"
        )
    if ser.method == "shards":
        path, _, _ = parse_shard_name(name)
        accepted = {f"{ser.hash_type}-sharded-{ser.shard_size}", ser.hash_type}  # 1.1.1, spec
        if ser.hash_type == "blake2b":
            accepted.add(f"blake2b-sharded-{ser.shard_size}")
        if alg not in accepted:
            raise BundleError(
                f"resource algorithm {alg!r} does not match serialization",
                path=path,
                code="statement.algorithm",
            )
        alg = f"{ser.hash_type}-sharded-{ser.shard_size}"
    else:
        path = name
        if alg != ser.hash_type:
            raise BundleError(
                f"resource algorithm {alg!r} does not match hash_type",
                path=name,
                code="statement.algorithm",
            )
    if path != ".":
        validate_relative_name(path)
    # Plain lower-case hex only: bytes.fromhex() also skips whitespace ("ab cd").
    if not _HEX.fullmatch(digest.lower()):
        raise BundleError("resource digest is not hex", path=name, code="statement.malformed")
    if len(digest) != 2 * expected_digest_size(alg) or digest != digest.lower():
        raise BundleError(
            "resource digest has the wrong length or case", path=name, code="statement.malformed"
        )
    return Resource(name, alg, digest)


def _legacy_manifest(stmt: Statement) -> Manifest:
    # model-signing 0.2: one subject per file, sha256 each (oms-format.md 2.9).
    resources = []
    for name, digest in stmt.subjects:
        value = digest.get("sha256")
        if not value:
            raise BundleError("legacy subject lacks a sha256 digest", code="statement.malformed")
        if not _SHA256_HEX.fullmatch(value.lower()):
            raise BundleError(
                "legacy subject digest is not 64 hex digits", path=name, code="statement.malformed"
            )
        validate_relative_name(name)
        resources.append(Resource(name, "sha256", value.lower()))
    if not resources:
        raise BundleError("the signed manifest is empty", code="manifest.empty")
    names = [r.name for r in resources]
    if len(set(names)) != len(names):
        raise BundleError("the signed manifest names a file twice", code="manifest.duplicate_name")
    return Manifest("", tuple(resources), Serialization("files", "sha256"))
