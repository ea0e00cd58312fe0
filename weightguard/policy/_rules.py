"""Reading `spec.rules`: paths, signatures, formats, pins, scan, smoke, attestations, layout.

Owns: the rule part of the schema and the shared readers (signer references, globs,
format names, times, field constraints) that the rest of the document reuses. Each
reader is a function of the frozen `Reading` (where problems go, the policy's folder,
its signers) and one located field; it records problems and returns None for bad input.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from weightguard.errors import ConfigError
from weightguard.policy import _read as r
from weightguard.policy._read import Ctx, Field
from weightguard.policy._signers import resolve
from weightguard.policy._yaml import LocatedDict, LocatedList
from weightguard.policy.globs import GlobError, PathPattern
from weightguard.policy.values import (
    DATA_ONLY_FORMATS,
    MODES,
    SCAN_PREDICATE,
    SMOKE_PREDICATE,
    EvidenceRequirement,
    FieldConstraint,
    KeySigner,
    LayoutRequirement,
    Rule,
    ScanRequirement,
    SignatureRequirement,
    SignerSpec,
)
from weightguard.signing.identity import Matcher
from weightguard.untrusted import read_regular

# Identifiers are checked with fullmatch: `re.match` with `$` lets a trailing newline through.
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
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


@dataclass(frozen=True)
class Reading:
    """One policy document being read: where problems go, the folder trust files are
    relative to, and the signers it defines (every name, and the valid ones)."""

    ctx: Ctx
    base: Path
    signers: Mapping[str, SignerSpec] = field(default_factory=dict)
    signer_names: frozenset[str] = frozenset()


def read_signer_refs(rd: Reading, f: Field, *, keys_only: bool = False) -> tuple[str, ...] | None:
    names = r.string_list(rd.ctx, f)
    if names is None:
        return None
    ok = True
    assert isinstance(f.value, LocatedList)
    for name, line in zip(names, f.value.item_lines):
        if name not in rd.signer_names:
            defined = ", ".join(sorted(rd.signer_names)) or "none"
            rd.ctx.add(
                line,
                f.key,
                f"undefined signer {name!r} (defined: {defined})",
                "policy.undefined_signer",
            )
            ok = False
        elif keys_only and name in rd.signers and not isinstance(rd.signers[name], KeySigner):
            rd.ctx.add(
                line,
                f.key,
                f"signer {name!r} must be a key signer (in-toto layouts are signed with keys)",
            )
            ok = False
    return names if ok else None


def read_patterns(rd: Reading, f: Field) -> tuple[PathPattern, ...] | None:
    texts = r.string_list(rd.ctx, f)
    if texts is None:
        return None
    out: list[PathPattern] = []
    assert isinstance(f.value, LocatedList)
    for index, (text, line) in enumerate(zip(texts, f.value.item_lines)):
        try:
            out.append(PathPattern.parse(text))
        except GlobError as exc:
            rd.ctx.add(line, f"{f.key}[{index}]", f"bad pattern {text!r}: {exc}", "policy.bad_glob")
    return tuple(out) if len(out) == len(texts) else None


def read_formats(rd: Reading, f: Field) -> frozenset[str] | None:
    from weightguard.scan import FORMATS

    names = r.string_list(rd.ctx, f)
    if names is None:
        return None
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        rd.ctx.add(
            f.line,
            f.key,
            f"unknown format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}",
            "policy.unknown_format",
        )
        return None
    return frozenset(names)


def read_time(rd: Reading, f: Field, *, end_of_day: bool = False) -> dt.datetime | None:
    text = f.value
    if not isinstance(text, str):
        rd.ctx.wrong_type(text, f.key, f.line, "an ISO 8601 date or time (quoted)")
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
            return when + dt.timedelta(days=1) if end_of_day else when
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        rd.ctx.add(f.line, f.key, f"{text!r} is not an ISO 8601 date (YYYY-MM-DD) or time")
        return None
    if parsed.tzinfo is None:
        rd.ctx.add(f.line, f.key, f"{text!r} needs a time zone (e.g. a trailing Z)")
        return None
    return parsed


def read_where(rd: Reading, f: Field) -> tuple[FieldConstraint, ...] | None:
    d = r.mapping(rd.ctx, f.value, f.key, f.line, free_keys=True)
    if d is None:
        return None
    out: list[FieldConstraint] = []
    for path, value in d.items():
        key, line = f"{f.key}.{path}", d.key_lines[path]
        if not all(path.split(".")):
            rd.ctx.add(line, key, "field paths are dotted names without empty parts")
        elif isinstance(value, (bool, int, float)):
            out.append(FieldConstraint(path, None, value))
        else:
            try:
                out.append(FieldConstraint(path, Matcher.from_value(value, key)))
            except ConfigError as exc:
                rd.ctx.add(line, "", exc.message)
    return tuple(out) if len(out) == len(d) else None


def read_evidence(
    rd: Reading,
    f: Field,
    *,
    default_type: str | None,
    subjects: tuple[str, ...] = ("model", "file", "any"),
    named: bool = False,
) -> EvidenceRequirement | None:
    keys = ["signers", "where", "subject", "predicateType"] + (["name"] if named else [])
    required = ("signers",) if default_type else ("signers", "predicateType")
    d = r.mapping(rd.ctx, f.value, f.key, f.line, required=required, optional=keys)
    if d is None:
        return None
    ptype_f = r.get(d, f.key, "predicateType")
    ptype = r.string(rd.ctx, ptype_f) if ptype_f else default_type
    signers_f = r.get(d, f.key, "signers")
    signers = read_signer_refs(rd, signers_f) if signers_f else None
    where_f = r.get(d, f.key, "where")
    where = read_where(rd, where_f) if where_f else ()
    subject_f = r.get(d, f.key, "subject")
    subject = r.choice(rd.ctx, subject_f, subjects) if subject_f else subjects[-1]
    name_f = r.get(d, f.key, "name")
    name = r.string(rd.ctx, name_f) if name_f else ""
    if None in (ptype, signers, where, subject, name):
        return None
    assert ptype is not None
    assert signers is not None
    assert where is not None
    assert subject is not None
    assert name is not None
    return EvidenceRequirement(ptype, signers, subject, where, name or ptype)


def read_signatures(rd: Reading, f: Field) -> tuple[bool, SignatureRequirement | None]:
    if f.value == "none":
        return True, None
    d = r.mapping(rd.ctx, f.value, f.key, f.line, optional=("anyOf", "allOf", "threshold", "of"))
    if d is None:
        return False, None
    combos = [k for k in ("anyOf", "allOf", "threshold") if k in d]
    if len(combos) != 1:
        rd.ctx.add(
            f.line, f.key, 'give exactly one of anyOf, allOf or threshold (with of), or "none"'
        )
        return False, None
    kind = combos[0]
    if kind == "threshold":
        count_f, of_f = r.get(d, f.key, "threshold"), r.get(d, f.key, "of")
        assert count_f is not None
        count = r.integer(rd.ctx, count_f, 1)
        if of_f is None:
            rd.ctx.add(
                d.line,
                f"{f.key}.of",
                "threshold needs the list of signers in `of`",
                "policy.missing_key",
            )
            return False, None
        names = read_signer_refs(rd, of_f)
        if count is None or names is None:
            return False, None
        if count > len(names):
            rd.ctx.add(
                count_f.line,
                count_f.key,
                f"threshold {count} exceeds the {len(names)} signers listed",
            )
            return False, None
        return True, SignatureRequirement(kind, names, count)
    if "of" in d:
        rd.ctx.add(
            d.key_lines["of"],
            f"{f.key}.of",
            "`of` goes with threshold only",
            "policy.unknown_key",
        )
    list_f = r.get(d, f.key, kind)
    assert list_f is not None
    names = read_signer_refs(rd, list_f)
    if names is None:
        return False, None
    return True, SignatureRequirement(kind, names, 1 if kind == "anyOf" else len(names))


def read_scan(rd: Reading, f: Field) -> ScanRequirement | None:
    from weightguard.scan import FORMATS

    d = r.mapping(
        rd.ctx,
        f.value,
        f.key,
        f.line,
        optional=(
            "source",
            "formats",
            "signers",
            "predicateType",
            "where",
            "profiles",
            "allow",
        ),
    )
    if d is None:
        return None
    scanner = read_scanner_settings(rd, d, f.key)
    source_f = r.get(d, f.key, "source")
    source = r.choice(rd.ctx, source_f, ("local", "attestation", "any")) if source_f else "local"
    formats_f = r.get(d, f.key, "formats")
    formats = read_formats(rd, formats_f) if formats_f else frozenset(FORMATS) - DATA_ONLY_FORMATS
    attestation = None
    if source in ("attestation", "any"):
        if "signers" not in d:
            rd.ctx.add(
                d.line,
                f"{f.key}.signers",
                f"scan source {source!r} needs the signers of scan attestations",
                "policy.missing_key",
            )
            return None
        evidence = {k: d[k] for k in ("signers", "predicateType", "where") if k in d}
        sub = LocatedDict(evidence)
        sub.line, sub.key_lines = d.line, {k: d.key_lines[k] for k in evidence}
        attestation = read_evidence(
            rd,
            Field(sub, f.key, f.line),
            default_type=SCAN_PREDICATE,
            subjects=("file", "model", "any"),
        )
        if attestation is None:
            return None
    elif any(k in d for k in ("signers", "predicateType", "where")):
        rd.ctx.add(
            d.line,
            f.key,
            "signers/predicateType/where apply to scan attestations: "
            "set source to attestation or any",
        )
        return None
    if source is None or formats is None or scanner is None:
        return None
    return ScanRequirement(source, formats, attestation, scanner[0], scanner[1])


def read_scanner_settings(
    rd: Reading, d: LocatedDict, key: str
) -> tuple[tuple[str, ...] | None, tuple[tuple[str, str], ...]] | None:
    """`profiles` (known scanner profiles) and `allow` entries, each with a reason."""
    from weightguard.scan.allowlist import PROFILES
    from weightguard.scan.denylist import known_primitive

    ok = True
    profiles = None
    profiles_f = r.get(d, key, "profiles")
    if profiles_f is not None:
        profiles = r.string_list(rd.ctx, profiles_f)
        unknown = [p for p in profiles or () if p not in PROFILES]
        if unknown:
            known = ", ".join(sorted(PROFILES))
            rd.ctx.add(
                profiles_f.line,
                profiles_f.key,
                f"unknown scanner profile(s) {', '.join(unknown)}; known: {known}",
            )
        ok = profiles is not None and not unknown
    allow: list[tuple[str, str]] = []
    for item in r.list_items(rd.ctx, d, key, "allow"):
        entry = r.mapping(rd.ctx, item.value, item.key, item.line, required=("name", "reason"))
        name_f = r.get(entry, item.key, "name") if entry is not None else None
        reason_f = r.get(entry, item.key, "reason") if entry is not None else None
        name = r.string(rd.ctx, name_f) if name_f else None
        reason = r.string(rd.ctx, reason_f) if reason_f else None
        if name is None or reason is None:
            ok = False
            continue
        qualname = name.replace(":", ".", 1)
        if "." not in qualname.strip(".") or any(not p for p in qualname.split(".")):
            rd.ctx.add(item.line, item.key, f"{name!r}: expected module.qualname")
            ok = False
        elif known_primitive(qualname):
            rd.ctx.add(
                item.line,
                item.key,
                f"{name!r} is a known code-execution primitive and cannot be allowed",
            )
            ok = False
        else:
            allow.append((name, reason))
    return (profiles, tuple(allow)) if ok else None


def read_layout(rd: Reading, f: Field) -> LayoutRequirement | None:
    d = r.mapping(rd.ctx, f.value, f.key, f.line, required=("file", "signers"), optional=("links",))
    if d is None:
        return None
    file_f, signers_f, links_f = (
        r.get(d, f.key, "file"),
        r.get(d, f.key, "signers"),
        r.get(d, f.key, "links"),
    )
    signers = read_signer_refs(rd, signers_f, keys_only=True) if signers_f else None
    links = r.string(rd.ctx, links_f) if links_f else "in-toto"
    if links is not None and (links.startswith("/") or ".." in links.split("/")):
        rd.ctx.add(
            links_f.line if links_f else d.line,
            f"{f.key}.links",
            "links is a folder inside the evidence folder (no '/' start, no '..')",
        )
        links = None
    text = r.string(rd.ctx, file_f) if file_f else None
    if text is None or file_f is None:
        return None
    path = resolve(rd.base, text)
    try:
        data = read_regular(path)
    except OSError as exc:
        rd.ctx.add(
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
        rd.ctx.add(file_f.line, file_f.key, f"{path}: {message}", code)
        return None
    if signers is None or links is None:
        return None
    return LayoutRequirement(str(path), data, signers, links)


def read_rule(rd: Reading, f: Field, index: int, names: set[str]) -> Rule | None:
    ctx = rd.ctx
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
        if not RULE_NAME.fullmatch(name):
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
    paths = read_patterns(rd, paths_f) if paths_f else None
    mode_f = r.get(d, f.key, "mode")
    mode = r.choice(ctx, mode_f, MODES) if mode_f else None
    sig_f = r.get(d, f.key, "signatures")
    signatures = read_signatures(rd, sig_f)[1] if sig_f else None
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
            allow = read_formats(rd, allow_f) if allow_f else None
            deny = read_formats(rd, deny_f) if deny_f else frozenset()
            if allow_f is None and deny_f is None:
                ctx.add(formats_f.line, formats_f.key, "give allow and/or deny")
            elif allow and deny and allow & deny:
                ctx.add(
                    formats_f.line,
                    formats_f.key,
                    f"format(s) both allowed and denied: {', '.join(sorted(allow & deny))}",
                )
    digests = read_pins(rd, r.get(d, f.key, "digests"), paths or ())
    scan_f, smoke_f = r.get(d, f.key, "scan"), r.get(d, f.key, "smoke")
    scan = read_scan(rd, scan_f) if scan_f else None
    smoke = (
        read_evidence(rd, smoke_f, default_type=SMOKE_PREDICATE, subjects=("model",))
        if smoke_f
        else None
    )
    attestations: list[EvidenceRequirement] = []
    att_f = r.get(d, f.key, "attestations")
    for item in r.items(ctx, att_f) if att_f else ():
        req = read_evidence(rd, item, default_type=None, named=True)
        if req is not None:
            attestations.append(req)
    layout_f = r.get(d, f.key, "layout")
    layout = read_layout(rd, layout_f) if layout_f else None
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


def read_pins(
    rd: Reading, f: Field | None, paths: tuple[PathPattern, ...]
) -> tuple[tuple[str, str], ...]:
    if f is None:
        return ()
    d = r.mapping(rd.ctx, f.value, f.key, f.line, free_keys=True)
    if d is None:
        return ()
    out: list[tuple[str, str]] = []
    for path, value in d.items():
        key, line = f"{f.key}.{path}", d.key_lines[path]
        if not isinstance(value, str) or not DIGEST.fullmatch(value.lower()):
            rd.ctx.wrong_type(value, key, line, '"sha256:<64 hex>"')
        elif paths and not any(p.matches(path) for p in paths):
            rd.ctx.add(line, key, "this pinned path is not matched by the rule's paths")
        else:
            out.append((path, value.lower()))
    return tuple(out)
