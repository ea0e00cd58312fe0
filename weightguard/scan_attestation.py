"""A signed scan attestation: what `weightguard scan --attest` writes for a policy's
`scan: {source: attestation | any}` to accept instead of scanning again at deploy time.

Owns: turning a `ScanResult` into an in-toto Statement v1 of predicate type
``https://weightguard.dev/scan/v1`` whose subjects are the scanned files' sha256 digests
(the gate matches a file's digest, so the statement binds content, not names) and whose
predicate carries the overall ``outcome`` the policy requires to be ``clean``.

The outcome is the whole scan's, given to every subject: a statement never claims one file
clean on the strength of a scan that found another unsafe, so a partly unsafe model is
attested as unsafe everywhere (the policy then refuses each file). A scan with internal
errors is not attested at all.

Files are hashed after the scan, by the same process that scanned them: the attestation is
made by the release job, which is trusted (it holds the signing identity); someone who can
rewrite files inside that job can also sign whatever they like, so a second scan pass would
add cost without adding a guarantee.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from weightguard.errors import IncompleteError, InternalError
from weightguard.scan.model import ScanResult

PREDICATE_TYPE = "https://weightguard.dev/scan/v1"  # == weightguard.policy.values.SCAN_PREDICATE


def scan_statement(
    result: ScanResult,
    digests: Sequence[str],
    *,
    scanner_version: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The in-toto statement about `result`'s files (`digests`: their sha256, in order).

    Raises:
        InternalError: the scan met internal errors (exit 4, as the scan itself).
        IncompleteError: the scan found no file: nothing to attest (exit 3).
    """
    from weightguard.attestation import make_statement

    if result.errors:
        raise InternalError(
            "the scan met internal errors; refusing to attest it: " + "; ".join(result.errors),
            code="scan.attest_refused",
        )
    if not result.files:
        raise IncompleteError("the scan found no file to attest", code="scan.attest_refused")
    if len(digests) != len(result.files):
        raise ValueError("one digest per scanned file")
    when = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    files = [
        {"path": f.path, "sha256": d, "format": f.format, "outcome": f.outcome.value}
        for f, d in zip(result.files, digests)
    ]
    predicate = {
        "outcome": result.outcome.value,
        "scanner": {"name": "weightguard", "version": scanner_version},
        "profiles": list(result.profiles),
        "allowed": list(result.allowed),
        "scannedAt": when.isoformat(),
        "files": files,
    }
    subjects: list[tuple[str, Mapping[str, str]]] = [
        (f.path, {"sha256": d}) for f, d in zip(result.files, digests)
    ]
    return make_statement(subjects, PREDICATE_TYPE, predicate)


def hash_scanned(result: ScanResult) -> list[str]:
    """sha256 of every scanned file, in order (no symlink followed, regular files only).

    Raises:
        ModelReadError: a file could not be opened or read, or is not a regular file.
    """
    from weightguard.digest import HashTask, hash_tasks

    tasks = [HashTask(f.path, 0, None, display=f.path) for f in result.files]
    return hash_tasks(tasks, "sha256")
