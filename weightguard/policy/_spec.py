"""Reading a policy document section by section into `weightguard.policy.values`.

Owns: the schema itself (which keys exist, their types and meaning) and every semantic
check a linter can make without a model: undefined signer references, globs, digests,
format names, versions, expiry of exceptions, in-toto layouts without inspections.
"""

from __future__ import annotations

from pathlib import Path

from weightguard.errors import ConfigError
from weightguard.policy import _read as r
from weightguard.policy._read import Ctx, Field
from weightguard.policy._rules import (
    DIGEST,
    Reading,
    read_patterns,
    read_rule,
    read_signer_refs,
    read_time,
)
from weightguard.policy._signers import read_signers
from weightguard.policy.values import (
    API_VERSION,
    EXCEPTABLE_CHECKS,
    KIND,
    MODES,
    DenyList,
    Policy,
    PolicyException,
    Rollback,
    Rule,
)
from weightguard.release import parse_version
from weightguard.signing.identity import Matcher

_SPEC_KEYS = (
    "mode",
    "allowOverrides",
    "unmatchedFiles",
    "allowSymlinks",
    "signers",
    "deny",
    "rollback",
    "rules",
    "exceptions",
)


def read_deny(rd: Reading, f: Field) -> DenyList:
    d = r.mapping(
        rd.ctx,
        f.value,
        f.key,
        f.line,
        optional=("digests", "signers", "keyIds", "identities"),
    )
    if d is None:
        return DenyList()
    digests: set[str] = set()
    for item in r.list_items(rd.ctx, d, f.key, "digests"):
        if isinstance(item.value, str) and DIGEST.fullmatch(item.value.lower()):
            digests.add(item.value.lower())
        else:
            rd.ctx.wrong_type(item.value, item.key, item.line, '"sha256:<64 hex>"')
    key_ids: set[str] = set()
    for item in r.list_items(rd.ctx, d, f.key, "keyIds"):
        if isinstance(item.value, str) and DIGEST.fullmatch(item.value.lower()):
            key_ids.add(item.value.lower())
        else:
            rd.ctx.wrong_type(item.value, item.key, item.line, '"sha256:<64 hex>" (a key id)')
    signers_f = r.get(d, f.key, "signers")
    signers = (read_signer_refs(rd, signers_f) or ()) if signers_f else ()
    identities: list[Matcher] = []
    for item in r.list_items(rd.ctx, d, f.key, "identities"):
        matcher = read_deny_identity(rd, item)
        if matcher is not None:
            identities.append(matcher)
    return DenyList(frozenset(digests), signers, frozenset(key_ids), tuple(identities))


def read_deny_identity(rd: Reading, item: Field) -> Matcher | None:
    """A revoked identity, matched case-insensitively against lowercased names.

    Revocation errs on the side of matching: ``Mallory@Corp.Example`` revokes the
    certificate that says ``mallory@corp.example`` (evaluate lowercases the names).
    """
    try:
        m = Matcher.from_value(item.value, item.key)
    except ConfigError as exc:
        rd.ctx.add(item.line, "", exc.message)
        return None
    why = r.untidy(m.pattern)
    if why is not None:
        rd.ctx.add(item.line, item.key, f"{m.pattern!r} {why}", "policy.bad_value")
        return None
    if m.kind == "regex":
        return Matcher.regex(f"(?i:{m.pattern})")
    return Matcher(m.kind, m.pattern.lower())


def read_rollback(rd: Reading, f: Field) -> Rollback | None:
    d = r.mapping(rd.ctx, f.value, f.key, f.line, optional=("minVersion", "notSignedBefore"))
    if d is None:
        return None
    version_f, time_f = r.get(d, f.key, "minVersion"), r.get(d, f.key, "notSignedBefore")
    version = None
    if version_f is not None:
        if not isinstance(version_f.value, str) or parse_version(version_f.value) is None:
            rd.ctx.wrong_type(
                version_f.value,
                version_f.key,
                version_f.line,
                'a quoted version such as "2.3.0" or "v2.3.0"',
            )
        else:
            version = version_f.value
    when = read_time(rd, time_f) if time_f else None
    if version_f is None and time_f is None:
        rd.ctx.add(f.line, f.key, "give minVersion and/or notSignedBefore")
    return Rollback(version, when)


