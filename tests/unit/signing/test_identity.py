"""IdentityPolicy: matchers, Fulcio certificate facts, time window, and from_dict errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from weightguard.errors import ConfigError, SignatureError
from weightguard.signing.identity import (
    EXTENSIONS,
    IdentityPolicy,
    Matcher,
    certificate_facts,
    extension_name,
)

WORKFLOW = "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.2.0"
GH_ISSUER = "https://token.actions.githubusercontent.com"
UTC = dt.timezone.utc
DATA = Path(__file__).resolve().parents[2] / "data" / "sigstore"


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    if len(raw) < 128:
        return bytes([0x0C, len(raw)]) + raw
    n = len(raw).to_bytes((len(raw).bit_length() + 7) // 8, "big")
    return bytes([0x0C, 0x80 | len(n)]) + n + raw


def fulcio_cert(
    san: x509.GeneralName,
    *,
    issuer_v1: str | None = GH_ISSUER,
    issuer_v2: str | None = GH_ISSUER,
    extensions: dict[str, str] | None = None,
) -> x509.Certificate:
    """A real certificate shaped like a Fulcio leaf (self-signed: only the facts matter)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([san]), critical=True)
    )
    base = "1.3.6.1.4.1.57264.1."
    if issuer_v1 is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(base + "1"), issuer_v1.encode()),
            critical=False,
        )
    if issuer_v2 is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(base + "8"), _der_utf8(issuer_v2)),
            critical=False,
        )
    for ext_name, value in (extensions or {}).items():
        suffix = EXTENSIONS[ext_name]
        raw = value.encode() if suffix < 8 else _der_utf8(value)
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{base}{suffix}"), raw),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256())


# ---- matchers ------------------------------------------------------------------------------


def test_exact_matches_only_the_whole_string() -> None:
    m = Matcher.exact(WORKFLOW)
    assert m.matches(WORKFLOW)
    assert not m.matches(WORKFLOW + "x")
    assert not m.matches(WORKFLOW.upper())


def test_glob_star_stays_within_a_path_segment() -> None:
    tags = Matcher.glob("https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v*")
    assert tags.matches(WORKFLOW)
    assert not tags.matches(WORKFLOW.replace("v1.2.0", "v1/../../evil"))
    crossing = Matcher.glob("https://github.com/acme/*")
    assert not crossing.matches(WORKFLOW)  # would need `*` to cross `/`
    assert crossing.matches("https://github.com/acme/models")
    assert Matcher.glob("*@acme.com").matches("alice@acme.com")
    assert not Matcher.glob("*@acme.com").matches("alice@acme.com.evil.org")


def test_glob_treats_everything_but_star_literally() -> None:
    m = Matcher.glob("https://x.test/a?b[c].*")
    assert m.matches("https://x.test/a?b[c].yml")
    assert not m.matches("https://x.test/aXb[c].yml")
    assert not Matcher.glob("a.b").matches("aXb")


def test_double_star_glob_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\*\*"):
        Matcher.glob("https://github.com/acme/**")


def test_regex_is_anchored_at_both_ends() -> None:
    m = Matcher.regex(
        r"https://github\.com/acme/[^/]+/\.github/workflows/release\.yml@refs/tags/v.*"
    )
    assert m.matches(WORKFLOW)
    assert not m.matches("https://evil.test/?" + WORKFLOW)
    assert not Matcher.regex("acme").matches("acme-evil")
    assert not Matcher.regex("a|b").matches("ab")


@pytest.mark.parametrize(
    ("kind", "pattern"), [("regex", "("), ("exact", ""), ("glob", ""), ("fuzzy", "x")]
)
def test_bad_matchers_are_config_errors(kind: str, pattern: str) -> None:
    with pytest.raises(ConfigError):
        Matcher(kind, pattern)


@given(
    prefix=st.text(alphabet="ab/", max_size=6),
    middle=st.text(alphabet="ab/.", max_size=8),
    suffix=st.text(alphabet="ab/", max_size=6),
)
def test_glob_star_never_matches_a_slash(prefix: str, middle: str, suffix: str) -> None:
    m = Matcher.glob(f"{prefix}*{suffix}")
    assert m.matches(prefix + middle + suffix) == ("/" not in middle)


# ---- certificate facts and policy checks ------------------------------------------------------


