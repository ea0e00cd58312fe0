"""OMS (OpenSSF model signing) interop vectors, made per test session.

`build(folder)` writes the layout tests/integration/test_oms_vectors.py reads:

    model/        9 files: nested dirs, an empty file, a tiny safetensors file, and the
                  ordering trap `weights/…` vs `weights-extra.bin` vs `weights.json`
                  (path-component order differs from plain string order)
    keys/         p256, p384, p521, other-p256 (SEC1 private, SPKI public PEM);
                  p256-encrypted (PKCS#8, password `interop-password`); unsupported
                  k256 (secp256k1), ed25519, rsa2048
    certs/        root (P-384 CA) -> int (P-256 CA, pathlen 0) -> leaf (codeSigning,
                  SAN signer@weightguard.test); leaf-tls (serverAuth), leaf-expired,
                  leaf-noext; other-root (unrelated CA); chain.pem = int + root
    bundles/*.sig           signed by model-signing 1.1.1 itself (the reference)
    bundles/negative/*.sig  edits of those bundles, and reference bundles over bad input
    bundles/foreign/*.sig   signed by our own small producer below with spec variants
                            (plain string order, integer shard_size, plain shard
                            algorithm names), to test reading leniency

Reference outcomes of model-signing 1.1.1's own CLI for these vectors are in
MODEL_SIGNING_CLI (observed by running `model_signing verify …` on vectors made this way).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MODEL_FILES: dict[str, bytes] = {
    "README.md": b"# tiny-model\nInterop test vector for OMS (model_signing) bundles.\n",
    "config.json": b'{"architectures": ["TinyNet"], "hidden_size": 4}\n',
    "empty.bin": b"",
    "tokenizer/special/merges.txt": b"#version: 0.2\nh e\nw o\n",
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\nworld\n",
    "weights/blob.bin": bytes(range(100)),
    "weights/model.safetensors": (
        b"\xa0\x00\x00\x00\x00\x00\x00\x00"
        b'{"__metadata__":{"format":"np"},"fc.bias":{"dtype":"F32","shape":[4],'
        b'"data_offsets":[0,16]},"fc.weight":{"dtype":"F32","shape":[4,4],'
        b'"data_offsets":[16,80]}}   '
        b"\x00\x00\x00?\x00\x00\x80\xbe\x00\x00\x80?\x00\x00\x00\x00"
        b"\x00\x00\x00\x00\x00\x00\x00>\x00\x00\x80>\x00\x00\xc0>\x00\x00\x00?\x00\x00 ?"
        b"\x00\x00@?\x00\x00`?\x00\x00\x80?\x00\x00\x90?\x00\x00\xa0?\x00\x00\xb0?"
        b"\x00\x00\xc0?\x00\x00\xd0?\x00\x00\xe0?\x00\x00\xf0?"
    ),
    "weights-extra.bin": b"extra weights\n",
    "weights.json": b"weights index v1\n",
}
# model/ in files+sha256 mode, model-signing's (path component) order.
MODEL_ROOT_DIGEST = "96aa15247f7aa52d7e06c4e7221a8e12e0bab57c8262c490a3517c297b7dacbc"

PASSWORD = b"interop-password"
IDENTITY = "signer@weightguard.test"
GIT_IGNORES = [".git", ".gitattributes", ".github", ".gitignore"]

# (bundle, model, model_signing verify args) -> exit code of model-signing 1.1.1's CLI.
MODEL_SIGNING_CLI: list[tuple[str, str, str, int]] = [
    ("bundles/key-p256.sig", "model", "key --public_key keys/p256.pub.pem", 0),
    ("bundles/key-p384.sig", "model", "key --public_key keys/p384.pub.pem", 0),
    ("bundles/key-p521.sig", "model", "key --public_key keys/p521.pub.pem", 0),
    ("bundles/key-p256.sig", "model", "key --public_key keys/other-p256.pub.pem", 1),
    (
        "bundles/key-p256-single-file.sig",
        "model/weights/model.safetensors",
        "key --public_key keys/p256.pub.pem",
        0,
    ),
    ("bundles/cert-chain.sig", "model", "certificate --certificate_chain certs/root.cert.pem", 0),
    (
        "bundles/cert-leaf-int.sig",
        "model",
        "certificate --certificate_chain certs/root.cert.pem",
        0,
    ),
    ("bundles/cert-leaf-int.sig", "model", "certificate --certificate_chain certs/int.cert.pem", 1),
    (
        "bundles/cert-leaf-int.sig",
        "model",
        "certificate --certificate_chain certs/other-root.cert.pem",
        1,
    ),
    ("bundles/cert-leaf-int.sig", "model", "certificate", 1),
    ("bundles/api-files-blake2.sig", "model", "key --public_key keys/p256.pub.pem", 1),
    ("bundles/api-files-blake3.sig", "model", "key --public_key keys/p256.pub.pem", 1),
    ("bundles/api-files-ignore-readme.sig", "model", "key --public_key keys/p256.pub.pem", 0),
    ("bundles/api-files-no-git-ignore.sig", "model", "key --public_key keys/p256.pub.pem", 0),
    ("bundles/api-shards-blake2-32B.sig", "model", "key --public_key keys/p256.pub.pem", 1),
    ("bundles/api-shards-sha256-32B.sig", "model", "key --public_key keys/p256.pub.pem", 1),
    ("bundles/api-shards-sha256-default.sig", "model", "key --public_key keys/p256.pub.pem", 1),
    *[
        (f"bundles/negative/key-p256-{name}.sig", "model", "key --public_key keys/p256.pub.pem", rc)
        for name, rc in [
            ("extra-junk-signature", 0),
            ("hint-missing", 0),
            ("hint-wrong", 1),
            ("junk-first-signature", 1),
            ("mediatype-v02", 1),
            ("no-tlogentries", 0),
            ("not-json", 1),
            ("payload-digest-changed", 1),
            ("payloadtype-changed", 1),
            ("sig-corrupted", 1),
            ("unknown-field", 1),
        ]
    ],
    (
        "bundles/negative/cert-expired-leaf.sig",
        "model",
        "certificate --certificate_chain certs/root.cert.pem",
        0,
    ),
    (
        "bundles/negative/cert-tls-leaf.sig",
        "model",
        "certificate --certificate_chain certs/root.cert.pem",
        1,
    ),
    ("bundles/negative/empty-manifest.sig", "model", "key --public_key keys/p256.pub.pem", 1),
    (
        "bundles/negative/empty-manifest.sig",
        "model",
        "key --public_key keys/p256.pub.pem --ignore_unsigned_files",
        0,
    ),
    ("bundles/foreign/cleanroom-files-p256.sig", "model", "key --public_key keys/p256.pub.pem", 0),
    (
        "bundles/foreign/cleanroom-files-stringorder-p384.sig",
        "model",
        "key --public_key keys/p384.pub.pem",
        0,
    ),
    (
        "bundles/foreign/cleanroom-shards32-intsize-p256.sig",
        "model",
        "key --public_key keys/p256.pub.pem",
        1,
    ),
    (
        "bundles/foreign/cleanroom-shards32-specalg-p256.sig",
        "model",
        "key --public_key keys/p256.pub.pem",
        1,
    ),
    (
        "bundles/foreign/cleanroom-files-blake3-p256.sig",
        "model",
        "key --public_key keys/p256.pub.pem",
        1,
    ),
]

# Bundles model-signing 1.1.1's API could or could not read with auto-detected hashing.
MODEL_SIGNING_API_AUTO_DETECT = [
    "bundles/key-p256.sig",
    "bundles/api-files-blake2.sig",  # ValueError: Unsupported hashing method blake2b
    "bundles/api-files-blake3.sig",
    "bundles/api-shards-blake2-32B.sig",  # ValueError: Unsupported hashing method blake2b
    "bundles/api-shards-sha256-32B.sig",  # TypeError: float shard_size
    "bundles/api-shards-sha256-default.sig",  # TypeError: float shard_size
    "bundles/api-files-ignore-readme.sig",
    "bundles/foreign/cleanroom-shards32-intsize-p256.sig",
    "bundles/foreign/cleanroom-shards32-specalg-p256.sig",  # Hash mismatch
    "bundles/foreign/cleanroom-files-blake3-p256.sig",
]


# ---- model, keys, certificates -------------------------------------------------------------------


def write_model(root: Path) -> Path:
    for rel, data in MODEL_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _write_key(
    folder: Path, name: str, key: Any, fmt: Any = None, password: bytes | None = None
) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    (folder / f"{name}.priv.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            fmt or serialization.PrivateFormat.TraditionalOpenSSL,
            encryption,
        )
    )
    (folder / f"{name}.pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def write_keys(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, curve in [
        ("p256", ec.SECP256R1()),
        ("p384", ec.SECP384R1()),
        ("p521", ec.SECP521R1()),
        ("other-p256", ec.SECP256R1()),
        ("k256", ec.SECP256K1()),
    ]:
        _write_key(folder, name, ec.generate_private_key(curve))
    _write_key(
        folder,
        "p256-encrypted",
        ec.generate_private_key(ec.SECP256R1()),
        serialization.PrivateFormat.PKCS8,
        PASSWORD,
    )
    _write_key(
        folder, "ed25519", ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8
    )
    _write_key(folder, "rsa2048", rsa.generate_private_key(65537, 2048))


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "weightguard test"),
        ]
    )


def _usage(sign: bool = False, encipher: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(sign, False, encipher, False, False, ca, ca, False, False)


def write_certs(folder: Path) -> None:
    """The X.509 chain; validity is relative to today so the vectors never age out."""
    folder.mkdir(parents=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    issued: dict[str, tuple[Any, x509.Certificate]] = {}

    def make(
        name: str,
        curve: ec.EllipticCurve,
        issuer: str | None,
        *,
        ca: int | None = None,
        usage: x509.KeyUsage | None = None,
        eku: list[x509.ObjectIdentifier] | None = None,
        san: str | None = None,
        valid: tuple[dt.datetime, dt.datetime] = (
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=1800),
        ),
    ) -> None:
        key = ec.generate_private_key(curve)
        issuer_key, issuer_cert = issued[issuer] if issuer else (key, None)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(issuer_cert.subject if issuer_cert else _name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
            )
        )
        if ca is not None:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=ca), True)
        if usage is not None:
            builder = builder.add_extension(usage, True)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), False)
        if san is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(san)]), False
            )
        algorithm = (
            hashes.SHA384() if isinstance(issuer_key.curve, ec.SECP384R1) else hashes.SHA256()
        )
        cert = builder.sign(issuer_key, algorithm)
        issued[name] = (key, cert)
        (folder / f"{name}.priv.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        (folder / f"{name}.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    code_signing = [ExtendedKeyUsageOID.CODE_SIGNING]
    # The CAs predate leaf-expired: model-signing 1.1.1 checks the chain at the leaf's
    # notBefore, so it accepts that leaf, the difference test_oms_vectors.py records.
    ca_valid = (dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), now + dt.timedelta(days=3650))
    make("root", ec.SECP384R1(), None, ca=1, usage=_usage(ca=True), valid=ca_valid)
    make("other-root", ec.SECP384R1(), None, ca=1, usage=_usage(ca=True), valid=ca_valid)
    make("int", ec.SECP256R1(), "root", ca=0, usage=_usage(ca=True), valid=ca_valid)
    make("leaf", ec.SECP256R1(), "int", usage=_usage(sign=True), eku=code_signing, san=IDENTITY)
    make(
        "leaf-tls",
        ec.SECP256R1(),
        "int",
        usage=_usage(encipher=True),
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        san=IDENTITY,
    )
    make(
        "leaf-expired",
        ec.SECP256R1(),
        "int",
        usage=_usage(sign=True),
        eku=code_signing,
        san=IDENTITY,
        valid=(
            dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
            dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc),
        ),
    )
    make("leaf-noext", ec.SECP256R1(), "int", san=IDENTITY)
    (folder / "chain.pem").write_bytes(
        (folder / "int.cert.pem").read_bytes() + (folder / "root.cert.pem").read_bytes()
    )


# ---- bundles -------------------------------------------------------------------------------------


def _payload(doc: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    return statement


def _dump(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2))


def _negatives(reference: Path, out: Path) -> None:
    """Edits of a valid key bundle, each one thing wrong (or merely unusual)."""
    base: dict[str, Any] = json.loads(reference.read_bytes())

    def edit(name: str, change: Callable[[dict[str, Any]], None]) -> None:
        doc = json.loads(json.dumps(base))
        change(doc)
        _dump(out / f"key-p256-{name}.sig", doc)

    def payload_digest_changed(doc: dict[str, Any]) -> None:
        statement = _payload(doc)
        first = statement["predicate"]["resources"][0]
        first["digest"] = ("0" if first["digest"][0] != "0" else "1") + first["digest"][1:]
        doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    def sig_corrupted(doc: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
        raw[-1] ^= 0x01
        doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()

    junk = {"sig": base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()}
    edit("payload-digest-changed", payload_digest_changed)
    edit("sig-corrupted", sig_corrupted)
    edit("hint-wrong", lambda d: d["verificationMaterial"]["publicKey"].update(hint="ab" * 32))
    edit("hint-missing", lambda d: d["verificationMaterial"]["publicKey"].pop("hint"))
    edit(
        "mediatype-v02",
        lambda d: d.update(mediaType="application/vnd.dev.sigstore.bundle+json;version=0.2"),
    )
    edit("payloadtype-changed", lambda d: d["dsseEnvelope"].update(payloadType="application/json"))
    edit("extra-junk-signature", lambda d: d["dsseEnvelope"]["signatures"].append(junk))
    edit("junk-first-signature", lambda d: d["dsseEnvelope"]["signatures"].insert(0, junk))
    edit("unknown-field", lambda d: d.update(unexpectedField={"x": 1}))
    edit("no-tlogentries", lambda d: d["verificationMaterial"].pop("tlogEntries", None))
    (out / "key-p256-not-json.sig").write_bytes(b"oops\n")


def _pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _component_key(name: str) -> tuple[str, ...]:
    return tuple(name.split("/"))


def sign_foreign(
    model: Path,
    key_pem: Path,
    out: Path,
    *,
    hash_type: str = "sha256",
    shard_size: int | None = None,
    string_order: bool = False,
    plain_shard_alg: bool = False,
) -> None:
    """Our own OMS producer, written from the spec: one DSSE signature over an in-toto
    statement whose subject digest is SHA-256 over the resources' raw digests in order."""
    import blake3

    key = serialization.load_pem_private_key(key_pem.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def digest(data: bytes) -> bytes:
        return (
            blake3.blake3(data).digest()
            if hash_type == "blake3"
            else hashlib.new(hash_type, data).digest()
        )

    files = sorted(
        (p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()),
        key=(lambda n: n) if string_order else _component_key,
    )
    resources: list[dict[str, str]] = []
    for name in files:
        data = (model / name).read_bytes()
        if shard_size is None:
            resources.append({"name": name, "algorithm": hash_type, "digest": digest(data).hex()})
            continue
        alg = hash_type if plain_shard_alg else f"{hash_type}-sharded-{shard_size}"
        for start in range(0, len(data), shard_size):
            end = min(start + shard_size, len(data))
            resources.append(
                {
                    "name": f"{name}:{start}:{end}",
                    "algorithm": alg,
                    "digest": digest(data[start:end]).hex(),
                }
            )
    serialization_doc: dict[str, Any] = {
        "method": "files" if shard_size is None else "shards",
        "hash_type": hash_type,
        "allow_symlinks": False,
    }
    if shard_size is not None:
        serialization_doc["shard_size"] = shard_size
    if not plain_shard_alg:
        serialization_doc["ignore_paths"] = GIT_IGNORES
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": model.name, "digest": {"sha256": root}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {"serialization": serialization_doc, "resources": resources},
    }
    payload = json.dumps(statement).encode()
    curve_hash = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}
    signature = key.sign(
        _pae("application/vnd.in-toto+json", payload), ec.ECDSA(curve_hash[key.curve.key_size])
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    material: dict[str, Any] = {"publicKey": {"hint": hashlib.sha256(public_pem).hexdigest()}}
    sig: dict[str, str] = {"sig": base64.b64encode(signature).decode()}
    if not plain_shard_alg:  # the spec-literal variant also leaves out the optional fields
        material["tlogEntries"] = []
        sig["keyid"] = ""
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [sig],
        },
    }
    _dump(out, bundle)


