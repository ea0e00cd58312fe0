"""Strict policy parsing: every error class is a configuration error (exit 2) naming the
file, the line and the key path; `lint` lists every problem at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.unit.policy.kit import Kit, make_kit
from weightguard.errors import ConfigError, ExitCode
from weightguard.policy import PolicyError, load_policy, parse_policy
from weightguard.policy._yaml import YamlProblem, load_yaml
from weightguard.policy.globs import GlobError, PathPattern


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("schema-kit"))


HEAD = "apiVersion: weightguard.dev/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n"
RULE = "  rules:\n  - name: r\n    paths: ['**']\n    signatures: {anyOf: [a]}\n"


def signer_block(kit: Kit, base: Path) -> str:
    (base / "a.pub").write_bytes((kit.keys / "team-a.pub.pem").read_bytes())
    return f'  signers:\n    a: {{key: {{publicKey: a.pub, keyId: "{kit.key_id("team-a")}"}}}}\n'


# (id, policy text after HEAD with {signers} placeholder, code, line, key fragment)
CASES = [
    ("yaml-syntax", "{signers}  rules: [\n", "policy.yaml_syntax", 0, ""),
    (
        "duplicate-key",
        "{signers}  mode: warn\n  mode: enforce\n" + RULE,
        "policy.yaml_syntax",
        8,
        "",
    ),
    (
        "unknown-top-key",
        "{signers}" + RULE + "  colour: blue\n",
        "policy.unknown_key",
        11,
        "spec.colour",
    ),
    (
        "unknown-rule-key",
        "{signers}" + RULE + "    sigantures: {anyOf: [a]}\n",
        "policy.unknown_key",
        11,
        "spec.rules[0].sigantures",
    ),
    (
        "wrong-type",
        "{signers}  allowOverrides: 'yes'\n" + RULE,
        "policy.wrong_type",
        7,
        "spec.allowOverrides",
    ),
    ("bad-mode", "{signers}  mode: strict\n" + RULE, "policy.bad_value", 7, "spec.mode"),
    ("missing-rules", "{signers}", "policy.missing_key", 5, "spec.rules"),
    (
        "missing-signatures",
        "{signers}  rules:\n  - {name: r, paths: ['**']}\n",
        "policy.missing_key",
        8,
        "spec.rules[0].signatures",
    ),
    (
        "undefined-signer",
        "{signers}  rules:\n  - name: r\n    paths: ['**']\n    signatures: {anyOf: [b]}\n",
        "policy.undefined_signer",
        10,
        "spec.rules[0].signatures.anyOf",
    ),
    (
        "trust-unreadable",
        '  signers:\n    a: {key: {publicKey: nowhere.pub, keyId: "sha256:'
        + "0" * 64
        + '"}}\n'
        + RULE,
        "policy.trust_unreadable",
        6,
        "spec.signers.a.key.publicKey",
    ),
    (
        "key-id-mismatch",
        '  signers:\n    a: {key: {publicKey: a.pub, keyId: "sha256:' + "0" * 64 + '"}}\n' + RULE,
        "policy.key_id_mismatch",
        6,
        "spec.signers.a.key.keyId",
    ),
    (
        "key-id-missing",
        "  signers:\n    a: {key: {publicKey: a.pub}}\n" + RULE,
        "policy.missing_key",
        6,
        "spec.signers.a.key.keyId",
    ),
    (
        "bad-exception-date",
        "{signers}"
        + RULE
        + "  exceptions:\n  - {paths: ['x'], checks: [formats], reason: old, expires: '2020-13-01'}\n",
        "policy.bad_value",
        12,
        "spec.exceptions[0].expires",
    ),
    (
        "exception-without-reason",
        "{signers}"
        + RULE
        + "  exceptions:\n  - {paths: ['x'], checks: [formats], expires: '2099-01-01'}\n",
        "policy.missing_key",
        12,
        "spec.exceptions[0].reason",
    ),
    (
        "deny-not-exceptable",
        "{signers}"
        + RULE
        + "  exceptions:\n  - {paths: ['x'], checks: [deny], reason: r, expires: '2099-01-01'}\n",
        "policy.bad_value",
        12,
        "spec.exceptions[0].checks",
    ),
    (
        "bad-glob",
        "{signers}  rules:\n  - name: r\n    paths: ['../up']\n    signatures: none\n",
        "policy.bad_glob",
        9,
        "spec.rules[0].paths[0]",
    ),
    (
        "bad-glob-double-star",
        "{signers}  rules:\n  - name: r\n    paths: ['a**b']\n    signatures: none\n",
        "policy.bad_glob",
        9,
        "spec.rules[0].paths[0]",
    ),
    (
        "unknown-format",
        "{signers}" + RULE + "    formats: {allow: [safetensor]}\n",
        "policy.unknown_format",
        11,
        "spec.rules[0].formats.allow",
    ),
    ("unsupported-version", "", "policy.unsupported_version", 1, "apiVersion"),
    (
        "unquoted-version",
        "{signers}  rollback: {minVersion: 2.3}\n" + RULE,
        "policy.wrong_type",
        7,
        "spec.rollback.minVersion",
    ),
    (
        "threshold-too-high",
        "{signers}  rules:\n  - name: r\n    paths: ['**']\n    signatures: {threshold: 2, of: [a]}\n",
        "policy.bad_value",
        10,
        "spec.rules[0].signatures.threshold",
    ),
    (
        "two-combinators",
        "{signers}  rules:\n  - name: r\n    paths: ['**']\n    signatures: {anyOf: [a], allOf: [a]}\n",
        "policy.bad_value",
        10,
        "spec.rules[0].signatures",
    ),
    (
        "duplicate-rule-name",
        "{signers}" + RULE + "  - name: r\n    paths: ['x']\n    signatures: none\n",
        "policy.duplicate",
        11,
        "spec.rules[1].name",
    ),
    (
        "pin-outside-rule",
        "{signers}  rules:\n  - name: r\n    paths: ['*.bin']\n    signatures: none\n    digests: {a.json: 'sha256:"
        + "0" * 64
        + "'}\n",
        "policy.bad_value",
        11,
        "spec.rules[0].digests.a.json",
    ),
    (
        "sigstore-without-issuer",
        "  signers:\n    ci: {sigstore: {identity: x@y}}\n  rules:\n  - {name: r, paths: ['**'], signatures: {anyOf: [ci]}}\n",
        "policy.bad_value",
        6,
        "",
    ),
    (
        "merge-key",
        "{signers}  base: &b {mode: warn}\n  <<: *b\n" + RULE,
        "policy.yaml_syntax",
        0,
        "",
    ),
    (
        "undefined-rule-in-exception",
        "{signers}"
        + RULE
        + "  exceptions:\n  - {rules: [nope], checks: [formats], reason: r, expires: '2099-01-01'}\n",
        "policy.undefined_rule",
        12,
        "spec.exceptions[0].rules",
    ),
    (
        "scan-allow-known-primitive",
        "{signers}" + RULE + "    scan: {allow: [{name: os.system, reason: 'no'}]}\n",
        "policy.bad_value",
        11,
        "spec.rules[0].scan.allow[0]",
    ),
    (
        "scan-allow-without-reason",
        "{signers}" + RULE + "    scan: {allow: [{name: a.B}]}\n",
        "policy.missing_key",
        11,
        "spec.rules[0].scan.allow[0].reason",
    ),
    (
        "scan-unknown-profile",
        "{signers}" + RULE + "    scan: {profiles: [torch, keras]}\n",
        "policy.bad_value",
        11,
        "spec.rules[0].scan.profiles",
    ),
    (
        "scan-attestation-without-signers",
        "{signers}" + RULE + "    scan: {source: attestation}\n",
        "policy.missing_key",
        11,
        "spec.rules[0].scan.signers",
    ),
]


@pytest.mark.parametrize(("case", "body", "code", "line", "key"), CASES, ids=[c[0] for c in CASES])
def test_malformed_policy(
    kit: Kit, tmp_path: Path, case: str, body: str, code: str, line: int, key: str
) -> None:
    text = HEAD + body.replace("{signers}", signer_block(kit, tmp_path))
    if case == "unsupported-version":
        text = (
            text.replace("weightguard.dev/v1", "weightguard.dev/v1alpha1")
            + signer_block(kit, tmp_path)
            + RULE
        )
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert err.value.exit_code == ExitCode.USAGE == 2
    assert isinstance(err.value, ConfigError)
    problems = err.value.problems
    match = [p for p in problems if p.code == code]
    assert match, [str(p) for p in problems]
    if line:
        assert match[0].line == line, str(match[0])
    if key:
        assert match[0].key == key or key in match[0].message, str(match[0])
    # The one-line error names the file (and line) and the problem.
    assert str(path) in err.value.one_line()


def test_every_problem_is_listed(kit: Kit, tmp_path: Path) -> None:
    text = (
        HEAD
        + signer_block(kit, tmp_path)
        + (
            "  mode: strict\n  colour: blue\n  rules:\n"
            "  - {name: r, paths: ['/abs'], signatures: {anyOf: [nobody]}, formats: {allow: [gif]}}\n"
        )
    )
    policy, problems = parse_policy(text.encode(), str(tmp_path / "p.yaml"))
    assert policy is None
    assert {p.code for p in problems} >= {
        "policy.bad_value",
        "policy.unknown_key",
        "policy.bad_glob",
        "policy.undefined_signer",
        "policy.unknown_format",
    }
    assert all(p.line > 0 for p in problems)


def test_policy_digest_is_of_the_file_bytes(kit: Kit, tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "p.yaml"
    path.write_text(HEAD + signer_block(kit, tmp_path) + RULE)
    assert load_policy(path).digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_exception_expiry_is_end_of_day_utc(kit: Kit, tmp_path: Path) -> None:
    text = (
        HEAD
        + signer_block(kit, tmp_path)
        + RULE
        + (
            "  exceptions:\n  - {paths: ['x'], checks: [formats], reason: r, expires: '2030-05-01'}\n"
        )
    )
    # An expired exception is no policy error (it stops applying: evaluate warns).
    policy, problems = parse_policy(text.encode(), str(tmp_path / "p.yaml"))
    assert policy is not None and not problems
    assert policy.exceptions[0].expires == dt.datetime(2030, 5, 2, tzinfo=dt.timezone.utc)


def test_duplicate_signer_key_refused(kit: Kit, tmp_path: Path) -> None:
    (tmp_path / "a.pub").write_bytes((kit.keys / "team-a.pub.pem").read_bytes())
    kid = kit.key_id("team-a")
    text = (
        HEAD
        + (
            f'  signers:\n    a: {{key: {{publicKey: a.pub, keyId: "{kid}"}}}}\n'
            f'    b: {{key: {{publicKey: a.pub, keyId: "{kid}"}}}}\n'
        )
        + RULE
    )
    _, problems = parse_policy(text.encode(), str(tmp_path / "p.yaml"))
    assert [p.code for p in problems] == ["policy.duplicate"]


def test_unreadable_or_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(tmp_path / "absent.yaml")
    assert err.value.code == "policy.unreadable"


def test_yaml_loader_refuses_what_pyyaml_accepts() -> None:
    with pytest.raises(YamlProblem, match="duplicate key"):
        load_yaml("a: 1\na: 2\n")
    with pytest.raises(YamlProblem, match="syntax"):
        load_yaml("a: 1\n---\nb: 2\n")
    with pytest.raises(YamlProblem, match="cannot read value"):
        load_yaml("a: !!python/object:os.system x\n")
    with pytest.raises(YamlProblem, match="keys must be strings"):
        load_yaml("1: a\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh")
    )
    with pytest.raises(YamlProblem, match="too large"):
        load_yaml(bomb)
    doc = load_yaml("when: 2026-01-01\nx:\n  y: [1, 2]\n")
    assert doc["when"] == "2026-01-01"  # dates stay strings
    assert doc.key_lines == {"when": 1, "x": 2}
    assert doc["x"].key_lines == {"y": 3}


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**", "a/b/c", True),
        ("**/*.bin", "w.bin", True),
        ("**/*.bin", "a/b/w.bin", True),
        ("*.bin", "a/w.bin", False),
        ("*", ".hidden", True),
        ("**/*.safetensors", ".cache/x.safetensors", True),
        ("a/**", "a/b/c", True),
        ("a/**", "ab/c", False),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("my model/w ?.bin", "my model/w 1.bin", True),
        ("模型/*.safetensors", "模型/权重.safetensors", True),
        ("[!a]*.bin", "a.bin", False),
        ("[!a]*.bin", "b.bin", True),
        ("x.bin", "x.bin", True),
        ("x.bin", "dir/x.bin", False),
        ("*.bin", "x.bin\n", False),
    ],
)
def test_glob_semantics(pattern: str, path: str, matches: bool) -> None:
    assert PathPattern.parse(pattern).matches(path) is matches


@pytest.mark.parametrize("bad", ["", "/abs", "a//b", "./a", "a/../b", "a\\b", "a**", "[abc", "[]"])
def test_glob_refusals(bad: str) -> None:
    with pytest.raises(GlobError):
        PathPattern.parse(bad)
