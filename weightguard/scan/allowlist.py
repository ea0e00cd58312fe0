"""Allowlist profiles: exact ``module.qualname`` entries, each with its roles and conditions.

A global is acceptable only if an active entry names it exactly and allows the role it
is used in (`Role`); conditional entries also check arguments or BUILD state
(`weightguard.scan.conditions`). There is no wildcard and no module prefix: a dotted
name, a parent module or a C-module alias (``_operator``, ``posix``) is a different
global and is not allowed unless listed. The ``builtins``/``__builtin__`` and
``copy_reg``/``copyreg`` spellings need no alias here because the VM applies CPython's
own fix_imports mapping for protocols below 3 before judging.

Profiles: ``torch`` and ``numpy`` are on by default (`weightguard.scan.profiles_core`);
``numpy-rng``, ``hf-trainer``, ``lightning`` and ``sklearn`` are opt-in
(`weightguard.scan.profiles_optin`, imported only when one is used). Each entry's `why`
is its justification (quoted in docs/scanning.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from weightguard.scan import conditions as c
from weightguard.scan.entries import Entry
from weightguard.scan.model import Role

__all__ = [
    "DEFAULT_PROFILES",
    "PROFILES",
    "PROFILE_NAMES",
    "Allowlist",
    "Entry",
    "profile_of",
    "user_entry",
]

DEFAULT_PROFILES = ("torch", "numpy")
# Every profile, default ones first (the order `profile_of` searches in).
PROFILE_NAMES = ("torch", "numpy", "numpy-rng", "hf-trainer", "lightning", "sklearn")


def _profile_entries(name: str) -> list[Entry]:
    if name in DEFAULT_PROFILES:
        from weightguard.scan import profiles_core

        return profiles_core.PROFILES[name]
    from weightguard.scan import profiles_optin

    return profiles_optin.PROFILES[name]  # KeyError for an unknown profile


class _Profiles(Mapping[str, list[Entry]]):
    """Profile name -> entries; a profile's table is built when it is first looked up."""

    def __getitem__(self, name: str) -> list[Entry]:
        if name not in PROFILE_NAMES:
            raise KeyError(name)
        return _profile_entries(name)

    def __iter__(self) -> Iterator[str]:
        return iter(PROFILE_NAMES)

    def __len__(self) -> int:
        return len(PROFILE_NAMES)

    def __contains__(self, name: object) -> bool:
        return name in PROFILE_NAMES


PROFILES: Mapping[str, list[Entry]] = _Profiles()


def user_entry(spec: str, why: str = "allowed on the command line") -> Entry:
    """An entry from ``--allow module.qualname`` (or ``module:qualname``).

    A user entry trusts the named global as a class or function: every role, BUILD
    with a str-keyed dict, no argument condition. It can never re-enable a
    known code-execution primitive (see `weightguard.scan.denylist`).
    """
    qualname = spec.replace(":", ".", 1) if ":" in spec else spec
    return Entry(qualname, frozenset(Role), why, "allow", state=c.strdict_state)


class Allowlist:
    """The active entries, by exact ``module.qualname``."""

    def __init__(self, profiles: Iterable[str], extra: Iterable[Entry] = ()) -> None:
        self.profiles = tuple(dict.fromkeys(profiles))
        unknown = [p for p in self.profiles if p not in PROFILES]
        if unknown:
            raise KeyError(unknown[0])
        self.entries: dict[str, Entry] = {}
        for name in self.profiles:
            for entry in PROFILES[name]:
                self.entries.setdefault(entry.qualname, entry)
        self.extra = tuple(extra)
        for entry in self.extra:
            self.entries[entry.qualname] = entry

    def get(self, qualname: str) -> Entry | None:
        """The entry for a global, if allowed at all."""
        return self.entries.get(qualname)


def profile_of(qualname: str) -> str | None:
    """The first profile (default ones first) that lists `qualname`, for fix hints."""
    for name, entries in PROFILES.items():
        if any(e.qualname == qualname for e in entries):
            return name
    return None
