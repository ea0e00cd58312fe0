"""Sigstore keyless: offline verification of real public bundles, the conformance corpus,
and real keyless signing against the local fake Fulcio/Rekor/OIDC stack (tests/fake_sigstore.py).
The public bundles are vendored under tests/data/sigstore (README and LICENSE there).

No network, ever: every test here runs with non-loopback sockets and DNS blocked, HOME
and the working directory pointed at an empty read-only directory that must still be
empty afterwards (sigstore's offline mode would write ~/.cache; we must not).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sigstore", reason="sigstore extra not installed")

from tests.fake_sigstore import FakeSigstore  # noqa: E402
from weightguard.api import sign, verify  # noqa: E402
from weightguard.attestation import verify_attestation_bytes  # noqa: E402
from weightguard.errors import (  # noqa: E402
    ConfigError,
    IncompleteError,
    SignatureError,
    UsageError,
    WeightguardError,
)
from weightguard.signing.ec import EcKeySigner  # noqa: E402
from weightguard.signing.identity import IdentityPolicy, Matcher  # noqa: E402
from weightguard.signing.sigstore import SigstoreSigner, SigstoreVerifier  # noqa: E402
from weightguard.signing.trust_root import TrustRoot  # noqa: E402

IBM = ("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2")
GH_ISSUER = "https://token.actions.githubusercontent.com"
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
FAKE_ISSUER = "https://idp.weightguard.test"
WORKFLOW = "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.2.0"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def offline(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Block the network, make HOME and cwd an empty read-only dir; assert nothing appears."""
    home = tmp_path_factory.mktemp("ro-home")
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if self.family != socket.AF_UNIX and host not in _LOOPBACK:
            raise OSError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            raise OSError(f"DNS blocked in tests: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    home.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield home
    home.chmod(stat.S_IRWXU)
    assert list(home.rglob("*")) == [], "verification wrote into HOME/cwd"


DATA = Path(__file__).resolve().parents[2] / "data" / "sigstore"


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


def policy(identity: str | Matcher, issuer: str, **kw: Any) -> IdentityPolicy:
    return IdentityPolicy.create(identity, issuer, **kw)


def rejected_code(call: Any) -> str:
    with pytest.raises(WeightguardError) as err:
        call()
    return err.value.code


# ---- trusted roots ------------------------------------------------------------------------------


def test_embedded_roots_are_read_from_the_sigstore_package() -> None:
    prod = TrustRoot.embedded("production")
    info = prod.describe()
    assert info["source"] == "embedded:production"
    assert "tuf-repo-cdn.sigstore.dev" in info["path"] and info["path"].endswith(
        "trusted_root.json"
    )
    assert info["sigstore_version"].startswith("4.")
    assert info["age_days"] >= 0 and info["newest_entry_start"]
    assert info["sha256"] == hashlib.sha256(Path(info["path"]).read_bytes()).hexdigest()
    assert TrustRoot.load("embedded:staging").source == "embedded:staging"
    with pytest.raises(ConfigError):
        TrustRoot.load("embedded:nightly")


def test_trust_files_of_both_forms(
    stack: FakeStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = TrustRoot.from_file(stack.trusted_root)
    config = TrustRoot.from_file(stack.trust_config)
    assert (root.form, config.form) == ("trusted_root", "client_trust_config")
    assert root.root == config.root
    bad = tmp_path_factory.mktemp("bad")
    (bad / "x.json").write_text('{"mediaType": "application/json"}')
    (bad / "y.json").write_text("{not json")
    for path in (bad / "x.json", bad / "y.json", bad / "missing.json"):
        with pytest.raises(ConfigError):
            TrustRoot.from_file(path)


def test_invalid_trusted_root_is_a_config_error(data: Path) -> None:
    trust = TrustRoot.from_file(
        data / "conformance/trust-root-tlog-missing-validity-start_fail/trusted_root.json"
    )
    with pytest.raises(ConfigError):
        SigstoreVerifier(policy(BEACON, GH_ISSUER), trust)


# ---- model-transparency keyless model signatures (production) --------------------------------------


@pytest.mark.parametrize("version", ["v1.1.0-sigstore", "v1.0.0-sigstore"])
def test_model_transparency_keyless_models_verify_offline(data: Path, version: str) -> None:
    result = verify(data / "model-transparency" / version, SigstoreVerifier(policy(*IBM)))
    assert result.accepted, result.reasons
    signer = result.signer
    assert signer is not None and signer.kind == "sigstore"
    assert signer.identity == IBM[0]
    d = signer.details
    assert d["issuer"] == IBM[1]
    assert d["log_index"] > 0 and d["tlog_entry_kind"] == "dsse/0.0.1"
    assert d["verified_time"] and d["integrated_time"]
    assert d["trusted_root"]["source"] == "embedded:production"
    sources = {t["source"] for t in d["verified_times"]}
    assert sources == (
        {"transparency_log", "timestamp_authority"}
        if version.startswith("v1.1")
        else {"transparency_log"}
    )


@pytest.mark.parametrize(
    ("pol", "code"),
    [
        (policy("eve@example.com", IBM[1]), "signer.identity_mismatch"),
        (policy(IBM[0], "https://accounts.google.com"), "signer.issuer_mismatch"),
        (policy(Matcher.glob("*@ibm.com"), IBM[1]), "signer.identity_mismatch"),
        (policy(Matcher.regex("stefanb@us"), IBM[1]), "signer.identity_mismatch"),  # anchored
        (policy(*IBM, min_verified_times=2), "signature.no_verified_time"),  # v1.0.0 has no TSA
    ],
)
def test_model_transparency_rejects_any_other_policy(
    data: Path, pol: IdentityPolicy, code: str
) -> None:
    result = verify(data / "model-transparency/v1.0.0-sigstore", SigstoreVerifier(pol))
    assert result.verdict.value == "rejected"
    assert [r.code for r in result.reasons] == [code]


def test_glob_regex_and_two_time_sources(data: Path) -> None:
    model = data / "model-transparency/v1.1.0-sigstore"
    for identity in (Matcher.glob("*@us.ibm.com"), Matcher.regex(r"[a-z]+@us\.ibm\.com")):
        assert verify(
            model, SigstoreVerifier(policy(identity, IBM[1], min_verified_times=2))
        ).accepted


def test_signed_after_rejects_older_signatures(data: Path) -> None:
    import datetime as dt

    cutoff = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)  # v1.0.0 was signed 2025-05-03
    result = verify(
        data / "model-transparency/v1.0.0-sigstore",
        SigstoreVerifier(policy(*IBM, signed_after=cutoff)),
    )
    assert [r.code for r in result.reasons] == ["signer.signing_time"]
    assert verify(
        data / "model-transparency/v1.1.0-sigstore",
        SigstoreVerifier(policy(*IBM, signed_after=cutoff)),
    ).accepted


def test_key_bundle_is_not_a_keyless_signature(tmp_path_factory: pytest.TempPathFactory) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from weightguard.bundle import parse_bundle

    raw = EcKeySigner(ec.generate_private_key(ec.SECP256R1())).sign_payload(b"{}")
    code = rejected_code(lambda: SigstoreVerifier(policy(*IBM)).verify_bundle(parse_bundle(raw)))
    assert code == "signer.kind_mismatch"


# ---- sigstore-python test assets ------------------------------------------------------------------

STAGING = "embedded:staging"
PRODUCTION = "embedded:production"
SIGSTORE_PYTHON_CASES = [
    # (artifact, bundle, trust, identity, issuer, extensions, expected code or None)
    ("bundle_v3_github.whl", "bundle_v3_github.whl.sigstore", PRODUCTION,
     "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2", GH_ISSUER,
     {"sourceRepositoryURI": "https://github.com/trailofbits/rfc8785.py", "buildTrigger": "release",
      "githubWorkflowSHA": "d8b4a6445f38c48b9137a8099706d9b8073146e4"}, None),
    ("bundle_v3_github.whl", "bundle_v3_github.whl.sigstore", PRODUCTION,
     "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2", GH_ISSUER,
     {"buildTrigger": "push"}, "signer.extension_mismatch"),
    ("bundle_v3.txt", "bundle_v3.txt.sigstore", STAGING, "william@yossarian.net", "https://github.com/login/oauth", {}, None),
    ("bundle_v3.txt", "bundle_v3.txt.sigstore", PRODUCTION, "william@yossarian.net", "https://github.com/login/oauth", {},
     "signature.untrusted_root"),
    ("bundle.txt", "bundle.txt.sigstore", STAGING, "a@tny.town", "https://github.com/login/oauth", {}, None),
    ("staging-rekor-v2.txt", "staging-rekor-v2.txt.sigstore.json", STAGING, "jku@goto.fi", "https://github.com/login/oauth", {}, None),
    ("bundle_cve_2022_36056.txt", "bundle_cve_2022_36056.txt.sigstore", STAGING, "william@yossarian.net",
     "https://github.com/login/oauth", {}, "tlog.mismatch"),
    ("bundle_v3.txt", "Python-3.12.5.tgz.sigstore", PRODUCTION, "thomas@python.org", "https://accounts.google.com", {},
     "bundle.invalid"),
]  # fmt: skip


@pytest.mark.parametrize("case", SIGSTORE_PYTHON_CASES, ids=lambda c: f"{c[1]}-{c[2]}-{c[6]}")
def test_sigstore_python_blob_bundles(data: Path, case: tuple[Any, ...]) -> None:
    artifact, bundle, trust, identity, issuer, extensions, expected = case
    base = data / "sigstore-python"
    verifier = SigstoreVerifier(
        policy(identity, issuer, extensions=extensions), TrustRoot.load(trust)
    )

    def run() -> Any:
        return verifier.verify_artifact(base / artifact, (base / bundle).read_bytes())

    if expected is None:
        info = run()
        assert info.identity == identity and info.details["issuer"] == issuer
        assert info.details["verified_time"]
    else:
        assert rejected_code(run) == expected


def test_sigstore_python_dsse_rekor_v2(data: Path) -> None:
    base = data / "sigstore-python"
    verifier = SigstoreVerifier(policy(BEACON, GH_ISSUER), TrustRoot.load(STAGING))
    att = verify_attestation_bytes(
        (base / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes(), verifier
    )
    # Its statement's subject is the conformance corpus' a.txt, not the .txt file beside it.
    assert att.subject_matches(
        "sha256", hashlib.sha256((data / "conformance/a.txt").read_bytes()).hexdigest()
    )
    assert not att.subject_matches(
        "sha256", hashlib.sha256((base / "a.dsse.staging-rekor-v2.txt").read_bytes()).hexdigest()
    )
    # Rekor v2 carries no integrated time: the verified time is the RFC 3161 timestamp.
    assert att.signer.details["integrated_time"] is None
    assert [t["source"] for t in att.signer.details["verified_times"]] == ["timestamp_authority"]


# ---- sigstore-conformance bundle-verify corpus -----------------------------------------------------

KNOWN_LIMITS = {
    "intoto-with-custom-trust-root": "Rekor `intoto` entries (and v0.2 DSSE bundles) are unsupported",
    "trust-root-tsa-validity-end-inclusive": "sigstore-python 4.5.1 treats TSA validFor.end as exclusive",
}
# Managed-key (public key, no certificate) blob bundles: weightguard's Sigstore verifier is
# keyless-only and its key verifiers read OMS (DSSE) bundles, so both cases are refused; the
# test also checks the case itself with its key.pub, so a broken vendored case cannot hide.
MANAGED_KEY = {"managed-key-happy-path", "managed-key-and-trusted-root"}


def conformance_cases() -> list[str]:
    return sorted(p.name for p in (DATA / "conformance").iterdir() if p.is_dir())


def _verify_conformance_case(case: Path) -> Any:
    ident = (case / "identity").read_text().strip() if (case / "identity").exists() else BEACON
    issuer = (case / "issuer").read_text().strip() if (case / "issuer").exists() else GH_ISSUER
    trust = (
        TrustRoot.from_file(case / "trusted_root.json")
        if (case / "trusted_root.json").exists()
        else None
    )
    artifact = case / "artifact" if (case / "artifact").exists() else case.parent / "a.txt"
    verifier = SigstoreVerifier(policy(ident, issuer), trust)
    raw = (case / "bundle.sigstore.json").read_bytes()
    try:
        is_dsse = "dsseEnvelope" in json.loads(raw)
    except ValueError:
        is_dsse = False
    if not is_dsse:
        return verifier.verify_artifact(artifact, raw)
    att = verify_attestation_bytes(raw, verifier)
    if not att.subject_matches("sha256", hashlib.sha256(artifact.read_bytes()).hexdigest()):
        raise SignatureError(
            "the artifact is not a subject of the statement", code="statement.subject"
        )
    return att.signer


def _managed_key_signature_holds(case: Path) -> None:
    """The bundle's message signature verifies over a.txt with the case's key.pub."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    doc = json.loads((case / "bundle.sigstore.json").read_bytes())
    artifact = (case.parent / "a.txt").read_bytes()
    message = doc["messageSignature"]
    assert base64.b64decode(message["messageDigest"]["digest"]) == hashlib.sha256(artifact).digest()
    key = serialization.load_pem_public_key((case / "key.pub").read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(message["signature"]), artifact, ec.ECDSA(hashes.SHA256()))
    assert "publicKey" in doc["verificationMaterial"]


def test_conformance_corpus_is_complete() -> None:
    assert len(conformance_cases()) == 70  # sigstore-conformance a73de4970176


@pytest.mark.parametrize("name", conformance_cases())
def test_conformance_case(data: Path, name: str) -> None:
    case = data / "conformance" / name
    if name in MANAGED_KEY:
        _managed_key_signature_holds(case)
        with pytest.raises(WeightguardError):
            _verify_conformance_case(case)
        return
    if name in KNOWN_LIMITS:
        with pytest.raises(WeightguardError):
            _verify_conformance_case(case)
        pytest.xfail(KNOWN_LIMITS[name])
    if name.endswith("_fail"):
        # Every failing case must be refused by a weightguard error (never accepted, never a crash).
        with pytest.raises(WeightguardError):
            _verify_conformance_case(case)
    else:
        info = _verify_conformance_case(case)
        assert info.kind == "sigstore" and info.details["verified_time"]


# ---- keyless vectors made by the real clients against the fake stack ------------------------------


@pytest.fixture(scope="module")
def fake_vectors(stack: FakeStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sigstore-python signs a blob (hashedrekord) and a SLSA statement (DSSE); model-signing
    signs a model folder: all against the fake stack, as a real user would."""
    from sigstore.dsse import StatementBuilder, Subject
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    model_signing = pytest.importorskip("model_signing")
    out = tmp_path_factory.mktemp("fake-vectors")
    blob = out / "blob" / "model.safetensors"
    blob.parent.mkdir()
    blob.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(64))
    context = SigningContext.from_trust_config(
        ClientTrustConfig.from_json(stack.trust_config.read_text())
    )
    token = IdentityToken(stack.token("release-bot@weightguard.test"))
    with context.signer(token, cache=True) as signer:
        bundle = signer.sign_artifact(blob.read_bytes())
        (out / "blob/model.safetensors.sigstore.json").write_text(bundle.to_json())
        statement = (
            StatementBuilder()
            .subjects(
                [
                    Subject(
                        name="model.safetensors",
                        digest={"sha256": hashlib.sha256(blob.read_bytes()).hexdigest()},
                    )
                ]
            )
            .predicate_type("https://slsa.dev/provenance/v1")
            .predicate({"buildDefinition": {"buildType": "https://weightguard.test/train"}})
            .build()
        )
        provenance = signer.sign_dsse(statement)
        (out / "blob/model.safetensors.provenance.sigstore.json").write_text(provenance.to_json())
    model = out / "model-dir"
    (model / "weights").mkdir(parents=True)
    (model / "config.json").write_text('{"arch": "toy"}\n')
    (model / "weights" / "model.safetensors").write_bytes(blob.read_bytes())
    (
        model_signing.signing.Config()
        .use_sigstore_signer(
            identity_token=stack.token("release-bot@weightguard.test"),
            trust_config=stack.trust_config,
        )
        .sign(model, out / "model-dir.sig")
    )
    return out


def test_fake_stack_vectors(stack: FakeStack, fake_vectors: Path) -> None:
    lf = fake_vectors
    ident = ("release-bot@weightguard.test", FAKE_ISSUER)
    verifier = SigstoreVerifier(policy(*ident), TrustRoot.from_file(stack.trust_config))
    result = verify(lf / "model-dir", verifier, signature_path=lf / "model-dir.sig")
    assert result.accepted, result.reasons
    info = verifier.verify_artifact(
        lf / "blob/model.safetensors", (lf / "blob/model.safetensors.sigstore.json").read_bytes()
    )
    assert info.details["tlog_entry_kind"] == "hashedrekord/0.0.1"
    att = verify_attestation_bytes(
        (lf / "blob/model.safetensors.provenance.sigstore.json").read_bytes(), verifier
    )
    assert att.statement.predicate_type == "https://slsa.dev/provenance/v1"
    assert att.subject_matches(
        "sha256", hashlib.sha256((lf / "blob/model.safetensors").read_bytes()).hexdigest()
    )
    prod = verify(
        lf / "model-dir", SigstoreVerifier(policy(*ident)), signature_path=lf / "model-dir.sig"
    )
    assert [r.code for r in prod.reasons] == ["signature.untrusted_root"]


# ---- real keyless signing against the local fake Fulcio / Rekor / OIDC stack ---------------------------


class FakeStack:
    """tests/fake_sigstore.py served on loopback, plus its trust files."""

    def __init__(self, workdir: Path) -> None:
        self.fake = FakeSigstore(FAKE_ISSUER).start()
        self.idp = self.fake.idp
        self.stop = self.fake.stop
        self.trust_config, self.trusted_root = self.fake.write(workdir)

    def token(self, subject: str = WORKFLOW) -> str:
        return self.fake.token(subject)

    def verifier(
        self, identity: str | Matcher = WORKFLOW, issuer: str = FAKE_ISSUER
    ) -> SigstoreVerifier:
        return SigstoreVerifier(policy(identity, issuer), TrustRoot.from_file(self.trusted_root))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeStack]:
    fake = FakeStack(tmp_path_factory.mktemp("fake-sigstore"))
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def signed_model(stack: FakeStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tmp_path_factory.mktemp("keyless") / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"\x08" + bytes(255))
    (model / "sub" / "config.json").write_text('{"arch": "toy"}\n')
    sign(model, SigstoreSigner(identity_token=stack.token(), trust_config=stack.trust_config))
    return model


