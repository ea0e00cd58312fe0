"""Path patterns of policy rules: globs anchored at the model root.

Semantics (documented in the README, "Policy files"):
- A pattern is matched against the whole model-relative POSIX path; it is anchored at the
  root, so ``*.json`` matches ``config.json`` but not ``sub/config.json`` (write
  ``**/*.json`` for any depth). Being explicit here is safer than gitignore's
  "a pattern without a slash matches at any depth".
- ``*`` matches any run of characters within one path segment, ``?`` one character,
  ``[abc]`` / ``[!abc]`` a character class (ranges such as ``[a-z]`` too); none of them
  match ``/``, whatever a range's bounds (``[.-0]`` spans ``/`` in code points).
- ``**`` as a whole segment matches zero or more segments: ``**/x`` matches ``x`` and
  ``a/b/x``; ``a/**`` matches everything below ``a``; a lone ``**`` matches every file.
- Hidden files get no special treatment: ``*`` matches ``.hidden`` too. Default deny
  makes the inclusive reading the safe one (nothing slips past a rule unseen).
- Names are compared code point by code point (no Unicode normalisation), the same way
  the signed manifest names files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class GlobError(ValueError):
    """A pattern we refuse, with the reason."""


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[":
            start = i + 1
            negate = segment[start : start + 1] == "!"
            if negate:
                start += 1
            # A ']' right after '[' or '[!' is a literal member, as in fnmatch.
            end = segment.find("]", start + 1 if segment[start : start + 1] == "]" else start)
            if end < 0:
                raise GlobError("unclosed '[' character class")
            body = segment[start:end]
            if not body:
                raise GlobError("empty character class")
            escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
            # A range can straddle '/' ('[.-0]' holds '.', '/', '0'): the lookahead keeps
            # every class, negated or not, inside one path segment.
            out.append(f"(?!/)[^{escaped}]" if negate else f"(?!/)[{escaped}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a policy glob to an anchored regular expression.

    Raises:
        GlobError: empty pattern, absolute path, ``.``/``..``/empty segments, a backslash,
            ``**`` mixed with other characters in one segment, or a bad character class.
    """
    if not pattern:
        raise GlobError("empty pattern")
    if pattern.startswith("/"):
        raise GlobError("patterns are relative to the model root; drop the leading '/'")
    if "\\" in pattern or "\x00" in pattern:
        raise GlobError("backslashes and NUL are not allowed in patterns")
    if pattern != pattern.strip() or any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in pattern):
        # A stray newline from YAML would make a rule (or exception) that never matches
        # what it was written for; names with such characters are still matched by `*`.
        raise GlobError("patterns cannot start or end with whitespace or hold control characters")
    segments = pattern.split("/")
    parts: list[str] = []
    for index, seg in enumerate(segments):
        last = index == len(segments) - 1
        if seg in ("", ".", ".."):
            raise GlobError(f"segment {seg!r} is not allowed (no empty, '.' or '..' segments)")
        if seg == "**":
            parts.append("(?:.*)" if last else "(?:[^/]+/)*")
            continue
        if "**" in seg:
            raise GlobError("'**' must be a whole path segment (e.g. '**/*.bin')")
        parts.append(_segment_regex(seg) + ("" if last else "/"))
    try:
        return re.compile("".join(parts), re.DOTALL)
    except re.error as exc:  # a reversed range such as '[z-a]'
        raise GlobError(f"bad character class: {exc.msg}") from None


@dataclass(frozen=True)
class PathPattern:
    """One compiled rule pattern."""

    pattern: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, pattern: str) -> PathPattern:
        """Compile `pattern`; raises GlobError when refused."""
        return cls(pattern, glob_regex(pattern))

    def matches(self, rel_path: str) -> bool:
        """True when the whole model-relative path matches."""
        return self.regex.fullmatch(rel_path) is not None
