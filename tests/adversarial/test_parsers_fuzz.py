"""Class 11 (no crash): every parser of attacker-controlled bytes ends in a reason code.

Fuzzers (hypothesis, derandomised so CI is reproducible, each a few seconds, under a
memory cap) for the bundle, the in-toto statement, the policy YAML loader, X.509 chain
verification with mutated (and re-signed) DER, and the keyless (Sigstore) bundle path.
Each asserts: success, or a `WeightguardError` whose exit code is 1, 2 or 3. A
`ValueError`, `RecursionError`, `MemoryError` or anything else is a failure (the CLI
would exit 4 with a traceback-shaped message).

Seen crashing before the fix (main e769f51), kept below as explicit regressions:
a 5000-digit JSON integer in a bundle or statement (ValueError from int()), a 5000-digit
shard offset, a 5000-digit integer or 5000-deep nesting in policy YAML (ValueError,
RecursionError), a 5000-digit signed version (ValueError in parse_version), duplicate or
malformed extensions in a signing certificate (DuplicateExtension/ValueError, keyless
path). Non-hex legacy digests and Unicode-digit shard offsets were accepted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import resource
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversarial import certkit as ck
from weightguard.bundle import (
    encode_bundle,
    encode_statement,
    manifest_from_statement,
    parse_bundle,
    parse_statement,
)
from weightguard.errors import WeightguardError
from weightguard.policy.load import parse_policy
from weightguard.release import parse_version
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier

# No per-example deadline (a loaded 2-core CI box makes those flaky); `budget` below
# bounds each test's wall-clock instead, so a hang still fails.
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW_FUZZ = settings(FUZZ, max_examples=40)  # each example signs or verifies a chain
MEMORY_HEADROOM = 2 << 30  # bytes of address space a fuzzed parse may add
TIME_BUDGET_S = 120  # per test; typical runs take a few seconds


class OverBudget(Exception):
    """The test ran past TIME_BUDGET_S: some input made a parser hang."""


@pytest.fixture(autouse=True)
def budget() -> Iterator[None]:
    """Cap address space and wall-clock while fuzzing: a parser that balloons or hangs
    fails the test instead of taking the host down."""

    def over(*_: object) -> None:
        raise OverBudget(f"over the {TIME_BUDGET_S} s budget")

    previous = signal.signal(signal.SIGALRM, over)
    signal.alarm(TIME_BUDGET_S)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    vm_kb = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmSize:"))
    cap = vm_kb * 1024 + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def only_reasons(call: Callable[[], object]) -> None:
    """Run `call`: success or a WeightguardError with exit 1/2/3; anything else fails."""
    try:
        call()
    except WeightguardError as err:
        assert int(err.exit_code) in (1, 2, 3), (err.code, err.message)
        assert err.code and err.one_line()


# --- values an attacker would try ----------------------------------------------------

HUGE_INT = "9" * 5000
DEEP = "[" * 5000 + "]" * 5000
_RAW = {"__HUGE__": HUGE_INT, "__NEG_HUGE__": "-" + HUGE_INT, "__DEEP__": DEEP}
ODD_STRINGS = [
    "", " ", "\n", "\x00", "\x1b[2K", "١٢", "٠:١٠", "１２", "²", "0x10", "1e999", "-0", "NaN",
    "../x", "/etc/passwd", "a/../b", "model.sig", ".git/config", "a\\b",
    "00" * 32, "FF" * 32, "00 " * 32, "zz" * 32, "0" * 4301, "a:0:10", "a:00:10", "a:١:٢",
    "sha256", "blake2b", "sha256-sharded-10", "files", "shards",
    "https://model_signing/signature/v1.0", "https://model_signing/Digests/v0.1",
    "https://in-toto.io/Statement/v1", "application/vnd.in-toto+json",
    "application/vnd.dev.sigstore.bundle.v0.3+json", "AAAA", "!!!!", "====",
    *_RAW,
]  # fmt: skip
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(ODD_STRINGS)
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=8,
)


def dump(doc: Any) -> bytes:
    """JSON bytes, with the raw markers expanded (json.dumps cannot write them itself)."""
    text = json.dumps(doc)
    for marker, raw in _RAW.items():
        text = text.replace(json.dumps(marker), raw)
    return text.encode()


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def mutate_json(data: st.DataObject, doc: Any, rounds: int = 3) -> Any:
    """Replace, delete or add values at random places of a JSON document."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, rounds))):
        path = data.draw(st.sampled_from(_paths(doc)))
        new = data.draw(JSON_VALUES)
        if not path:
            doc = new
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8))] = new
        elif action == "add" and isinstance(parent, list):
            parent.append(new)
        else:
            parent[path[-1]] = new
    return doc


def mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    """Flip, insert, delete or truncate bytes."""
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        if not buf:
            break
        at = data.draw(st.integers(0, len(buf) - 1))
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if kind == "flip":
            buf[at] ^= data.draw(st.integers(1, 255))
        elif kind == "insert":
            buf[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del buf[at]
        else:
            del buf[at:]
    return bytes(buf)


# --- fixtures: real signed material --------------------------------------------------

STATEMENT_FILES = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "m", "digest": {"sha256": ""}}],
    "predicateType": "https://model_signing/signature/v1.0",
    "predicate": {
        "resources": [
            {"name": "a.bin", "algorithm": "sha256", "digest": "ab" * 32},
            {"name": "d/b.json", "algorithm": "sha256", "digest": "cd" * 32},
        ],
        "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                          "ignore_paths": [".git"]},
    },
}  # fmt: skip


def _with_root(stmt: dict[str, Any]) -> dict[str, Any]:
    from weightguard.manifest import Resource, root_digest

    res = [Resource(r["name"], r["algorithm"], r["digest"]) for r in stmt["predicate"]["resources"]]
    stmt["subject"][0]["digest"]["sha256"] = root_digest(res)
    return stmt


def shards_statement() -> dict[str, Any]:
    stmt = json.loads(json.dumps(STATEMENT_FILES))
    stmt["predicate"]["serialization"] = {
        "method": "shards", "hash_type": "sha256", "shard_size": 10, "allow_symlinks": False,
        "ignore_paths": [],
    }  # fmt: skip
    stmt["predicate"]["resources"] = [
        {"name": "a.bin:0:10", "algorithm": "sha256-sharded-10", "digest": "ab" * 32},
        {"name": "a.bin:10:15", "algorithm": "sha256-sharded-10", "digest": "cd" * 32},
    ]
    return _with_root(stmt)


@pytest.fixture(scope="module")
def signer() -> tuple[EcKeySigner, EcKeyVerifier]:
    key = ck.new_key()
    return EcKeySigner(key), EcKeyVerifier([key.public_key()])


def parse_all(raw: bytes) -> None:
    """What every verification does with bundle bytes, before and after the crypto."""
    bundle = parse_bundle(raw)
    stmt = parse_statement(bundle.envelope.payload)
    manifest_from_statement(stmt)


# --- explicit regressions (each crashed or was accepted before the fix) --------------


@pytest.mark.parametrize(
    "payload",
    [
        b'{"_type": ' + HUGE_INT.encode() + b"}",
        dump({**STATEMENT_FILES, "predicate": {"serialization": {"shard_size": "__HUGE__"}}}),
        dump(shards_statement()).replace(b"a.bin:10:15", b"a.bin:10:" + HUGE_INT.encode()),
        DEEP.encode(),
    ],
    ids=["huge-int", "huge-shard-size", "huge-shard-offset", "deep"],
)
def test_bundle_and_statement_regressions(payload: bytes) -> None:
    only_reasons(lambda: parse_bundle(payload))
    only_reasons(lambda: manifest_from_statement(parse_statement(payload)))


