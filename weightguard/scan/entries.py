"""Allowlist entries: one trusted global, the roles it may be used in, and its conditions.

`Entry` is the unit every profile (`weightguard.scan.profiles_core`,
`weightguard.scan.profiles_optin`) and every ``--allow`` line is made of;
`weightguard.scan.allowlist` combines the active ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from weightguard.scan.conditions import Cond, StateCond
from weightguard.scan.model import Role

CALL, NEW, BUILD, PERSID, VALUE = Role.CALL, Role.NEW, Role.BUILD, Role.PERSID, Role.VALUE


@dataclass(frozen=True, slots=True)
class Entry:
    """One allowlisted global.

    Attributes:
        qualname: ``module.qualname`` exactly as the unpickler would resolve it.
        roles: the roles it may be used in.
        why: one line of justification.
        profile: the profile that contributes it (``allow`` for user entries).
        call: argument condition for CALL/NEW uses (None: any arguments).
        state: BUILD state condition (None with BUILD in roles: any str-keyed dict).
        setitems / appends: whether SETITEM(S) / APPEND(S) may target its objects.
    """

    qualname: str
    roles: frozenset[Role]
    why: str
    profile: str
    call: Cond | None = None
    state: StateCond | None = None
    setitems: bool = False
    appends: bool = False


def entries(
    profile: str,
    names: Iterable[str],
    roles: Iterable[Role],
    why: str,
    *,
    call: Cond | None = None,
    state: StateCond | None = None,
    setitems: bool = False,
    appends: bool = False,
) -> list[Entry]:
    """One entry per name, all with the same roles, justification and conditions."""
    return [Entry(n, frozenset(roles), why, profile, call, state, setitems, appends) for n in names]