def test_facts_decode_sans_issuer_and_extensions() -> None:
    cert = fulcio_cert(
        x509.UniformResourceIdentifier(WORKFLOW),
        extensions={
            "sourceRepositoryURI": "https://github.com/acme/models",
            "githubWorkflowTrigger": "push",
            "buildConfigURI": "https://github.com/acme/models/" + "x" * 200,  # long DER length
        },
    )
    facts = certificate_facts(cert)
    assert facts.sans == (WORKFLOW,)
    assert facts.issuer == GH_ISSUER
    assert facts.extensions["sourceRepositoryURI"] == "https://github.com/acme/models"
    assert facts.extensions["githubWorkflowTrigger"] == "push"
    assert facts.extensions["buildConfigURI"].endswith("x" * 200)


def test_issuer_from_either_extension_but_never_two_different() -> None:
    only_v1 = fulcio_cert(x509.RFC822Name("a@b.test"), issuer_v2=None)
    only_v2 = fulcio_cert(x509.RFC822Name("a@b.test"), issuer_v1=None)
    assert certificate_facts(only_v1).issuer == GH_ISSUER
    assert certificate_facts(only_v2).issuer == GH_ISSUER
    both = fulcio_cert(x509.RFC822Name("a@b.test"), issuer_v1="https://evil.test")
    with pytest.raises(SignatureError) as err:
        certificate_facts(both)
    assert err.value.code == "cert.inconsistent_issuer"


def test_policy_accepts_and_rejects_with_distinct_codes() -> None:
    cert = fulcio_cert(
        x509.UniformResourceIdentifier(WORKFLOW),
        extensions={"sourceRepositoryURI": "https://github.com/acme/models"},
    )
    ok = IdentityPolicy.create(
        WORKFLOW, GH_ISSUER, extensions={"sourceRepositoryURI": "https://github.com/acme/models"}
    )
    assert ok.check_certificate(cert).sans == (WORKFLOW,)
    cases = {
        "signer.identity_mismatch": IdentityPolicy.create(
            "https://github.com/acme/other", GH_ISSUER
        ),
        "signer.issuer_mismatch": IdentityPolicy.create(WORKFLOW, "https://accounts.google.com"),
        "signer.extension_mismatch": IdentityPolicy.create(
            WORKFLOW, GH_ISSUER, extensions={"sourceRepositoryURI": "https://github.com/acme/evil"}
        ),
    }
    for code, policy in cases.items():
        with pytest.raises(SignatureError) as err:
            policy.check_certificate(cert)
        assert err.value.code == code
    crossing = IdentityPolicy.create(Matcher.glob("https://github.com/acme/*"), GH_ISSUER)
    with pytest.raises(SignatureError) as err:
        crossing.check_certificate(cert)
    assert err.value.code == "signer.identity_mismatch"


def test_missing_extension_fails() -> None:
    cert = fulcio_cert(x509.RFC822Name("a@b.test"))
    policy = IdentityPolicy.create("a@b.test", GH_ISSUER, extensions={"buildTrigger": "push"})
    with pytest.raises(SignatureError, match="absent") as err:
        policy.check_certificate(cert)
    assert err.value.code == "signer.extension_mismatch"


def test_certificate_without_issuer_is_rejected() -> None:
    cert = fulcio_cert(x509.RFC822Name("a@b.test"), issuer_v1=None, issuer_v2=None)
    with pytest.raises(SignatureError) as err:
        IdentityPolicy.create("a@b.test", GH_ISSUER).check_certificate(cert)
    assert err.value.code == "signer.issuer_mismatch"


def test_real_github_actions_certificate_extensions() -> None:
    """sigstore-python's bundle_v3_github: the extension values from its README."""
    doc = json.loads(
        (DATA / "sigstore-python/bundle_v3_github.whl.sigstore").read_text()
    )
    material = doc["verificationMaterial"]  # a v0.2 bundle: the leaf heads a chain
    der = base64.b64decode(material["x509CertificateChain"]["certificates"][0]["rawBytes"])
    cert = x509.load_der_x509_certificate(der)
    policy = IdentityPolicy.create(
        Matcher.glob(
            "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v*"
        ),
        GH_ISSUER,
        extensions={
            "sourceRepositoryURI": "https://github.com/trailofbits/rfc8785.py",
            "buildTrigger": "release",
            "githubWorkflowSHA": "d8b4a6445f38c48b9137a8099706d9b8073146e4",
            "sourceRepositoryRef": "refs/tags/v0.1.2",
        },
    )
    facts = policy.check_certificate(cert)
    assert facts.extensions["runnerEnvironment"] == "github-hosted"
    assert len(facts.extensions) == 19


# ---- verified signing times ------------------------------------------------------------------