def test_keyless_sign_then_verify_offline(stack: FakeStack, signed_model: Path) -> None:
    result = verify(signed_model, stack.verifier())
    assert result.accepted, result.reasons
    d = result.signer.details if result.signer else {}
    assert result.signer and result.signer.identity == WORKFLOW
    assert d["issuer"] == FAKE_ISSUER and isinstance(d["log_index"], int)
    assert d["verified_time"] == d["integrated_time"]
    assert d["trusted_root"]["form"] == "trusted_root"


def test_keyless_policy_failures_have_distinct_codes(stack: FakeStack, signed_model: Path) -> None:
    cases = {
        "signer.identity_mismatch": stack.verifier(
            "https://github.com/acme/models/.github/workflows/evil.yml@refs/tags/v1.2.0"
        ),
        "signer.issuer_mismatch": stack.verifier(
            WORKFLOW, "https://token.actions.githubusercontent.com"
        ),
        "signature.untrusted_root": SigstoreVerifier(
            policy(WORKFLOW, FAKE_ISSUER)
        ),  # production root
    }
    for code, verifier in cases.items():
        assert [r.code for r in verify(signed_model, verifier).reasons] == [code]
    crossing = verify(signed_model, stack.verifier(Matcher.glob("https://github.com/acme/*")))
    assert [r.code for r in crossing.reasons] == ["signer.identity_mismatch"]
    tags = Matcher.glob("https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v*")
    assert verify(signed_model, stack.verifier(tags)).accepted