def build(root: Path) -> Path:
    """Write model/, keys/, certs/ and bundles/ under `root` (see the module docstring)."""
    from model_signing import hashing, signing

    model = write_model(root / "model")
    keys, certs, bundles = root / "keys", root / "certs", root / "bundles"
    write_keys(keys)
    write_certs(certs)
    (bundles / "negative").mkdir(parents=True)
    (bundles / "foreign").mkdir()

    def key_sign(target: Path, key: str, out: str, config: Any = None) -> None:
        cfg = signing.Config().use_elliptic_key_signer(private_key=keys / f"{key}.priv.pem")
        if config is not None:
            cfg = cfg.set_hashing_config(config)
        cfg.sign(target, bundles / out)

    def cert_sign(leaf: str, chain: list[str], out: str) -> None:
        (
            signing.Config()
            .use_certificate_signer(
                private_key=certs / f"{leaf}.priv.pem",
                signing_certificate=certs / f"{leaf}.cert.pem",
                certificate_chain=[certs / f"{c}.cert.pem" for c in chain],
            )
            .sign(model, bundles / out)
        )

    for curve in ("p256", "p384", "p521"):
        key_sign(model, curve, f"key-{curve}.sig")
    key_sign(model / "weights" / "model.safetensors", "p256", "key-p256-single-file.sig")
    cert_sign("leaf", ["int", "root"], "cert-chain.sig")
    cert_sign("leaf", ["int"], "cert-leaf-int.sig")
    cert_sign("leaf-expired", ["int"], "negative/cert-expired-leaf.sig")
    cert_sign("leaf-tls", ["int"], "negative/cert-tls-leaf.sig")
    api = {
        "api-shards-sha256-32B.sig": lambda: hashing.Config().use_shard_serialization(
            shard_size=32
        ),
        "api-shards-sha256-default.sig": lambda: hashing.Config().use_shard_serialization(),
        "api-shards-blake2-32B.sig": lambda: hashing.Config().use_shard_serialization(
            hashing_algorithm="blake2", shard_size=32
        ),
        "api-files-blake2.sig": lambda: hashing.Config().use_file_serialization(
            hashing_algorithm="blake2"
        ),
        "api-files-blake3.sig": lambda: hashing.Config().use_file_serialization(
            hashing_algorithm="blake3"
        ),
        "api-files-ignore-readme.sig": lambda: hashing.Config().set_ignored_paths(
            paths=["README.md", "tokenizer/special"]
        ),
        "api-files-no-git-ignore.sig": lambda: hashing.Config().set_ignored_paths(
            paths=[], ignore_git_paths=False
        ),
    }
    for out, config in api.items():
        key_sign(model, "p256", out, config())
    empty = root / "empty-model"
    empty.mkdir()
    key_sign(empty, "p256", "negative/empty-manifest.sig")
    _negatives(bundles / "key-p256.sig", bundles / "negative")

    p256, p384 = keys / "p256.priv.pem", keys / "p384.priv.pem"
    foreign = bundles / "foreign"
    sign_foreign(model, p256, foreign / "cleanroom-files-p256.sig")
    sign_foreign(model, p384, foreign / "cleanroom-files-stringorder-p384.sig", string_order=True)
    sign_foreign(model, p256, foreign / "cleanroom-shards32-intsize-p256.sig", shard_size=32)
    sign_foreign(model, p256, foreign / "cleanroom-files-blake3-p256.sig", hash_type="blake3")
    sign_foreign(
        model,
        p256,
        foreign / "cleanroom-shards32-specalg-p256.sig",
        shard_size=32,
        plain_shard_alg=True,
    )
    # Our producer and model-signing must agree where they mean the same thing.
    ours = _payload(json.loads((foreign / "cleanroom-files-p256.sig").read_bytes()))
    theirs = _payload(json.loads((bundles / "key-p256.sig").read_bytes()))
    assert ours["subject"] == theirs["subject"], (ours["subject"], theirs["subject"])
    assert ours["subject"][0]["digest"]["sha256"] == MODEL_ROOT_DIGEST
    return root