@pytest.mark.parametrize(
    ("old", "new"),
    [("a.bin:10:15", "a.bin:١٠:١٥"), ("a.bin:0:10", "a.bin:00:10"), ("a.bin:10:15", "a.bin:10:²")],
    ids=["arabic-indic-digits", "leading-zero", "superscript"],
)
def test_shard_offsets_are_canonical_ascii(old: str, new: str) -> None:
    stmt = shards_statement()
    for r in stmt["predicate"]["resources"]:
        r["name"] = r["name"].replace(old, new)
    with pytest.raises(WeightguardError) as info:
        manifest_from_statement(parse_statement(encode_statement(_with_root(stmt))))
    assert info.value.code == "manifest.bad_name"


@pytest.mark.parametrize("digest", ["zz" * 32, "ab" * 31, "ab cd" + "ef" * 30])
def test_non_hex_digests_are_refused(digest: str) -> None:
    legacy = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a.bin", "digest": {"sha256": digest}}],
        "predicateType": "https://model_signing/Digests/v0.1",
        "predicate": {},
    }
    with pytest.raises(WeightguardError) as info:
        manifest_from_statement(parse_statement(encode_statement(legacy)))
    assert info.value.code == "statement.malformed"
    stmt = json.loads(json.dumps(STATEMENT_FILES))
    stmt["predicate"]["resources"][0]["digest"] = digest  # checked before the root digest
    with pytest.raises(WeightguardError) as info:
        manifest_from_statement(parse_statement(encode_statement(stmt)))
    assert info.value.code == "statement.malformed"


@pytest.mark.parametrize("text", [HUGE_INT, "1." + HUGE_INT, "١.٢", "1.2\n", "1" + ".1" * 40])
def test_odd_versions_are_not_versions(text: str) -> None:
    assert parse_version(text) is None


POLICY_HEAD = "apiVersion: weightguard.dev/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n"


@pytest.mark.parametrize(
    "body",
    [
        f"  mode: {HUGE_INT}\n",
        "  mode: " + "[" * 5000 + "]" * 5000 + "\n",
        "  mode: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "  mode: !!binary '!!!!'\n",
        "  mode: 1e999999\n",
        "  mode: 0x" + "f" * 5000 + "\n",
    ],
    ids=["huge-int", "deep-list", "deep-map", "bad-binary", "huge-float", "huge-hex"],
)
def test_policy_yaml_regressions(body: str) -> None:
    policy, problems = parse_policy((POLICY_HEAD + body).encode(), "policy.yaml")
    assert policy is None and problems


def test_policy_yaml_nesting_is_refused_while_scanning() -> None:
    """PyYAML's scanner is quadratic in flow depth: before the fix 2000 nested `[` took
    ~8 s on this machine, and a 1 MiB file of them would hold the gate for many minutes."""
    body = "  mode: " + "[" * (1000 * 1000 - 200)
    start = time.monotonic()
    policy, problems = parse_policy((POLICY_HEAD + body).encode(), "policy.yaml")
    assert policy is None and problems[0].code == "policy.yaml_syntax"
    assert time.monotonic() - start < 5


# --- fuzzers ---------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_fuzz_bundle_json(data: st.DataObject) -> None:
    base = json.loads(
        encode_bundle({"publicKey": {"hint": "ab" * 32}}, dump(STATEMENT_FILES), b"s")
    )
    only_reasons(lambda: parse_all(dump(mutate_json(data, base))))


@FUZZ
@given(data=st.data())
def test_fuzz_bundle_bytes(data: st.DataObject) -> None:
    raw = encode_bundle({"publicKey": {"hint": "ab" * 32}}, dump(STATEMENT_FILES), b"s")
    only_reasons(lambda: parse_all(mutate_bytes(data, raw)))


@FUZZ
@given(data=st.data(), shards=st.booleans())
def test_fuzz_statement(data: st.DataObject, shards: bool) -> None:
    base = shards_statement() if shards else _with_root(json.loads(json.dumps(STATEMENT_FILES)))
    payload = dump(mutate_json(data, base))
    only_reasons(lambda: manifest_from_statement(parse_statement(payload)))


