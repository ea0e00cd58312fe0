"""Strict readers for located YAML values: every problem is collected with its line.

Owns: the small vocabulary the schema is written in (mapping with known keys, string,
enum, bool, int, list of strings) and `PolicyProblem`, the one problem record that
`policy lint` prints and `PolicyError` carries. A reader never raises on bad input: it
records a problem and returns None, so one pass lists every problem in the file.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from weightguard.errors import ConfigError
from weightguard.policy._yaml import LocatedDict, LocatedList


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy file.

    Attributes:
        file: the policy file.
        line: 1-based line (0 when the problem is about the whole file).
        key: dotted key path, e.g. ``spec.rules[0].paths[1]``.
        message: what is wrong and what was expected.
        code: stable code, e.g. ``policy.unknown_key``.
    """

    file: str
    line: int
    key: str
    message: str
    code: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for `policy lint --format json`."""
        return {
            "code": self.code,
            "file": self.file,
            "line": self.line,
            "key": self.key,
            "message": self.message,
        }


class PolicyError(ConfigError):
    """A policy file is invalid; `problems` lists every problem found (exit 2)."""

    default_code = "policy.invalid"

    def __init__(self, problems: list[PolicyProblem]) -> None:
        first = problems[0]
        more = len(problems) - 1
        tail = f" (and {more} more; run `weightguard policy lint`)" if more else ""
        key = f"{first.key}: " if first.key else ""
        where = f"{first.file}:{first.line}" if first.line else first.file
        super().__init__(f"{key}{first.message}{tail}", code=first.code, path=where)
        self.problems = tuple(problems)


def type_name(value: object) -> str:
    """How a YAML value is described in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class Ctx:
    """Where problems go while one policy file is read."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[PolicyProblem] = []

    def add(self, line: int, key: str, message: str, code: str = "policy.bad_value") -> None:
        """Record a problem."""
        self.problems.append(PolicyProblem(self.file, line, key, message, code))

    def wrong_type(self, value: object, key: str, line: int, expected: str) -> None:
        """Record a type problem: expected X, got Y."""
        self.add(line, key, f"expected {expected}, got {type_name(value)}", "policy.wrong_type")


@dataclass(frozen=True)
class Field:
    """A value read from a mapping, with its key path and line."""

    value: Any
    key: str
    line: int


def mapping(
    ctx: Ctx,
    value: object,
    key: str,
    line: int,
    *,
    required: Collection[str] = (),
    optional: Collection[str] = (),
    free_keys: bool = False,
) -> LocatedDict | None:
    """Check a mapping: its type, unknown keys and missing required keys.

    With `free_keys`, any key is allowed (the caller checks them: paths, field names).
    """
    if not isinstance(value, LocatedDict):
        ctx.wrong_type(value, key, line, "a mapping")
        return None
    if free_keys:
        return value
    allowed = set(required) | set(optional)
    for name in value:
        if name not in allowed:
            ctx.add(
                value.key_lines[name],
                join(key, name),
                f"unknown key; expected one of: {', '.join(sorted(allowed))}",
                "policy.unknown_key",
            )
    for name in required:
        if name not in value:
            ctx.add(value.line, join(key, name), "required key is missing", "policy.missing_key")
    return value


def join(key: str, name: str) -> str:
    """`spec` + `rules` -> `spec.rules`."""
    return f"{key}.{name}" if key else name


def get(d: LocatedDict, key: str, name: str) -> Field | None:
    """The field `name` of a checked mapping, or None when absent."""
    if name not in d:
        return None
    return Field(d[name], join(key, name), d.key_lines[name])


def list_items(ctx: Ctx, d: LocatedDict, key: str, name: str) -> Iterator[Field]:
    """The items of the optional list `name` of a checked mapping."""
    f = get(d, key, name)
    if f is not None:
        yield from items(ctx, f)


def items(ctx: Ctx, f: Field, expected: str = "a list") -> Iterator[Field]:
    """The items of a list field (one problem when it is not a list)."""
    if not isinstance(f.value, LocatedList):
        ctx.wrong_type(f.value, f.key, f.line, expected)
        return
    for index, (item, line) in enumerate(zip(f.value, f.value.item_lines)):
        yield Field(item, f"{f.key}[{index}]", line)


def string(ctx: Ctx, f: Field, *, what: str = "a non-empty string") -> str | None:
    """A non-empty string."""
    if not isinstance(f.value, str) or not f.value.strip():
        ctx.wrong_type(f.value, f.key, f.line, what)
        return None
    return f.value


def untidy(text: str) -> str | None:
    """Why `text` cannot be an identifier (digest, key id, name, pattern), or None.

    Values that are compared or matched must be exactly what they look like: a trailing
    newline from a YAML ``|`` block or a stray space would make a revocation or a pin
    that validates but never matches.
    """
    if text != text.strip():
        return "starts or ends with whitespace"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        return "contains a control character"
    return None


def token(ctx: Ctx, f: Field, what: str) -> str | None:
    """A string that `untidy` accepts; a problem otherwise."""
    if not isinstance(f.value, str) or not f.value:
        ctx.wrong_type(f.value, f.key, f.line, what)
        return None
    why = untidy(f.value)
    if why is not None:
        ctx.add(f.line, f.key, f"{f.value!r} {why}; expected {what}", "policy.bad_value")
        return None
    return f.value


def choice(ctx: Ctx, f: Field, choices: Collection[str]) -> str | None:
    """One of a fixed set of strings."""
    if not isinstance(f.value, str) or f.value not in choices:
        ctx.add(
            f.line,
            f.key,
            f"expected one of {', '.join(sorted(choices))}, got {type_name(f.value)}",
            "policy.bad_value",
        )
        return None
    return f.value


def boolean(ctx: Ctx, f: Field) -> bool | None:
    """true or false."""
    if not isinstance(f.value, bool):
        ctx.wrong_type(f.value, f.key, f.line, "true or false")
        return None
    return f.value


def integer(ctx: Ctx, f: Field, minimum: int) -> int | None:
    """An integer no smaller than `minimum`."""
    if not isinstance(f.value, int) or isinstance(f.value, bool) or f.value < minimum:
        ctx.wrong_type(f.value, f.key, f.line, f"an integer >= {minimum}")
        return None
    return f.value


def string_list(ctx: Ctx, f: Field, *, nonempty: bool = True) -> tuple[str, ...] | None:
    """A list of non-empty strings, without duplicates."""
    out: list[str] = []
    ok = isinstance(f.value, LocatedList)
    for item in items(ctx, f, "a list of strings"):
        text = string(ctx, item)
        if text is None:
            ok = False
        elif text in out:
            ctx.add(item.line, item.key, f"{text!r} is listed twice", "policy.duplicate")
            ok = False
        else:
            out.append(text)
    if ok and nonempty and not out:
        ctx.add(f.line, f.key, "expected a non-empty list", "policy.bad_value")
        return None
    return tuple(out) if ok else None
