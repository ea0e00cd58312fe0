"""Release versions as CI names them: a tag such as ``v2.4.0`` becomes the version a policy
compares (``2.4.0``).

Owns: reading the version given to ``sign --model-version`` (and anything else that signs a
release version), so `$GITHUB_REF_NAME` / `$CI_COMMIT_TAG` can be passed as they are. The
parsing is `packaging`'s (PEP 440, the reading pip and every Python tool share), imported
lazily; the signed value is its normalised form, never the raw tag, so every verifier reads
the same number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weightguard.errors import UsageError

if TYPE_CHECKING:
    from packaging.version import Version

# Versions longer than this are refused before parsing: `int()` raises past 4300 digits.
_MAX_VERSION_CHARS = 128


def release_version(text: str) -> str:
    """The normalised PEP 440 version of a release tag or version (``v2.4.0`` -> ``2.4.0``).

    Raises:
        UsageError: (exit 2, ``usage.version``) not a version: empty, padded with
            whitespace, a branch name, a local version (``+build``) or anything PEP 440
            refuses.
    """
    from packaging.version import InvalidVersion, Version

    problem = None
    if not text or text.strip() != text:
        problem = "empty or padded with whitespace"
    elif len(text) > 128 or not text.isascii():
        problem = "longer than 128 characters or not ASCII"
    else:
        try:
            version = Version(text)
        except (InvalidVersion, ValueError):  # ValueError: int() past 4300 digits
            problem = "not a PEP 440 version"
        else:
            if version.local is not None:
                # A local label (`+cu121`) says how one copy was built, not which release.
                problem = "a local version label (+...) names a build, not a release"
            else:
                return str(version)
    raise UsageError(
        f"--model-version must be a release version like 2.4.0 or v2.4.0 ({problem}): {text!r}",
        code="usage.version",
    )


def parse_version(text: str) -> Version | None:
    """A release version as `packaging` reads it (PEP 440: ``2.3``, ``v2.4.0``,
    ``2.5.0rc1``); None otherwise. ``2.3`` equals ``2.3.0``; a pre-release sorts below
    its release, so it never meets that release's floor. Only ASCII digits count
    (packaging's pattern is ASCII), and the length is bounded.

    What a policy's rollback floor (`minVersion`) and a signed version are compared as;
    unlike `release_version` it never raises and accepts a local label.
    """
    from packaging.version import InvalidVersion
    from packaging.version import Version as _Version

    if len(text) > _MAX_VERSION_CHARS or not text.isascii() or text.strip() != text:
        return None
    try:
        version = _Version(text)
    except (InvalidVersion, ValueError):
        return None
    # Bounded like every number we read: at most 32 parts of at most 18 digits.
    if len(version.release) > 32 or any(part >= 10**18 for part in version.release):
        return None
    return version
