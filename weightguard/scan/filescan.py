"""The base types of a container walk: one file's findings, and what a format reader may ask.

`FileScan` collects the findings and facts of one top-level file; `Walker` is the part of
the scanner (`weightguard.scan.containers.Scanner`) that the container readers
(`weightguard.scan.zipscan`, `archives`, `legacy`, `datafiles`) call back into: dispatch a
member by content, parse and judge pickles, judge one program, scan nested payloads.
The readers import this module, never `containers`, and `containers` imports the readers
(lazily, per format): the dispatch sits above the readers and the base types below them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Protocol

from weightguard.pickle.limits import Limits
from weightguard.pickle.machine import OpBudget, PickleProgram
from weightguard.pickle.reader import Reader
from weightguard.scan.model import Finding, Outcome, Severity

if TYPE_CHECKING:
    from weightguard.scan.allowlist import Allowlist
    from weightguard.scan.judge import NestedScan, PersidCheck


class FileScan:
    """Findings and facts collected while scanning one top-level file."""

    def __init__(self, path: str, allow: Allowlist, limits: Limits, size: int = 0) -> None:
        self.path = path
        self.budget = OpBudget(limits, size)
        self.allow = allow
        self.limits = limits
        self.findings: list[Finding] = []
        self.globals: set[str] = set()
        self.members: list[str] = []

    def add(
        self,
        rule: str,
        outcome: Outcome,
        severity: Severity,
        message: str,
        *,
        member: str | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        """Record a container-level finding."""
        self.findings.append(
            Finding(
                rule=rule,
                outcome=outcome,
                severity=severity,
                message=message,
                file=self.path,
                member=member,
                offset=offset,
                hint=hint,
            )
        )

    def incomplete(
        self, rule: str, message: str, member: str | None, hint: str | None = None
    ) -> None:
        """Record that something could not be fully read or parsed."""
        self.add(rule, Outcome.INCOMPLETE, Severity.MEDIUM, message, member=member, hint=hint)


def join(member: str | None, name: str) -> str:
    """The member path of `name` inside `member` (``outer!inner``)."""
    return f"{member}!{name}" if member else name


class Walker(Protocol):
    """What a container reader may ask of the scanner that dispatched to it."""

    @property
    def limits(self) -> Limits:
        """The budgets of this scan."""
        ...

    def dispatch(
        self, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
    ) -> str:
        """Scan a seekable byte source by its content; returns the detected format."""
        ...

    def judge(
        self,
        fs: FileScan,
        program: PickleProgram,
        member: str | None,
        base: int,
        persid: PersidCheck | None,
        nested: NestedScan | None,
    ) -> None:
        """Judge one program and fold its findings into the file scan."""
        ...

    def nested(
        self, fs: FileScan, fh: BinaryIO, start: int, member: str | None, depth: int
    ) -> NestedScan:
        """A scanner for literal payloads handed to nested loaders inside `member`."""
        ...

    def pickles(
        self,
        fs: FileScan,
        fh: BinaryIO,
        start: int,
        limit: int | None,
        member: str | None,
        depth: int,
        *,
        persid: PersidCheck | None,
        count: int = 1,
        trailing: bool = True,
        first: PickleProgram | None = None,
    ) -> tuple[list[PickleProgram], Reader]:
        """Parse `count` pickles from `start`, judge them, and flag bytes after them."""
        ...