def test_time_window_and_count() -> None:
    t = dt.datetime(2026, 6, 1, tzinfo=UTC)
    policy = IdentityPolicy.create(
        "a@b.test",
        GH_ISSUER,
        signed_after=t,
        signed_before=t + dt.timedelta(days=1),
        min_verified_times=2,
    )
    policy.check_times([t, t + dt.timedelta(hours=1)])
    with pytest.raises(SignatureError) as err:
        policy.check_times([t])
    assert err.value.code == "signature.no_verified_time"
    with pytest.raises(SignatureError) as err:
        policy.check_times([t - dt.timedelta(seconds=1), t])
    assert err.value.code == "signer.signing_time"
    with pytest.raises(SignatureError) as err:
        policy.check_times([t, t + dt.timedelta(days=2)])
    assert err.value.code == "signer.signing_time"


def test_a_verified_time_can_never_be_waived() -> None:
    with pytest.raises(ConfigError):
        IdentityPolicy.create("a@b.test", GH_ISSUER, min_verified_times=0)
    with pytest.raises(SignatureError):
        IdentityPolicy.create("a@b.test", GH_ISSUER).check_times([])


# ---- from_dict (policy files) ----------------------------------------------------------------


def test_from_dict_full() -> None:
    policy = IdentityPolicy.from_dict(
        {
            "identity": {
                "glob": "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v*"
            },
            "issuer": GH_ISSUER,
            "extensions": {
                "sourceRepositoryURI": "https://github.com/acme/models",
                "1.3.6.1.4.1.57264.1.20": {"regex": "push|release"},
            },
            "minTimestamps": 1,
            "requireTlog": True,
            "signedAfter": "2026-06-01T00:00:00Z",
            "signedBefore": dt.datetime(2027, 1, 1),  # YAML gives naive UTC datetimes
            "trustedRoot": "embedded:production",
        },
        "spec.signers.release-ci.sigstore",
        extra_keys=("trustedRoot",),
    )
    assert policy.identity == Matcher.glob(
        "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v*"
    )
    assert dict(policy.extensions)["buildTrigger"] == Matcher.regex("push|release")
    assert policy.signed_after == dt.datetime(2026, 6, 1, tzinfo=UTC)
    assert policy.signed_before == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert policy.to_json_dict()["identity"].startswith("glob:")


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"issuer": GH_ISSUER}, "s.identity"),
        ({"identity": "a@b.test"}, "s.issuer"),
        (
            {"identity": "a@b.test", "issuer": GH_ISSUER, "idenitty": "x"},
            "s: unknown key(s) idenitty",
        ),
        ({"identity": {"glob": "a", "regex": "b"}, "issuer": GH_ISSUER}, "s.identity"),
        ({"identity": {"regex": "("}, "issuer": GH_ISSUER}, "s.identity.regex"),
        ({"identity": {"glob": "a/**"}, "issuer": GH_ISSUER}, "s.identity.glob"),
        ({"identity": 5, "issuer": GH_ISSUER}, "s.identity"),
        ({"identity": "a", "issuer": GH_ISSUER, "extensions": {"nope": "x"}}, "s.extensions.nope"),
        ({"identity": "a", "issuer": GH_ISSUER, "extensions": ["x"]}, "s.extensions"),
        ({"identity": "a", "issuer": GH_ISSUER, "minTimestamps": 0}, "s.minTimestamps"),
        ({"identity": "a", "issuer": GH_ISSUER, "minTimestamps": True}, "s.minTimestamps"),
        ({"identity": "a", "issuer": GH_ISSUER, "requireTlog": False}, "s.requireTlog"),
        (
            {"identity": "a", "issuer": GH_ISSUER, "signedAfter": "2026-06-01T00:00:00"},
            "s.signedAfter",
        ),
        ({"identity": "a", "issuer": GH_ISSUER, "signedBefore": "yesterday"}, "s.signedBefore"),
        (["identity"], "s: must be a mapping"),
    ],
)
def test_from_dict_errors_name_the_key_path(raw: object, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        IdentityPolicy.from_dict(raw, "s")
    assert err.value.message.startswith(where), err.value.message


def test_extension_names() -> None:
    assert extension_name("1.3.6.1.4.1.57264.1.12") == "sourceRepositoryURI"
    with pytest.raises(ConfigError, match="known:"):
        extension_name("sourceRepoURI")
    with pytest.raises(ConfigError):
        IdentityPolicy.create(
            "a", GH_ISSUER, extensions=[("buildTrigger", "x"), ("1.3.6.1.4.1.57264.1.20", "y")]
        )
