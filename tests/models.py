"""Test-model generators and small helpers shared by weightguard's tests.

Every generator writes deterministic bytes under a directory the test owns and returns
the model path. The models exercise the OMS enumeration and ordering rules
(oms-format.md 2.5, 2.7): nested directories, an empty file, hidden files, unicode
names, a name containing ``:``, and the `weights/` vs `weights-extra.bin` ordering trap
(path-component order differs from plain string order there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)


def _blob(seed: int, size: int) -> bytes:
    """Deterministic pseudo-random bytes (fast, no RNG state shared between tests)."""
    import hashlib

    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:size])


def write(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def remove_signature(model: Path) -> None:
    """The model as shipped without its `model.sig`."""
    (model / "model.sig").unlink()


def flip_last_weight_bit(model: Path) -> None:
    """One bit of `model.safetensors` changed after signing."""
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))


def add_pickle(model: Path, name: str = "extra.bin") -> None:
    """An unsigned (harmless) pickle dropped into the model after signing."""
    (model / name).write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.")


def ordering_trap_model(root: Path) -> Path:
    """A nested model whose component order differs from string order.

    Files: `weights/blob.bin`, `weights/sub/deep.bin`, `weights-extra.bin`, `weights.json`,
    `config.json`, `empty.bin` (zero bytes), `.hidden` (hidden file, hashed by OMS),
    `tokenizer/.gitignore` (a nested git file is hashed; only root ones are ignored),
    `tokenizer/vocab.txt`. Sizes straddle 100 bytes so small shard sizes split them.
    """
    files = {
        "config.json": b'{"layers": 2}\n',
        "empty.bin": b"",
        ".hidden": b"hidden but hashed\n",
        "weights/blob.bin": _blob(1, 300),
        "weights/sub/deep.bin": _blob(2, 150),
        "weights-extra.bin": _blob(3, 100),
        "weights.json": b'{"dtype": "f32"}\n',
        "tokenizer/vocab.txt": b"a\nb\nc\n",
        "tokenizer/.gitignore": b"*.tmp\n",
    }
    for rel, data in files.items():
        write(root / rel, data)
    return root


def unicode_model(root: Path) -> Path:
    """Unicode file and directory names, including one outside the BMP."""
    write(root / "données.txt", b"accents\n")
    write(root / "日本/モデル.bin", _blob(4, 64))
    write(root / "emoji-🙂.bin", _blob(5, 33))
    write(root / "Zeta.bin", b"upper case sorts before lower\n")
    return root


def colon_model(root: Path) -> Path:
    """Names with `:` (shard names are `path:start:end`, so `:` must parse from the right)."""
    write(root / "a:b.bin", _blob(6, 70))
    write(root / "dir:x/1:2:3.bin", _blob(7, 40))
    write(root / "plain.bin", _blob(8, 10))
    return root


def single_file_model(root: Path, name: str = "model.safetensors") -> Path:
    """A lone weight file (OMS resource name "." in 1.1.1)."""
    return write(root / name, _blob(9, 257))


def many_files_model(root: Path, count: int, size: int = 1024) -> Path:
    """`count` small files spread over a few subdirectories."""
    for i in range(count):
        write(root / f"part{i % 8}" / f"f{i:05d}.bin", _blob(1000 + i, size))
    return root


@dataclass(frozen=True)
class CliResult:
    """A finished CLI run."""

    rc: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, object]:
        """stdout parsed as one JSON document."""
        import json

        doc = json.loads(self.stdout)
        assert isinstance(doc, dict)
        return doc

    def codes(self) -> list[str]:
        """Reason codes of a JSON report on stdout."""
        return [r["code"] for r in self.json()["reasons"]]  # type: ignore[index,union-attr]

    def error_codes(self) -> list[str]:
        """Codes of error-severity reasons only."""
        return [
            r["code"]
            for r in self.json()["reasons"]  # type: ignore[union-attr]
            if r["severity"] == "error"  # type: ignore[index]
        ]


def run_cli(
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> CliResult:
    """Run `python -m weightguard ARGS` in a subprocess (the real entry point)."""
    full_env = {k: v for k, v in os.environ.items() if k != "WEIGHTGUARD_KEY_PASSWORD"}
    full_env.update(env or {})
    proc = subprocess.run(
        [str(PYTHON), "-m", "weightguard", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        input=stdin,
        timeout=120,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_model_signing(*args: str | os.PathLike[str], cwd: Path | None = None) -> CliResult:
    """Run the reference CLI, `python -m model_signing ARGS`, from this venv."""
    proc = subprocess.run(
        [str(PYTHON), "-m", "model_signing", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


# --- keys and a small PKI, generated per test session (real EC keys, real X.509) ---------


@dataclass(frozen=True)
class KeyPair:
    """PEM files of one EC key pair."""

    private: Path
    public: Path


def make_keypair(directory: Path, name: str, curve: str = "p256") -> KeyPair:
    """Write NAME.pem (PKCS#8) and NAME.pub.pem with weightguard's own key helpers."""
    from weightguard.signing.keys import generate_private_key, private_pem, public_pem

    key = generate_private_key(curve)
    directory.mkdir(parents=True, exist_ok=True)
    priv = write(directory / f"{name}.pem", private_pem(key))
    pub = write(directory / f"{name}.pub.pem", public_pem(key.public_key()))
    return KeyPair(priv, pub)


@dataclass(frozen=True)
class Pki:
    """root -> intermediate -> leaf (code signing), plus variants that must be refused."""

    root: Path
    other_root: Path
    intermediate: Path
    leaf_cert: Path
    leaf_key: Path
    expired_cert: Path
    expired_key: Path
    tls_cert: Path
    tls_key: Path
    other_leaf_cert: Path  # a code-signing leaf issued by other_root
    other_leaf_key: Path
    san: str = "signer@weightguard.test"


def make_pki(directory: Path) -> Pki:
    """Generate a root (P-384), an intermediate (pathlen 0) and leaves, as PEM files."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    day = dt.timedelta(days=1)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def usage(sign: bool, cert_sign: bool, encipher: bool = False) -> x509.KeyUsage:
        return x509.KeyUsage(
            sign, False, encipher, False, False, cert_sign, cert_sign, False, False
        )

    def cert(
        label: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
        *,
        ca: bool,
        eku: list[x509.ObjectIdentifier] | None = None,
        san: str | None = None,
        valid: tuple[dt.datetime, dt.datetime] | None = None,
        encipher: bool = False,
    ) -> tuple[x509.Certificate, Path]:
        if valid is None:  # CAs for ten years; leaves valid since yesterday
            valid = (now - 3650 * day, now + 3650 * day) if ca else (now - day, now + 365 * day)
        issuer_name = issuer[0].subject if issuer else name(label)
        signing_key = issuer[1] if issuer else key
        b = (
            x509.CertificateBuilder()
            .subject_name(name(label))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None), True
            )
            .add_extension(usage(not ca and not encipher, ca, encipher), True)
        )
        if issuer:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), False
            )
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), False)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(san)]), False)
        c = b.sign(signing_key, hashes.SHA384() if ca else hashes.SHA256())
        path = write(directory / f"{label}.cert.pem", c.public_bytes(serialization.Encoding.PEM))
        return c, path

    def key(label: str, curve: ec.EllipticCurve) -> tuple[ec.EllipticCurvePrivateKey, Path]:
        k = ec.generate_private_key(curve)
        pem = k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return k, write(directory / f"{label}.priv.pem", pem)

    code = [ExtendedKeyUsageOID.CODE_SIGNING]
    root_k, _ = key("root", ec.SECP384R1())
    root_c, root_p = cert("root", root_k, None, ca=True)
    other_k, _ = key("other-root", ec.SECP384R1())
    other_c, other_p = cert("other-root", other_k, None, ca=True)
    int_k, _ = key("int", ec.SECP256R1())
    int_c, int_p = cert("int", int_k, (root_c, root_k), ca=True)
    leaf_k, leaf_kp = key("leaf", ec.SECP256R1())
    _, leaf_p = cert("leaf", leaf_k, (int_c, int_k), ca=False, eku=code, san=Pki.san)
    exp_k, exp_kp = key("leaf-expired", ec.SECP256R1())
    _, exp_p = cert(
        "leaf-expired",
        exp_k,
        (int_c, int_k),
        ca=False,
        eku=code,
        san=Pki.san,
        valid=(now - 30 * day, now - 2 * day),
    )
    tls_k, tls_kp = key("leaf-tls", ec.SECP256R1())
    _, tls_p = cert(
        "leaf-tls",
        tls_k,
        (int_c, int_k),
        ca=False,
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        encipher=True,
    )
    ol_k, ol_kp = key("other-leaf", ec.SECP256R1())
    _, ol_p = cert("other-leaf", ol_k, (other_c, other_k), ca=False, eku=code, san=Pki.san)
    return Pki(
        root=root_p,
        other_root=other_p,
        intermediate=int_p,
        leaf_cert=leaf_p,
        leaf_key=leaf_kp,
        expired_cert=exp_p,
        expired_key=exp_kp,
        tls_cert=tls_p,
        tls_key=tls_kp,
        other_leaf_cert=ol_p,
        other_leaf_key=ol_kp,
    )
