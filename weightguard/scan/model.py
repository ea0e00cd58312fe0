"""Result values of the scanner: outcomes, severities, findings and per-file results.

Everything here is a frozen value. Nothing in this module reads files or parses pickles;
it only defines what a scan returns and how it becomes JSON (the `details` of the shared
report contract in `weightguard.report`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    """What a file (or a whole scan) amounts to. Ordered: clean < incomplete < unsafe."""

    CLEAN = "clean"
    INCOMPLETE = "incomplete"
    UNSAFE = "unsafe"

    @property
    def rank(self) -> int:
        """Position in the fail-closed order (higher is worse)."""
        return _OUTCOME_RANK[self]


_OUTCOME_RANK = {Outcome.CLEAN: 0, Outcome.INCOMPLETE: 1, Outcome.UNSAFE: 2}


def worst_outcome(outcomes: Iterable[Outcome]) -> Outcome:
    """Combine outcomes: unsafe beats incomplete beats clean."""
    worst = Outcome.CLEAN
    for outcome in outcomes:
        if outcome.rank > worst.rank:
            worst = outcome
    return worst


class Severity(str, Enum):
    """How bad a finding is. Only grading: the outcome decides pass or fail."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class Role(str, Enum):
    """The opcode position a global is used in (design note 8.2: allowlist by role).

    CALL: called by REDUCE, INST or OBJ. NEW: class of NEWOBJ/NEWOBJ_EX (``cls.__new__``).
    BUILD: objects made by this global may receive BUILD state. PERSID: the storage type
    tag inside a persistent id. VALUE: imported and used as a plain value (a dtype, a
    type argument, a default factory).
    """

    CALL = "call"
    NEW = "new"
    BUILD = "build"
    PERSID = "persid"
    VALUE = "value"


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a file is not clean.

    Attributes:
        rule: stable rule id, e.g. ``global.not_allowed`` or ``pickle.frame_straddle``.
        outcome: what this finding alone makes of the file (unsafe or incomplete).
        severity: grading for humans and SARIF levels.
        message: one line explaining the finding.
        file: the scanned path as given (or found in a directory walk).
        member: the container member path, ``a.zip!b.pt!archive/data.pkl`` style, if any.
        offset: byte offset inside the member (or file) where the opcode starts.
        opcode: the pickle opcode name, when the finding is about one.
        global_name: ``module.qualname`` of the global involved, if any.
        role: the role the global was used in, if any.
        hint: how to permit it (profile or allow line), or what to do instead.
    """

    rule: str
    outcome: Outcome
    severity: Severity
    message: str
    file: str = ""
    member: str | None = None
    offset: int | None = None
    opcode: str | None = None
    global_name: str | None = None
    role: Role | None = None
    hint: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form (unset optional fields are omitted)."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
        }
        optional = {
            "member": self.member,
            "offset": self.offset,
            "opcode": self.opcode,
            "global": self.global_name,
            "role": self.role.value if self.role else None,
            "hint": self.hint,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


@dataclass(frozen=True, slots=True)
class FileResult:
    """The scan of one file.

    Attributes:
        path: the file as given or found.
        format: the detected container format (``torch-zip``, ``pickle``, ``unknown`` ...).
        outcome: clean, unsafe or incomplete.
        findings: every finding, in discovery order.
        globals: every ``module.qualname`` imported by any pickle in the file (sorted).
        members: container members that were parsed as pickles or scanned recursively.
        bytes_read: bytes read from the file itself (not counting decompressed output).
    """

    path: str
    format: str
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    globals: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    bytes_read: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form used inside the scan report's ``files`` list."""
        return {
            "path": self.path,
            "format": self.format,
            "outcome": self.outcome.value,
            "globals": list(self.globals),
            "members": list(self.members),
            "bytes_read": self.bytes_read,
            "findings": [f.to_json_dict() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The scan of one or more paths (directories are walked).

    Attributes:
        files: one result per regular file, in walk order.
        profiles: the allowlist profiles that were active.
        allowed: extra ``module.qualname`` entries that were active.
        errors: internal errors (bugs) met while scanning; any makes the scan an error.
    """

    files: tuple[FileResult, ...]
    profiles: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())

    @property
    def outcome(self) -> Outcome:
        """The worst file outcome; an empty scan is incomplete (nothing was checked)."""
        if not self.files:
            return Outcome.INCOMPLETE
        return worst_outcome(f.outcome for f in self.files)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings of all files."""
        return tuple(f for result in self.files for f in result.findings)

    @property
    def clean(self) -> bool:
        """True only when every file is clean and no internal error happened."""
        return not self.errors and self.outcome is Outcome.CLEAN
