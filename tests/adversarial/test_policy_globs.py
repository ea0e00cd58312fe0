"""Class 13: no glob feature crosses `/` (docs/policy.md, "Globs").

A rule for `weights/[a-z]*.bin` must not cover `weights/x/../evil` style deeper paths: a
bracket range whose bounds straddle `/` (`[.-0]`, `[!-~]`, ...) used to become a regex
class that matched `/`, so a rule written for one folder level silently applied to files
below it (and a narrow exception or `signatures: none` rule reached further than written).
"""

from __future__ import annotations

import pytest

from weightguard.policy.globs import GlobError, PathPattern


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("a[.-0]b", "a/b"),  # '.'..'0' contains '/' (0x2f)
        ("a[!-~]b", "a/b"),  # negated: never "/"
        ("[+-1]*", "x/y"),
        ("w/[ -~][ -~]", "w/a/"),
        ("a[/-/]b", "a/b"),  # refused: a class cannot hold a literal "/"
        ("x[\u0000-\uffff]y", "x/y"),
        ("*[.-0]*", "ab/cd"),
        ("?[.-0]?", "a/b"),
    ],
)
def test_bracket_range_never_matches_slash(pattern: str, path: str) -> None:
    try:
        pat = PathPattern.parse(pattern)
    except GlobError:
        return  # refusing the pattern is also safe
    assert not pat.matches(path), f"{pattern!r} crossed '/' in {path!r}"


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("a[.-0]b", "a.b"),
        ("a[.-0]b", "a0b"),
        ("a[!-~]b", "a.b"),
        ("[!]]x", "ax"),
        ("[a-c]*.bin", "b1.bin"),
    ],
)
def test_bracket_range_still_matches_within_a_segment(pattern: str, path: str) -> None:
    assert PathPattern.parse(pattern).matches(path)


@pytest.mark.parametrize("pattern", ["[z-a]", "x[9-0]y", "[\uffff-\u0000]"])
def test_reversed_range_is_a_glob_error_not_a_crash(pattern: str) -> None:
    # re.error escaped from the compiler: the policy load crashed (exit 4) instead of
    # reporting policy.bad_glob (exit 2).
    with pytest.raises(GlobError):
        PathPattern.parse(pattern)


@pytest.mark.parametrize(
    "pattern", ["*", "?", "[!a]", "[!.]", "[a-z]", "*?*", "[!]]", "[]-~]", "**/[.-0]"]
)
@pytest.mark.parametrize("path", ["a/b", "./b", "x/../y", "a\n/b"])
def test_no_single_segment_feature_crosses_slash(pattern: str, path: str) -> None:
    pat = PathPattern.parse(pattern)
    if pattern.startswith("**/"):
        # `**/` may cross; the segment after it may not: the last segment has no '/'.
        last = path.rsplit("/", 1)[-1]
        assert pat.matches(path) == PathPattern.parse(pattern[3:]).matches(last)
    else:
        assert not pat.matches(path)
