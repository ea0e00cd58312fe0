"""A private Sigstore instance for tests: OIDC issuer, Fulcio-style CA with a CT log, and a
Rekor-v1-style transparency log, served on 127.0.0.1 from one thread.

The real sigstore-python client (and model-signing through it) signs against these
services exactly as it would against public-good Sigstore, and the real verifier accepts
the result with the trusted root this instance publishes. Nothing leaves loopback; every
key is generated per instance and thrown away with it.

What the verifier checks, and so what this must get right (sigstore-python 4.5.1):
- the leaf certificate chains to the CA in the trusted root and carries an embedded SCT
  signed by a CT log in the trusted root, over the certificate's precertificate TBS;
- the issuer extensions (Fulcio OIDs 1.3.6.1.4.1.57264.1.1 and .8) name the OIDC issuer;
- each log entry has a signed entry timestamp (canonical JSON of body, integratedTime,
  logID, logIndex) and an RFC 6962 inclusion proof whose root is in a signed checkpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import json
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

FULCIO_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw bytes (deprecated)
FULCIO_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
MAX_REQUEST = 1 << 20  # a request body above this is refused: tests stay bounded
LEAF_LIFETIME = dt.timedelta(minutes=10)  # Fulcio's certificates live ten minutes


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _utc(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length, long form where needed)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# ---- RFC 6962 Merkle tree ------------------------------------------------------------------------


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (RFC 6962 2.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class MerkleTree:
    def __init__(self) -> None:
        self.leaves: list[bytes] = []

    def add(self, data: bytes) -> int:
        self.leaves.append(_leaf_hash(data))
        return len(self.leaves) - 1

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        hi = len(self.leaves) if hi is None else hi
        if hi - lo == 1:
            return self.leaves[lo]
        mid = lo + _split(hi - lo)
        return _node_hash(self.root(lo, mid), self.root(mid, hi))

    def audit_path(self, index: int) -> list[bytes]:
        """Sibling hashes from the leaf up to the root of the whole tree."""
        path: list[bytes] = []
        lo, hi = 0, len(self.leaves)
        while hi - lo > 1:
            mid = lo + _split(hi - lo)
            if index < mid:
                path.append(self.root(mid, hi))
                hi = mid
            else:
                path.append(self.root(lo, mid))
                lo = mid
        return path[::-1]  # RFC 6962 lists the deepest sibling first


# ---- the three services ------------------------------------------------------------------------


@dataclass
class Identity:
    """The OIDC issuer: signs ES256 ID tokens with audience `sigstore`."""

    issuer: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def token(self, subject: str, lifetime_s: int = 300, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": "sigstore",
            "sub": subject,
            "email": subject,
            "email_verified": True,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="ES256")

    def check(self, token: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            self.key.public_key(),
            algorithms=["ES256"],
            audience="sigstore",
            issuer=self.issuer,
        )
        return claims


class CertificateAuthority:
    """Fulcio: a self-signed P-384 root that issues short-lived code-signing leaves with an
    embedded SCT from its own CT log key."""

    def __init__(self, epoch: dt.datetime) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_log_id = hashlib.sha256(_spki_der(self.ct_key.public_key())).digest()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "weightguard tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, "weightguard test fulcio"),
            ]
        )
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(epoch)
            .not_valid_after(epoch + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA384())
        )

    def _leaf(
        self, public_key: Any, san: x509.GeneralName, issuer: str, serial: int, start: dt.datetime
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(start + LEAF_LIFETIME)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.UnrecognizedExtension(FULCIO_ISSUER_V1, issuer.encode()), critical=False
            )
            .add_extension(
                x509.UnrecognizedExtension(FULCIO_ISSUER_V2, _der(0x0C, issuer.encode())),
                critical=False,
            )
        )

    def issue(self, public_key: Any, identity: str, issuer: str) -> x509.Certificate:
        san: x509.GeneralName = (
            x509.UniformResourceIdentifier(identity)
            if "://" in identity
            else x509.RFC822Name(identity)
        )
        serial = x509.random_serial_number()
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=5)
        # The precertificate TBS is the final TBS without the SCT extension: build it once
        # without, have the CT log sign it, then build again with the SCT appended last.
        precert_tbs = (
            self._leaf(public_key, san, issuer, serial, start)
            .sign(self.key, hashes.SHA384())
            .tbs_certificate_bytes
        )
        millis = int(time.time() * 1000)
        issuer_key_hash = hashlib.sha256(_spki_der(self.key.public_key())).digest()
        # RFC 6962 3.2 digitally-signed struct: v1, certificate_timestamp, precert_entry.
        signed = (
            struct.pack(">BBQH", 0, 0, millis, 1)
            + issuer_key_hash
            + len(precert_tbs).to_bytes(3, "big")
            + precert_tbs
            + struct.pack(">H", 0)
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00"
            + self.ct_log_id
            + struct.pack(">QH", millis, 0)
            + bytes([4, 3])  # sha256, ecdsa
            + struct.pack(">H", len(signature))
            + signature
        )
        sct_list = struct.pack(">HH", len(sct) + 2, len(sct)) + sct
        ext = x509.UnrecognizedExtension(
            ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, _der(0x04, sct_list)
        )
        cert = (
            self._leaf(public_key, san, issuer, serial, start)
            .add_extension(ext, critical=False)
            .sign(self.key, hashes.SHA384())
        )
        if cert.tbs_precertificate_bytes != precert_tbs:
            raise AssertionError("precertificate TBS drifted: the SCT would not verify")
        return cert


class TransparencyLog:
    """Rekor v1: canonicalised entry bodies in a Merkle tree, each answered with a signed
    entry timestamp and an inclusion proof against a signed checkpoint."""

    def __init__(self, origin: str = "rekor.weightguard.test - 0") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.log_id = hashlib.sha256(_spki_der(self.key.public_key())).digest()
        self.origin = origin
        self.tree = MerkleTree()
        self.lock = threading.Lock()

    def _checkpoint(self, size: int, root: bytes) -> str:
        note = f"{self.origin}\n{size}\n{b64(root)}\n"
        sig = self.key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        signer_name = self.origin.split(" ", 1)[0]
        return f"{note}\n\u2014 {signer_name} {b64(self.log_id[:4] + sig)}\n"

    def append(self, body: dict[str, Any]) -> dict[str, Any]:
        """Log one entry body; return Rekor's v1 API answer for it (hex hashes)."""
        raw = rfc8785.dumps(body)
        with self.lock:
            index = self.tree.add(raw)
            size, root, path = len(self.tree.leaves), self.tree.root(), self.tree.audit_path(index)
        integrated = int(time.time())
        promise = rfc8785.dumps(
            {
                "body": b64(raw),
                "integratedTime": integrated,
                "logID": self.log_id.hex(),
                "logIndex": index,
            }
        )
        return {
            "body": b64(raw),
            "integratedTime": integrated,
            "logID": self.log_id.hex(),
            "logIndex": index,
            "verification": {
                "signedEntryTimestamp": b64(self.key.sign(promise, ec.ECDSA(hashes.SHA256()))),
                "inclusionProof": {
                    "logIndex": index,
                    "treeSize": size,
                    "rootHash": root.hex(),
                    "hashes": [h.hex() for h in path],
                    "checkpoint": self._checkpoint(size, root),
                },
            },
        }

    @staticmethod
    def canonical_body(proposed: dict[str, Any]) -> dict[str, Any]:
        """What Rekor stores for a proposed entry: DSSE entries keep only digests."""
        if proposed.get("kind") != "dsse":
            return proposed
        content = proposed["spec"]["proposedContent"]
        envelope = json.loads(content["envelope"])
        return {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(content["envelope"].encode()).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(base64.b64decode(envelope["payload"])).hexdigest(),
                },
                "signatures": [
                    {"signature": s["sig"], "verifier": v}
                    for s, v in zip(envelope["signatures"], content["verifiers"])
                ],
            },
        }