def read_exception(
    rd: Reading, f: Field, index: int, rule_names: set[str]
) -> PolicyException | None:
    ctx = rd.ctx
    d = r.mapping(
        ctx,
        f.value,
        f.key,
        f.line,
        required=("checks", "reason", "expires"),
        optional=("paths", "rules"),
    )
    if d is None:
        return None
    before = len(ctx.problems)
    checks_f = r.get(d, f.key, "checks")
    checks = r.string_list(ctx, checks_f) if checks_f else None
    if checks_f and checks is not None:
        bad = [c for c in checks if c not in EXCEPTABLE_CHECKS]
        if bad:
            ctx.add(
                checks_f.line,
                checks_f.key,
                f"cannot except {', '.join(bad)}; "
                f"exceptable checks: {', '.join(EXCEPTABLE_CHECKS)}",
                "policy.bad_value",
            )
    reason_f = r.get(d, f.key, "reason")
    reason = r.string(ctx, reason_f) if reason_f else None
    expires_f = r.get(d, f.key, "expires")
    # An expired exception is valid: it stops applying at evaluation (a warning
    # there, and in `policy lint`), so its expiry date is never an outage.
    expires = read_time(rd, expires_f, end_of_day=True) if expires_f else None
    paths_f, rules_f = r.get(d, f.key, "paths"), r.get(d, f.key, "rules")
    paths = read_patterns(rd, paths_f) if paths_f else ()
    rules = r.string_list(ctx, rules_f) if rules_f else ()
    for name in rules or ():
        if name not in rule_names:
            assert rules_f is not None
            ctx.add(rules_f.line, rules_f.key, f"undefined rule {name!r}", "policy.undefined_rule")
    if paths_f is None and rules_f is None:
        ctx.add(f.line, f.key, "an exception needs paths and/or rules")
    if len(ctx.problems) > before or None in (checks, reason, expires, paths, rules):
        return None
    assert checks is not None
    assert reason is not None
    assert expires is not None
    return PolicyException(
        index, frozenset(checks), reason, expires, f.line, paths or (), rules or ()
    )


def read_document(ctx: Ctx, doc: object, path: str, digest: str, base: Path) -> Policy | None:
    """The whole document: header, metadata, spec."""
    top = r.mapping(ctx, doc, "", 1, required=("apiVersion", "kind", "metadata", "spec"))
    if top is None:
        return None
    api = r.get(top, "", "apiVersion")
    if api is not None and api.value != API_VERSION:
        ctx.add(
            api.line,
            api.key,
            f"unsupported apiVersion {api.value!r}; expected {API_VERSION}",
            "policy.unsupported_version",
        )
    kind = r.get(top, "", "kind")
    if kind is not None and kind.value != KIND:
        ctx.add(kind.line, kind.key, f"expected kind {KIND!r}", "policy.bad_value")
    name, description = "", ""
    meta = r.get(top, "", "metadata")
    if meta is not None:
        md = r.mapping(
            ctx,
            meta.value,
            meta.key,
            meta.line,
            required=("name",),
            optional=("description", "revision"),
        )
        if md is not None:
            name_f, desc_f = r.get(md, meta.key, "name"), r.get(md, meta.key, "description")
            name = (r.string(ctx, name_f) if name_f else "") or ""
            description = (r.string(ctx, desc_f) if desc_f else "") or ""
            rev_f = r.get(md, meta.key, "revision")
            if rev_f is not None:
                r.integer(ctx, rev_f, 0)
    spec_f = r.get(top, "", "spec")
    if spec_f is None:
        return None
    spec = r.mapping(
        ctx, spec_f.value, spec_f.key, spec_f.line, required=("rules",), optional=_SPEC_KEYS
    )
    if spec is None:
        return None
    key = "spec"

    def opt(name: str) -> Field | None:
        return r.get(spec, key, name)

    mode_f = opt("mode")
    mode = r.choice(ctx, mode_f, MODES) if mode_f else "enforce"
    overrides_f = opt("allowOverrides")
    overrides = r.boolean(ctx, overrides_f) if overrides_f else False
    unmatched_f = opt("unmatchedFiles")
    unmatched = r.choice(ctx, unmatched_f, ("deny", "warn", "allow")) if unmatched_f else "deny"
    symlinks_f = opt("allowSymlinks")
    symlinks = r.boolean(ctx, symlinks_f) if symlinks_f else False
    signers_f = opt("signers")
    rd = Reading(ctx, base)
    if signers_f is not None and isinstance(signers_f.value, dict):
        rd = Reading(ctx, base, read_signers(ctx, signers_f, base), frozenset(signers_f.value))
    elif signers_f is not None:
        ctx.wrong_type(signers_f.value, signers_f.key, signers_f.line, "a mapping of signer names")
    deny_f, rollback_f = opt("deny"), opt("rollback")
    deny = read_deny(rd, deny_f) if deny_f else DenyList()
    rollback = read_rollback(rd, rollback_f) if rollback_f else None
    rules: list[Rule] = []
    rule_names: set[str] = set()
    rules_f = opt("rules")
    if rules_f is not None:
        entries = list(r.items(ctx, rules_f))
        if not entries and isinstance(rules_f.value, list):
            ctx.add(
                rules_f.line,
                rules_f.key,
                "at least one rule is required (default deny would reject every model)",
            )
        for index, item in enumerate(entries):
            rule = read_rule(rd, item, index, rule_names)
            if rule is not None:
                rules.append(rule)
    exceptions: list[PolicyException] = []
    exc_f = opt("exceptions")
    for index, item in enumerate(r.items(ctx, exc_f) if exc_f else ()):
        exc = read_exception(rd, item, index, rule_names)
        if exc is not None:
            exceptions.append(exc)
    if ctx.problems or mode is None or overrides is None or unmatched is None or symlinks is None:
        return None
    return Policy(
        path,
        digest,
        name,
        mode,
        overrides,
        unmatched,
        symlinks,
        dict(rd.signers),
        deny,
        rollback,
        tuple(rules),
        tuple(exceptions),
        description,
    )
