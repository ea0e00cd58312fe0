"""Reading a policy document section by section into the values of `schema`.

Owns: the schema itself (which keys exist, their types and meaning) and every semantic
check a linter can make without a model: undefined signer references, globs, digests,
format names, versions, expiry of exceptions, in-toto layouts without inspections.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from weightguard.errors import ConfigError
from weightguard.policy import _read as r
from weightguard.policy._read import Ctx, Field
from weightguard.policy._signers import read_signers, resolve
from weightguard.policy._yaml import LocatedDict, LocatedList
from weightguard.policy.globs import GlobError, PathPattern
from weightguard.policy.schema import (
    API_VERSION,
    DATA_ONLY_FORMATS,
    EXCEPTABLE_CHECKS,
    KIND,
    MODES,
    SCAN_PREDICATE,
    SMOKE_PREDICATE,
    DenyList,
    EvidenceRequirement,
    FieldConstraint,
    KeySigner,
    LayoutRequirement,
    Policy,
    PolicyException,
    Rollback,
    Rule,
    ScanRequirement,
    SignatureRequirement,
    SignerSpec,
    parse_version,
)
from weightguard.signing.identity import Matcher

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
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
_RULE_KEYS = (
    "name",
    "paths",
    "mode",
    "signatures",
    "unsignedFiles",
    "formats",
    "digests",
    "scan",
    "smoke",
    "attestations",
    "layout",
)


class _Reader:
    def __init__(self, ctx: Ctx, base: Path, now: dt.datetime) -> None:
        self.ctx = ctx
        self.base = base
        self.now = now
        self.signers: dict[str, SignerSpec] = {}
        self.all_signer_names: set[str] = set()

    # -- shared pieces ------------------------------------------------------------
    def signer_refs(self, f: Field, *, keys_only: bool = False) -> tuple[str, ...] | None:
        names = r.string_list(self.ctx, f)
        if names is None:
            return None
        ok = True
        assert isinstance(f.value, LocatedList)
        for name, line in zip(names, f.value.item_lines):
            if name not in self.all_signer_names:
                defined = ", ".join(sorted(self.all_signer_names)) or "none"
                self.ctx.add(
                    line,
                    f.key,
                    f"undefined signer {name!r} (defined: {defined})",
                    "policy.undefined_signer",
                )
                ok = False
            elif (
                keys_only and name in self.signers and not isinstance(self.signers[name], KeySigner)
            ):
                self.ctx.add(
                    line,
                    f.key,
                    f"signer {name!r} must be a key signer (in-toto layouts are signed with keys)",
                )
                ok = False
        return names if ok else None

    def patterns(self, f: Field) -> tuple[PathPattern, ...] | None:
        texts = r.string_list(self.ctx, f)
        if texts is None:
            return None
        out: list[PathPattern] = []
        assert isinstance(f.value, LocatedList)
        for index, (text, line) in enumerate(zip(texts, f.value.item_lines)):
            try:
                out.append(PathPattern.parse(text))
            except GlobError as exc:
                self.ctx.add(
                    line, f"{f.key}[{index}]", f"bad pattern {text!r}: {exc}", "policy.bad_glob"
                )
        return tuple(out) if len(out) == len(texts) else None

    def formats(self, f: Field) -> frozenset[str] | None:
        from weightguard.scan.formats import FORMATS

        names = r.string_list(self.ctx, f)
        if names is None:
            return None
        unknown = [n for n in names if n not in FORMATS]
        if unknown:
            self.ctx.add(
                f.line,
                f.key,
                f"unknown format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}",
                "policy.unknown_format",
            )
            return None
        return frozenset(names)

    def time(self, f: Field, *, end_of_day: bool = False) -> dt.datetime | None:
        text = f.value
        if not isinstance(text, str):
            self.ctx.wrong_type(text, f.key, f.line, "an ISO 8601 date or time (quoted)")
            return None
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
                return when + dt.timedelta(days=1) if end_of_day else when
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.ctx.add(f.line, f.key, f"{text!r} is not an ISO 8601 date (YYYY-MM-DD) or time")
            return None
        if parsed.tzinfo is None:
            self.ctx.add(f.line, f.key, f"{text!r} needs a time zone (e.g. a trailing Z)")
            return None
        return parsed

    def where(self, f: Field) -> tuple[FieldConstraint, ...] | None:
        d = r.mapping(self.ctx, f.value, f.key, f.line, free_keys=True)
        if d is None:
            return None
        out: list[FieldConstraint] = []
        for path, value in d.items():
            key, line = f"{f.key}.{path}", d.key_lines[path]
            if not all(path.split(".")):
                self.ctx.add(line, key, "field paths are dotted names without empty parts")
            elif isinstance(value, (bool, int, float)):
                out.append(FieldConstraint(path, None, value))
            else:
                try:
                    out.append(FieldConstraint(path, Matcher.from_value(value, key)))
                except ConfigError as exc:
                    self.ctx.add(line, "", exc.message)
        return tuple(out) if len(out) == len(d) else None

    def evidence(
        self,
        f: Field,
        *,
        default_type: str | None,
        subjects: tuple[str, ...] = ("model", "file", "any"),
        named: bool = False,
    ) -> EvidenceRequirement | None:
        keys = ["signers", "where", "subject", "predicateType"] + (["name"] if named else [])
        required = ("signers",) if default_type else ("signers", "predicateType")
        d = r.mapping(self.ctx, f.value, f.key, f.line, required=required, optional=keys)
        if d is None:
            return None
        ptype_f = r.get(d, f.key, "predicateType")
        ptype = r.string(self.ctx, ptype_f) if ptype_f else default_type
        signers_f = r.get(d, f.key, "signers")
        signers = self.signer_refs(signers_f) if signers_f else None
        where_f = r.get(d, f.key, "where")
        where = self.where(where_f) if where_f else ()
        subject_f = r.get(d, f.key, "subject")
        subject = r.choice(self.ctx, subject_f, subjects) if subject_f else subjects[-1]
        name_f = r.get(d, f.key, "name")
        name = r.string(self.ctx, name_f) if name_f else ""
        if None in (ptype, signers, where, subject, name):
            return None
        assert ptype is not None
        assert signers is not None
        assert where is not None
        assert subject is not None
        assert name is not None
        return EvidenceRequirement(ptype, signers, subject, where, name or ptype)

    # -- sections -----------------------------------------------------------------
    def signatures(self, f: Field) -> tuple[bool, SignatureRequirement | None]:
        if f.value == "none":
            return True, None
        d = r.mapping(
            self.ctx, f.value, f.key, f.line, optional=("anyOf", "allOf", "threshold", "of")
        )
        if d is None:
            return False, None
        combos = [k for k in ("anyOf", "allOf", "threshold") if k in d]
        if len(combos) != 1:
            self.ctx.add(
                f.line, f.key, 'give exactly one of anyOf, allOf or threshold (with of), or "none"'
            )
            return False, None
        kind = combos[0]
        if kind == "threshold":
            count_f, of_f = r.get(d, f.key, "threshold"), r.get(d, f.key, "of")
            assert count_f is not None
            count = r.integer(self.ctx, count_f, 1)
            if of_f is None:
                self.ctx.add(
                    d.line,
                    f"{f.key}.of",
                    "threshold needs the list of signers in `of`",
                    "policy.missing_key",
                )
                return False, None
            names = self.signer_refs(of_f)
            if count is None or names is None:
                return False, None
            if count > len(names):
                self.ctx.add(
                    count_f.line,
                    count_f.key,
                    f"threshold {count} exceeds the {len(names)} signers listed",
                )
                return False, None
            return True, SignatureRequirement(kind, names, count)
        if "of" in d:
            self.ctx.add(
                d.key_lines["of"],
                f"{f.key}.of",
                "`of` goes with threshold only",
                "policy.unknown_key",
            )
        list_f = r.get(d, f.key, kind)
        assert list_f is not None
        names = self.signer_refs(list_f)
        if names is None:
            return False, None
        return True, SignatureRequirement(kind, names, 1 if kind == "anyOf" else len(names))

    def scan(self, f: Field) -> ScanRequirement | None:
        from weightguard.scan.formats import FORMATS

        d = r.mapping(
            self.ctx,
            f.value,
            f.key,
            f.line,
            optional=("source", "formats", "signers", "predicateType", "where"),
        )
        if d is None:
            return None
        source_f = r.get(d, f.key, "source")
        source = (
            r.choice(self.ctx, source_f, ("local", "attestation", "any")) if source_f else "local"
        )
        formats_f = r.get(d, f.key, "formats")
        formats = self.formats(formats_f) if formats_f else frozenset(FORMATS) - DATA_ONLY_FORMATS
        attestation = None
        if source in ("attestation", "any"):
            if "signers" not in d:
                self.ctx.add(
                    d.line,
                    f"{f.key}.signers",
                    f"scan source {source!r} needs the signers of scan attestations",
                    "policy.missing_key",
                )
                return None
            evidence = {k: d[k] for k in ("signers", "predicateType", "where") if k in d}
            sub = LocatedDict(evidence)
            sub.line, sub.key_lines = d.line, {k: d.key_lines[k] for k in evidence}
            attestation = self.evidence(
                Field(sub, f.key, f.line),
                default_type=SCAN_PREDICATE,
                subjects=("file", "model", "any"),
            )
            if attestation is None:
                return None
        elif any(k in d for k in ("signers", "predicateType", "where")):
            self.ctx.add(
                d.line,
                f.key,
                "signers/predicateType/where apply to scan attestations: "
                "set source to attestation or any",
            )
            return None
        if source is None or formats is None:
            return None
        return ScanRequirement(source, formats, attestation)

    def layout(self, f: Field) -> LayoutRequirement | None:
        d = r.mapping(
            self.ctx, f.value, f.key, f.line, required=("file", "signers"), optional=("links",)
        )
        if d is None:
            return None
        file_f, signers_f, links_f = (
            r.get(d, f.key, "file"),
            r.get(d, f.key, "signers"),
            r.get(d, f.key, "links"),
        )
        signers = self.signer_refs(signers_f, keys_only=True) if signers_f else None
        links = r.string(self.ctx, links_f) if links_f else "in-toto"
        if links is not None and (links.startswith("/") or ".." in links.split("/")):
            self.ctx.add(
                links_f.line if links_f else d.line,
                f"{f.key}.links",
                "links is a folder inside the evidence folder (no '/' start, no '..')",
            )
            links = None
        text = r.string(self.ctx, file_f) if file_f else None
        if text is None or file_f is None:
            return None
        path = resolve(self.base, text)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.ctx.add(
                file_f.line,
                file_f.key,
                f"cannot read layout {str(path)!r}: {exc.strerror}",
                "policy.trust_unreadable",
            )
            return None
        from weightguard.policy.layout import check_layout_document

        problem = check_layout_document(data)
        if problem is not None:
            code, message = problem
            self.ctx.add(file_f.line, file_f.key, f"{path}: {message}", code)
            return None
        if signers is None or links is None:
            return None
        return LayoutRequirement(str(path), data, signers, links)

    def rule(self, f: Field, index: int, names: set[str]) -> Rule | None:
        ctx = self.ctx
        d = r.mapping(
            ctx,
            f.value,
            f.key,
            f.line,
            required=("name", "paths", "signatures"),
            optional=_RULE_KEYS,
        )
        if d is None:
            return None
        before = len(ctx.problems)
        name_f = r.get(d, f.key, "name")
        name = r.string(ctx, name_f) if name_f else None
        if name_f and name is not None:
            if not RULE_NAME.match(name):
                ctx.add(
                    name_f.line,
                    name_f.key,
                    "rule names use letters, digits, '.', '_' and '-'",
                    "policy.bad_name",
                )
            elif name in names:
                ctx.add(
                    name_f.line, name_f.key, f"rule name {name!r} is used twice", "policy.duplicate"
                )
            names.add(name)
        paths_f = r.get(d, f.key, "paths")
        paths = self.patterns(paths_f) if paths_f else None
        mode_f = r.get(d, f.key, "mode")
        mode = r.choice(ctx, mode_f, MODES) if mode_f else None
        sig_f = r.get(d, f.key, "signatures")
        signatures = self.signatures(sig_f)[1] if sig_f else None
        unsigned_f = r.get(d, f.key, "unsignedFiles")
        unsigned = r.choice(ctx, unsigned_f, ("deny", "allow")) if unsigned_f else "deny"
        allow = deny = None
        formats_f = r.get(d, f.key, "formats")
        if formats_f:
            fd = r.mapping(
                ctx, formats_f.value, formats_f.key, formats_f.line, optional=("allow", "deny")
            )
            if fd is not None:
                allow_f, deny_f = (
                    r.get(fd, formats_f.key, "allow"),
                    r.get(fd, formats_f.key, "deny"),
                )
                allow = self.formats(allow_f) if allow_f else None
                deny = self.formats(deny_f) if deny_f else frozenset()
                if allow_f is None and deny_f is None:
                    ctx.add(formats_f.line, formats_f.key, "give allow and/or deny")
                elif allow and deny and allow & deny:
                    ctx.add(
                        formats_f.line,
                        formats_f.key,
                        f"format(s) both allowed and denied: {', '.join(sorted(allow & deny))}",
                    )
        digests = self.pins(r.get(d, f.key, "digests"), paths or ())
        scan_f, smoke_f = r.get(d, f.key, "scan"), r.get(d, f.key, "smoke")
        scan = self.scan(scan_f) if scan_f else None
        smoke = (
            self.evidence(smoke_f, default_type=SMOKE_PREDICATE, subjects=("model",))
            if smoke_f
            else None
        )
        attestations: list[EvidenceRequirement] = []
        att_f = r.get(d, f.key, "attestations")
        for item in r.items(ctx, att_f) if att_f else ():
            req = self.evidence(item, default_type=None, named=True)
            if req is not None:
                attestations.append(req)
        layout_f = r.get(d, f.key, "layout")
        layout = self.layout(layout_f) if layout_f else None
        if len(ctx.problems) > before or name is None or paths is None:
            return None
        return Rule(
            name,
            paths,
            f.line,
            mode,
            signatures,
            unsigned or "deny",
            allow,
            deny or frozenset(),
            digests,
            scan,
            smoke,
            tuple(attestations),
            layout,
        )

    def pins(self, f: Field | None, paths: tuple[PathPattern, ...]) -> tuple[tuple[str, str], ...]:
        if f is None:
            return ()
        d = r.mapping(self.ctx, f.value, f.key, f.line, free_keys=True)
        if d is None:
            return ()
        out: list[tuple[str, str]] = []
        for path, value in d.items():
            key, line = f"{f.key}.{path}", d.key_lines[path]
            if not isinstance(value, str) or not DIGEST.match(value.lower()):
                self.ctx.wrong_type(value, key, line, '"sha256:<64 hex>"')
            elif paths and not any(p.matches(path) for p in paths):
                self.ctx.add(line, key, "this pinned path is not matched by the rule's paths")
            else:
                out.append((path, value.lower()))
        return tuple(out)

    def deny(self, f: Field) -> DenyList:
        d = r.mapping(
            self.ctx,
            f.value,
            f.key,
            f.line,
            optional=("digests", "signers", "keyIds", "identities"),
        )
        if d is None:
            return DenyList()
        digests: set[str] = set()
        for item in r.list_items(self.ctx, d, f.key, "digests"):
            if isinstance(item.value, str) and DIGEST.match(item.value.lower()):
                digests.add(item.value.lower())
            else:
                self.ctx.wrong_type(item.value, item.key, item.line, '"sha256:<64 hex>"')
        key_ids: set[str] = set()
        for item in r.list_items(self.ctx, d, f.key, "keyIds"):
            if isinstance(item.value, str) and DIGEST.match(item.value.lower()):
                key_ids.add(item.value.lower())
            else:
                self.ctx.wrong_type(item.value, item.key, item.line, '"sha256:<64 hex>" (a key id)')
        signers_f = r.get(d, f.key, "signers")
        signers = (self.signer_refs(signers_f) or ()) if signers_f else ()
        identities: list[Matcher] = []
        for item in r.list_items(self.ctx, d, f.key, "identities"):
            try:
                identities.append(Matcher.from_value(item.value, item.key))
            except ConfigError as exc:
                self.ctx.add(item.line, "", exc.message)
        return DenyList(frozenset(digests), signers, frozenset(key_ids), tuple(identities))

    def rollback(self, f: Field) -> Rollback | None:
        d = r.mapping(self.ctx, f.value, f.key, f.line, optional=("minVersion", "notSignedBefore"))
        if d is None:
            return None
        version_f, time_f = r.get(d, f.key, "minVersion"), r.get(d, f.key, "notSignedBefore")
        version = None
        if version_f is not None:
            if not isinstance(version_f.value, str) or parse_version(version_f.value) is None:
                self.ctx.wrong_type(
                    version_f.value,
                    version_f.key,
                    version_f.line,
                    'a quoted dotted version such as "2.3.0"',
                )
            else:
                version = version_f.value
        when = self.time(time_f) if time_f else None
        if version_f is None and time_f is None:
            self.ctx.add(f.line, f.key, "give minVersion and/or notSignedBefore")
        return Rollback(version, when)

    def exception(self, f: Field, index: int, rule_names: set[str]) -> PolicyException | None:
        ctx = self.ctx
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
        expires = self.time(expires_f, end_of_day=True) if expires_f else None
        if expires is not None and expires_f is not None and expires <= self.now:
            ctx.add(
                expires_f.line,
                expires_f.key,
                f"exception expired on {expires_f.value}; renew or remove it",
                "policy.exception_expired",
            )
        paths_f, rules_f = r.get(d, f.key, "paths"), r.get(d, f.key, "rules")
        paths = self.patterns(paths_f) if paths_f else ()
        rules = r.string_list(ctx, rules_f) if rules_f else ()
        for name in rules or ():
            if name not in rule_names:
                assert rules_f is not None
                ctx.add(
                    rules_f.line, rules_f.key, f"undefined rule {name!r}", "policy.undefined_rule"
                )
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


def read_document(
    ctx: Ctx, doc: object, path: str, digest: str, base: Path, now: dt.datetime
) -> Policy | None:
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
    reader = _Reader(ctx, base, now)
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
    if signers_f is not None and isinstance(signers_f.value, dict):
        reader.all_signer_names = set(signers_f.value)
        reader.signers = read_signers(ctx, signers_f, base)
    elif signers_f is not None:
        ctx.wrong_type(signers_f.value, signers_f.key, signers_f.line, "a mapping of signer names")
    deny_f, rollback_f = opt("deny"), opt("rollback")
    deny = reader.deny(deny_f) if deny_f else DenyList()
    rollback = reader.rollback(rollback_f) if rollback_f else None
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
            rule = reader.rule(item, index, rule_names)
            if rule is not None:
                rules.append(rule)
    exceptions: list[PolicyException] = []
    exc_f = opt("exceptions")
    for index, item in enumerate(r.items(ctx, exc_f) if exc_f else ()):
        exc = reader.exception(item, index, rule_names)
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
        dict(reader.signers),
        deny,
        rollback,
        tuple(rules),
        tuple(exceptions),
        description,
    )
