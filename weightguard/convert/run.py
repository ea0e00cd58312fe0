"""The conversion pipeline: scan, parse, plan, stream, verify, sign, publish.

Order matters for failing closed (docs/convert.md, "What convert guarantees"):

1. inputs are found and their formats detected, outputs checked
   (`weightguard.convert.jobs`);
2. every input is scanned (`weightguard.scan.scan`); anything but a clean verdict ends
   the conversion with that verdict and the findings, and nothing is written;
3. each checkpoint is parsed (never unpickled), planned, streamed into an unnamed file
   beside its output, and verified (`weightguard.convert.check`) while the input's
   SHA-256 is computed in a second thread; the input must still be the file scanned;
4. only when every file verified, the provenance record is signed and written, then the
   outputs are published; a failure there removes what was already published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from weightguard.convert.check import ReadBack, verify_written
from weightguard.convert.extract import extract
from weightguard.convert.jobs import Job, plan_jobs
from weightguard.convert.model import ConversionResult, FileConversion
from weightguard.convert.outfile import PendingFile
from weightguard.convert.plan import make_plan
from weightguard.convert.provenance import BUILDER_ID, build_statement
from weightguard.convert.shards import IndexRewrite
from weightguard.convert.source import open_checkpoint
from weightguard.convert.writer import CHUNK, SourceReader, write_file
from weightguard.digest import FileState, HashTask, hash_range
from weightguard.errors import (
    InternalError,
    ModelChangedError,
    ModelReadError,
    UsageError,
    WeightguardError,
)
from weightguard.report import Reason, Verdict
from weightguard.signing import Signer

PROVENANCE_SUFFIX = ".provenance.json"
DIRECTORY_RECORD = "conversion.provenance.json"
EXPANSION = 4  # outputs may be at most 4x the input (+64 MiB) unless the caller says more
Progress = Callable[[int], None]


def _scan(paths: Sequence[Path], profiles: Sequence[str] | None, allow: Sequence[str]) -> Any:
    from weightguard.scan import scan

    return scan(list(paths), profiles=profiles, allow=allow)


def _refusal(result: Any) -> ConversionResult | None:
    """A result that ends the conversion when the scan is not clean, else None."""
    if result.errors:
        raise InternalError(f"the scanner failed: {result.errors[0]}", code="scan.internal")
    outcome = result.outcome.value
    if outcome == "clean":
        return None
    verdict = Verdict.REJECTED if outcome == "unsafe" else Verdict.INCOMPLETE
    reasons = [
        Reason(code=f"scan.{f.rule}", message=f.message, path=f.file) for f in result.findings
    ]
    reasons.insert(
        0,
        Reason(
            code="convert.refused",
            message=f"the scan found the input {outcome}; nothing was converted or written",
        ),
    )
    return ConversionResult(
        files=(),
        verdict=verdict,
        reasons=tuple(reasons),
        scan_verdict=outcome,
        profiles=tuple(result.profiles),
        findings=tuple(f.to_json_dict() for f in result.findings),
    )


def _convert_one(
    job: Job,
    pending: PendingFile,
    *,
    prefer: Sequence[str],
    state_dict_key: str | None,
    chunk: int,
    expansion: float,
    progress: Progress | None,
    hash_input: bool,
) -> FileConversion:
    path = str(job.source)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(job.source, flags)
    except OSError as exc:
        raise ModelReadError(f"cannot open: {exc.strerror or exc}", path=path) from exc
    with os.fdopen(fd, "rb") as fh, ThreadPoolExecutor(2, "wg-convert") as pool:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or FileState.of(st) != job.state:
            raise ModelChangedError("the input changed after it was scanned", path=path)
        # The input's SHA-256 (a provenance material) costs a full SHA-256 pass: only
        # when a record is written. It also re-checks that the input did not change.
        input_hash = (
            pool.submit(hash_range, HashTask(path, 0, None, job.state), "sha256")
            if hash_input
            else None
        )
        try:
            ckpt = open_checkpoint(path, fh, job.fmt)
            extraction = extract(ckpt, state_dict_key=state_dict_key)
            plan = make_plan(
                extraction,
                prefer=prefer,
                path=path,
                max_output_bytes=int(st.st_size * expansion) + (64 << 20),
            )
            source = SourceReader(fd, path)
            readback = ReadBack(pending.fd, plan, source, chunk)
            try:
                write_file(
                    source,
                    pending.fd,
                    plan,
                    chunk=chunk,
                    progress=progress,
                    written=readback.advance,
                )
                # Durability (fsync) overlaps the end of the read-back verification.
                synced = pool.submit(os.fsync, pending.fd)
                out_sha = verify_written(
                    pending.fd, pending.read_path, plan, readback, shown=str(job.target)
                )
                synced.result()
            except OSError as exc:
                raise ModelReadError(
                    f"cannot write: {exc.strerror or exc}",
                    path=str(job.target),
                    code="output.unwritable",
                ) from exc
            finally:
                readback.close()
        finally:
            in_sha = input_hash.result() if input_hash is not None else None
        if FileState.of(os.fstat(fd)) != job.state:
            raise ModelChangedError("the input changed during the conversion", path=path)
    return FileConversion(
        input=job.display,
        output=str(job.target),
        input_format=job.fmt,
        input_sha256=in_sha,
        output_sha256=out_sha,
        tensors=len(plan.placed),
        aliases=dict(plan.aliases),
        kept=plan.kept,
        dropped=plan.dropped,
        state_dict_path=extraction.state_dict_path,
        output_bytes=plan.total_bytes,
    )


def convert(
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    profiles: Sequence[str] | None = None,
    allow: Sequence[str] = (),
    prefer: Sequence[str] = (),
    state_dict_key: str | None = None,
    signer: Signer | None = None,
    attestation: str | os.PathLike[str] | None = None,
    builder_id: str = BUILDER_ID,
    chunk_size: int = CHUNK,
    expansion: float = EXPANSION,
    progress: Progress | None = None,
) -> ConversionResult:
    """Convert a pickle checkpoint (or every checkpoint in a directory) to safetensors.

    Nothing is unpickled and torch is never imported. See the module docstring for the
    order of steps and docs/convert.md for naming and metadata rules.

    Args:
        input_path: a checkpoint file, or a directory (walked recursively).
        output: the output file [default: ``default_output(input)``], or for a directory
            input the output directory [default: beside each input].
        force: replace existing outputs (never the input).
        profiles / allow: scanner allowlist profiles and extra globals.
        prefer: names to keep when tied tensors are de-duplicated.
        state_dict_key: dotted path of the state dict, instead of the automatic search.
        signer: sign a provenance record with it (any signer ``weightguard sign`` takes).
        attestation: where to write the record [default: ``OUTPUT.provenance.json``, or
            ``OUTDIR/conversion.provenance.json``]; needs `signer`.
        builder_id: the SLSA builder id recorded (CI systems pass their own URI).
        chunk_size: copy and gather block size in bytes (peak memory is about 3x this).
        expansion: refuse outputs larger than ``expansion`` x input size + 64 MiB.
        progress: called with the number of bytes written, as they are written.

    Returns:
        A `ConversionResult`: ``accepted`` with the converted files, or ``rejected`` /
        ``incomplete`` with the scan findings when the scan refused the input (nothing
        is written then).

    Raises:
        UsageError: bad paths or options, an existing output without `force`.
        IncompleteError / ModelReadError: an input cannot be converted faithfully or read.
        InternalError: the scanner failed.
    """
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if attestation is not None and signer is None:
        raise UsageError("a provenance record needs a signer (--sign-key or --sigstore)")
    source = Path(input_path)
    out = Path(output) if output is not None else None
    jobs, skipped, directory, indexes = plan_jobs(source, out, force)
    record: Path | None = None
    if signer is not None:
        if attestation is not None:
            record = Path(attestation)
        elif directory:
            record = (out or source) / DIRECTORY_RECORD
        else:
            record = jobs[0].target.with_name(jobs[0].target.name + PROVENANCE_SUFFIX)
        if record.exists() and not force:
            raise UsageError(
                "the provenance record exists (use --force to replace it)",
                path=str(record),
                code="output.exists",
            )
    scan_result = _scan([j.source for j in jobs] + [i.source for i in indexes], profiles, allow)
    refused = _refusal(scan_result)
    if refused is not None:
        return refused
    pendings: list[PendingFile] = []
    created: list[Path] = []  # output directories made here, removed again on failure
    ok = False
    try:
        done: list[FileConversion] = []
        for job in jobs:
            created += _make_dirs(job.target.parent)
            pending = PendingFile(job.target, force=force)
            pendings.append(pending)
            done.append(
                _convert_one(
                    job,
                    pending,
                    prefer=prefer,
                    state_dict_key=state_dict_key,
                    chunk=chunk_size,
                    expansion=expansion,
                    progress=progress,
                    hash_input=signer is not None,
                )
            )
        for rewrite in indexes:  # shard indexes: published with the shards, or not at all
            pending = PendingFile(rewrite.target, force=force)
            pendings.append(pending)
            _write_bytes(pending.fd, rewrite.data)
            done.append(_index_result(rewrite))
        names = [(j.name_in, j.name_out) for j in jobs] + [
            (_relative(i.source, source), _relative(i.target, out or source)) for i in indexes
        ]
        globals_ = tuple(sorted({g for f in scan_result.files for g in f.globals}))
        if record is not None and signer is not None:
            _write_record(
                record,
                signer,
                names,
                done,
                scan_result,
                globals_,
                started,
                builder_id,
                {
                    "profiles": list(scan_result.profiles),
                    "allow": list(allow),
                    "prefer": list(prefer),
                    "stateDictKey": state_dict_key,
                },
            )
        try:
            for pending in pendings:
                pending.commit()
        except WeightguardError:
            for pending in pendings:
                pending.unpublish()
            if record is not None:
                record.unlink(missing_ok=True)
            raise
        ok = True
    finally:
        for pending in pendings:
            pending.close()
        if not ok:
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty
    return ConversionResult(
        files=tuple(done),
        verdict=Verdict.ACCEPTED,
        scan_verdict="clean",
        scan_globals=globals_,
        attestation=str(record) if record is not None else None,
        profiles=tuple(scan_result.profiles),
        skipped=tuple(skipped),
    )


def _make_dirs(folder: Path) -> list[Path]:
    """mkdir -p, returning the directories it created (outermost first)."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return list(reversed(missing))


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _write_bytes(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _index_result(rewrite: IndexRewrite) -> FileConversion:
    return FileConversion(
        input=str(rewrite.source),
        output=str(rewrite.target),
        input_format="hf-index",
        input_sha256=rewrite.source_sha256,
        output_sha256=rewrite.output_sha256,
        tensors=0,
        output_bytes=len(rewrite.data),
    )


def _write_record(
    record: Path,
    signer: Signer,
    names: Sequence[tuple[str, str]],
    done: Sequence[FileConversion],
    scan_result: Any,
    globals_: tuple[str, ...],
    started: str,
    builder_id: str,
    options: dict[str, Any],
) -> None:
    from weightguard.attestation import sign_statement
    from weightguard.fileio import write_atomic

    statement = build_statement(
        [(name_in, name_out, fc) for (name_in, name_out), fc in zip(names, done, strict=True)],
        options=options,
        scan={
            "verdict": "clean",
            "profiles": list(scan_result.profiles),
            "globals": list(globals_),
        },
        started=started,
        builder_id=builder_id,
    )
    write_atomic(record, sign_statement(statement, signer))