def test_keyless_bundle_binds_files(
    stack: FakeStack, signed_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    copy = tmp_path_factory.mktemp("tamper") / "model"
    shutil.copytree(signed_model, copy)
    (copy / "sub" / "config.json").write_text('{"arch": "evil"}\n')
    result = verify(copy, stack.verifier())
    assert result.verdict.value == "rejected"
    assert any("digest" in r.code for r in result.reasons), result.reasons


def test_model_signing_interop_both_ways(
    stack: FakeStack, signed_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    model_signing = pytest.importorskip("model_signing")
    # model-signing verifies weightguard's keyless bundle...
    (
        model_signing.verifying.Config()
        .use_sigstore_verifier(
            identity=WORKFLOW, oidc_issuer=FAKE_ISSUER, trust_config=stack.trust_config
        )
        .verify(signed_model, signed_model / "model.sig")
    )
    # ...and weightguard verifies model-signing's, over the same statement as ours.
    theirs = tmp_path_factory.mktemp("ms") / "model.sig"
    (
        model_signing.signing.Config()
        .use_sigstore_signer(identity_token=stack.token(), trust_config=stack.trust_config)
        .set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]))
        .sign(signed_model, theirs)
    )
    result = verify(signed_model, stack.verifier(), signature_path=theirs)
    assert result.accepted, result.reasons
    ours_doc = json.loads((signed_model / "model.sig").read_bytes())
    theirs_doc = json.loads(theirs.read_bytes())
    # Same statement (model-signing's predicate key order varies run to run: protobuf Struct).
    ours_st, theirs_st = (
        json.loads(base64.b64decode(d["dsseEnvelope"]["payload"])) for d in (ours_doc, theirs_doc)
    )
    assert ours_st["subject"] == theirs_st["subject"]
    assert ours_st["predicateType"] == theirs_st["predicateType"]
    assert ours_st["predicate"]["resources"] == theirs_st["predicate"]["resources"]

    def shape(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: shape(v) for k, v in x.items()}
        return (
            sorted({json.dumps(shape(v)) for v in x}) if isinstance(x, list) else type(x).__name__
        )

    assert shape(
        {
            **ours_doc,
            "verificationMaterial": {**ours_doc["verificationMaterial"], "tlogEntries": []},
        }
    ) == shape(
        {
            **theirs_doc,
            "verificationMaterial": {**theirs_doc["verificationMaterial"], "tlogEntries": []},
        }
    )
    assert list(ours_doc["verificationMaterial"]["tlogEntries"][0]) == list(
        theirs_doc["verificationMaterial"]["tlogEntries"][0]
    )