@FUZZ
@given(data=st.data())
def test_fuzz_signed_bundle_through_verifier(
    signer: tuple[EcKeySigner, EcKeyVerifier], data: st.DataObject
) -> None:
    """A *validly signed* mutated statement: the parser after the crypto sees it all."""
    payload = dump(mutate_json(data, _with_root(json.loads(json.dumps(STATEMENT_FILES)))))
    raw = signer[0].sign_payload(payload)

    def verify() -> None:
        bundle = parse_bundle(raw)
        signer[1].verify_bundle(bundle)
        manifest_from_statement(parse_statement(bundle.envelope.payload))

    only_reasons(verify)


POLICY = (
    POLICY_HEAD
    + """  mode: enforce
  allowOverrides: false
  unmatchedFiles: deny
  signers:
    a: {key: {publicKey: trust/a.pub.pem, keyId: "sha256:%s"}}
    s: {sigstore: {identity: {exact: me@x.test}, issuer: {exact: "https://x.test"}}}
  rules:
  - name: all
    paths: ["**/*.safetensors", "*.json"]
    signatures: {anyOf: [a], threshold: 1}
    formats: {allow: [safetensors, json]}
    rollback: {minVersion: "1.2"}
  exceptions:
  - {paths: [README.md], waive: [signatures], reason: r, expires: "2999-01-01"}
"""
    % ("ab" * 32)
)


@SLOW_FUZZ
@given(data=st.data())
def test_fuzz_policy_yaml(data: st.DataObject) -> None:
    lines = POLICY.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["value", "drop", "dup", "bytes"]))
        if kind == "value" and ":" in lines[i]:
            head = lines[i].split(":", 1)[0]
            value = data.draw(
                st.sampled_from([*ODD_STRINGS, *_RAW.values()]) | st.text(max_size=10)
            )
            lines[i] = f"{head}: {value}\n"
        elif kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = mutate_bytes(data, lines[i].encode()).decode("utf-8", "replace")
        if not lines:
            break
    raw = "".join(lines).encode()
    only_reasons(lambda: parse_policy(raw, "policy.yaml"))


# --- certificates ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    root = ck.root_ca()
    key = ck.new_key()
    san = x509.SubjectAlternativeName([x509.RFC822Name("me@x.test")])
    issuer = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), b"\x0c\x0ehttps://x.test"
    )
    leaf = ck.issue("leaf", key, root, ca=False, usage=ck.key_usage(), eku=ck.CODE_SIGNING,
                    extra=[san, issuer])  # fmt: skip
    return {"root": root, "key": key, "leaf": leaf}


def _x509_bundle(key: Any, chain: list[bytes]) -> bytes:
    material = {
        "x509CertificateChain": {
            "certificates": [{"rawBytes": base64.b64encode(d).decode()} for d in chain]
        },
        "tlogEntries": [],
    }
    payload = dump(_with_root(json.loads(json.dumps(STATEMENT_FILES))))
    return encode_bundle(material, payload, EcKeySigner(key).sign_pae(payload))


@SLOW_FUZZ
@given(data=st.data(), resign=st.booleans())
def test_fuzz_certificate_chain(pki: dict[str, Any], data: st.DataObject, resign: bool) -> None:
    """Mutated leaf DER; with `resign`, the mutated TBS is signed again by the trusted
    root, so the verifier gets past the signature check into the lazily parsed fields."""
    from weightguard.signing.identity import IdentityPolicy, Matcher
    from weightguard.signing.x509 import CertificateVerifier

    leaf_der = ck.der(pki["leaf"])
    if resign:
        tbs, alg = ck.split(leaf_der)
        der = ck.resign(mutate_bytes(data, tbs), alg, pki["root"][1])
    else:
        der = mutate_bytes(data, leaf_der)
    raw = _x509_bundle(pki["key"], [der])
    verifier = CertificateVerifier([pki["root"][0]])
    only_reasons(lambda: verifier.verify_bundle(parse_bundle(raw)))
    policy = IdentityPolicy(Matcher.exact("me@x.test"), Matcher.exact("https://x.test"))
    with contextlib.suppress(ValueError):  # not even a certificate: nothing to check
        cert = x509.load_der_x509_certificate(der)
        only_reasons(lambda: policy.check_certificate(cert))