# ---- the instance and its loopback server ------------------------------------------------------


class FakeSigstore:
    """All three services plus the trust material a client needs to use and verify them."""

    def __init__(self, issuer: str = "https://idp.weightguard.test") -> None:
        self.epoch = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
        self.idp = Identity(issuer)
        self.ca = CertificateAuthority(self.epoch)
        self.rekor = TransparencyLog()
        self.url = ""
        self._server: http.server.ThreadingHTTPServer | None = None

    def token(self, subject: str, lifetime_s: int = 300) -> str:
        return self.idp.token(subject, lifetime_s)

    # ---- trust material --------------------------------------------------------------------
    def _key(self, key: ec.EllipticCurvePrivateKey, log_id: bytes) -> dict[str, Any]:
        return {
            "baseUrl": self.url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(_spki_der(key.public_key())),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": _utc(self.epoch)},
            },
            "logId": {"keyId": b64(log_id)},
        }

    def trusted_root(self) -> dict[str, Any]:
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [self._key(self.rekor.key, self.rekor.log_id)],
            "certificateAuthorities": [
                {
                    "subject": {
                        "organization": "weightguard tests",
                        "commonName": "weightguard test fulcio",
                    },
                    "uri": self.url,
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64(self.ca.cert.public_bytes(serialization.Encoding.DER))}
                        ]
                    },
                    "validFor": {"start": _utc(self.epoch)},
                }
            ],
            "ctlogs": [self._key(self.ca.ct_key, self.ca.ct_log_id)],
            "timestampAuthorities": [],
        }

    def client_trust_config(self) -> dict[str, Any]:
        def service() -> list[dict[str, Any]]:
            return [
                {
                    "url": self.url,
                    "majorApiVersion": 1,
                    "validFor": {"start": _utc(self.epoch)},
                    "operator": "weightguard tests",
                }
            ]

        return {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root(),
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": service(),
                "oidcUrls": service(),
                "rekorTlogUrls": service(),
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        }

    def write(self, folder: Path) -> tuple[Path, Path]:
        """trust_config.json (ClientTrustConfig) and trusted_root.json in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        config, root = folder / "trust_config.json", folder / "trusted_root.json"
        config.write_text(json.dumps(self.client_trust_config()))
        root.write_text(json.dumps(self.trusted_root()))
        return config, root

    # ---- HTTP --------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        if method == "GET" and path == "/.well-known/openid-configuration":
            return 200, {
                "issuer": self.idp.issuer,
                "authorization_endpoint": self.url + "/auth",
                "token_endpoint": self.url + "/token",
                "jwks_uri": self.url + "/jwks",
            }
        if method == "GET" and path == "/jwks":
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.idp.key.public_key()))
            return 200, {"keys": [jwk]}
        if method != "POST":
            return 404, {"message": "not found"}
        request = json.loads(body)
        if path == "/api/v2/signingCert":
            auth = headers.get("Authorization", "")
            try:
                claims = self.idp.check(auth.removeprefix("Bearer "))
            except jwt.PyJWTError as exc:
                return 401, {"message": f"identity token rejected: {exc}"}
            csr = x509.load_pem_x509_csr(base64.b64decode(request["certificateSigningRequest"]))
            if not csr.is_signature_valid:
                return 400, {"message": "CSR signature does not prove possession of the key"}
            leaf = self.ca.issue(
                csr.public_key(), claims.get("email") or claims["sub"], claims["iss"]
            )
            chain = {"certificates": [_pem(leaf), _pem(self.ca.cert)]}
            return 201, {"signedCertificateEmbeddedSct": {"chain": chain}}
        if path == "/api/v1/log/entries":
            answer = self.rekor.append(TransparencyLog.canonical_body(request))
            uuid = hashlib.sha256(base64.b64decode(answer["body"])).hexdigest()
            return 201, {uuid: answer}
        return 404, {"message": "not found"}

    def start(self) -> FakeSigstore:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10  # a stuck client cannot hold a worker thread forever

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST:
                    code, doc = 413, {"message": "request too large"}
                else:
                    raw = self.rfile.read(length)
                    try:
                        code, doc = fake.handle(method, self.path, self.headers, raw)
                    except (ValueError, KeyError, TypeError) as exc:
                        code, doc = 400, {"message": f"bad request: {exc}"}
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def running(issuer: str = "https://idp.weightguard.test") -> Iterator[FakeSigstore]:
    fake = FakeSigstore(issuer).start()
    try:
        yield fake
    finally:
        fake.stop()