def test_signer_needs_a_usable_token(stack: FakeStack, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as err:
        SigstoreSigner(trust_config=stack.trust_config, ambient=False)
    assert err.value.code == "sigstore.no_identity_token"
    with pytest.raises(ConfigError) as cerr:
        SigstoreSigner(identity_token="not-a-jwt", trust_config=stack.trust_config)
    assert cerr.value.code == "sigstore.identity_token"
    expired = stack.idp.token(WORKFLOW, lifetime_s=-60)
    with pytest.raises(ConfigError):
        SigstoreSigner(identity_token=expired, trust_config=stack.trust_config)
    with pytest.raises(UsageError):
        SigstoreSigner(identity_token=stack.token(), trust_config=stack.trust_config, staging=True)


def test_unreachable_fulcio_is_incomplete(
    stack: FakeStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctc = json.loads(stack.trust_config.read_text())
    for key in ("caUrls", "rekorTlogUrls", "oidcUrls"):
        for url in ctc["signingConfig"][key]:
            url["url"] = f"http://127.0.0.1:{port}"
    path = tmp_path_factory.mktemp("dead") / "trust_config.json"
    path.write_text(json.dumps(ctc))
    signer = SigstoreSigner(identity_token=stack.token(), trust_config=path)
    with pytest.raises(IncompleteError) as err:
        signer.sign_payload(
            b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "m", "digest": {"sha256": "00"}}], "predicateType": "x"}'
        )
    assert err.value.code == "sigstore.signing_failed"


def test_ambient_gitlab_credential(
    stack: FakeStack, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    product = Path("/sys/class/dmi/id/product_name")
    if product.exists() and "Google" in product.read_text(errors="replace"):
        pytest.skip("on GCP, ambient detection would query the metadata server first")
    for var in ("GITHUB_ACTIONS", "GOOGLE_SERVICE_ACCOUNT_NAME", "BUILDKITE", "CIRCLECI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", stack.token("ci-bot@gitlab.test"))
    model = tmp_path_factory.mktemp("ambient") / "m.bin"
    model.write_bytes(b"weights")
    sign(model, SigstoreSigner(trust_config=stack.trust_config))
    assert verify(model, stack.verifier("ci-bot@gitlab.test")).accepted
    assert os.environ["HOME"]  # still the read-only home: signing wrote nothing there either