@pytest.fixture(scope="module")
def keyless() -> Any:
    pytest.importorskip("sigstore")
    from weightguard.signing.identity import IdentityPolicy, Matcher
    from weightguard.signing.sigstore import SigstoreVerifier
    from weightguard.signing.trust_root import TrustRoot

    policy = IdentityPolicy(Matcher.exact("me@x.test"), Matcher.exact("https://x.test"))
    return SigstoreVerifier(policy, TrustRoot.embedded("production"))


def _keyless_doc(pki: dict[str, Any]) -> dict[str, Any]:
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    payload = dump(_with_root(json.loads(json.dumps(STATEMENT_FILES))))
    doc = json.loads(encode_bundle({"certificate": {"rawBytes": b64(ck.der(pki["leaf"]))}},
                                   payload, EcKeySigner(pki["key"]).sign_pae(payload)))  # fmt: skip
    doc["verificationMaterial"]["tlogEntries"] = [
        {
            "logIndex": "12345",
            "logId": {"keyId": b64(b"\x01" * 32)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": "1700000000",
            "inclusionPromise": {"signedEntryTimestamp": b64(b"\x02" * 70)},
            "canonicalizedBody": b64(b'{"kind": "dsse"}'),
        }
    ]
    return doc


@SLOW_FUZZ
@given(data=st.data())
def test_fuzz_keyless_bundle(pki: dict[str, Any], keyless: Any, data: st.DataObject) -> None:
    raw = dump(mutate_json(data, _keyless_doc(pki)))
    only_reasons(lambda: keyless.verify_bundle(parse_bundle(raw)))


@SLOW_FUZZ
@given(data=st.data())
def test_fuzz_keyless_certificate(pki: dict[str, Any], keyless: Any, data: st.DataObject) -> None:
    doc = _keyless_doc(pki)
    tbs, alg = ck.split(ck.der(pki["leaf"]))
    der = ck.resign(mutate_bytes(data, tbs), alg, pki["root"][1])
    doc["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(der).decode()
    only_reasons(lambda: keyless.verify_bundle(parse_bundle(dump(doc))))


def test_field_paths_take_ascii_indexes_only() -> None:
    """`where:` paths index lists by digits: "²".isdigit() is true but int("²") raised."""
    from weightguard.policy.values import FieldConstraint

    assert FieldConstraint("a.²", None, 1).check({"a": [1, 2]}) == (False, "absent")
    assert FieldConstraint("a.1", None, 2).check({"a": [1, 2]}) == (True, "2")


@SLOW_FUZZ
@given(data=st.data())
def test_fuzz_sigstore_trusted_root(data: st.DataObject, tmp_path_factory: Any) -> None:
    """A policy's `trustedRoot:` file (or --sigstore-trusted-root): config, exit 2 at most."""
    pytest.importorskip("sigstore")
    from weightguard.signing.trust_root import TrustRoot

    base = json.loads(TrustRoot.embedded("production").path.read_bytes())
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    path.write_bytes(dump(mutate_json(data, base)))

    def load() -> None:
        root = TrustRoot.from_file(path)
        root.describe()
        root.sigstore_trusted_root()

    only_reasons(load)


def test_trusted_root_with_odd_shapes(tmp_path: Path) -> None:
    """`publicKey` as a string made describe() raise AttributeError (exit 4)."""
    pytest.importorskip("sigstore")
    from weightguard.signing.trust_root import TrustRoot

    base = json.loads(TrustRoot.embedded("production").path.read_bytes())
    base["tlogs"][0]["publicKey"] = "not an object"
    path = tmp_path / "trusted_root.json"
    path.write_bytes(json.dumps(base).encode())
    only_reasons(lambda: TrustRoot.from_file(path).describe())
