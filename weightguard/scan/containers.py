"""Open every container by content and run each pickle stream through the VM and judge.

`Scanner.scan_file(path)` detects the format from bytes (`formats.sniff`) and hands the
file to the reader for that format, recursively up to `Limits.max_depth`:
- pickle streams (raw and stacked pickles, joblib files) are parsed here;
- zip archives (torch, TorchScript, npz, plain): `weightguard.scan.zipscan`;
- legacy torch files and legacy tar checkpoints: `weightguard.scan.legacy`;
- tar, 7z and gzip/bz2/xz/lzma/zlib wrappers: `weightguard.scan.archives`;
- .npy and safetensors headers: `weightguard.scan.datafiles`.
Each of those modules is imported only when a file of its format is met, so scanning a
torch checkpoint never loads the tar, 7z, decompression or joblib code. Only directories,
headers and pickle members are read; tensor data never is. Every failure to read or
parse becomes an `incomplete` finding (fail closed); nothing here raises for bad input.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from weightguard.pickle.formats import Detection, classify
from weightguard.pickle.limits import Limits
from weightguard.pickle.machine import Machine, PickleProgram
from weightguard.pickle.reader import Reader
from weightguard.pickle.streams import Counting, Region, as_file
from weightguard.pickle.values import BytesRef, Global, Obj, Tuple, Value
from weightguard.pickle.vm import parse_pickle
from weightguard.scan.allowlist import Allowlist
from weightguard.scan.filescan import FileScan, join
from weightguard.scan.judge import Judge, NestedScan, PersidCheck
from weightguard.scan.model import FileResult, Finding, Outcome, Severity, worst_outcome

_COMPRESSED = ("gzip", "bz2", "xz", "lzma", "zlib")
# Formats `weightguard.pickle.datafmt` refines and judges during detection.
DATAFMT_KINDS = frozenset(
    {"gguf", "onnx", "unknown", "sentencepiece", "flax-msgpack", "hdf5", "tf-savedmodel"}
)
_JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"


def _joblib_hook(m: Machine, target: Value, offset: int) -> None:
    # `weightguard.pickle.joblibfmt.joblib_hook`, imported on the first BUILD whose target
    # names joblib's array wrapper (as its class, or as the class argument of a
    # reconstructor); the hook itself makes the exact decision. Torch checkpoints never
    # name the wrapper, so they never load the joblib code.
    if not isinstance(target, Obj) or not isinstance(target.callee, Global):
        return
    first = target.args.items[0] if isinstance(target.args, Tuple) and target.args.items else None
    if target.callee.qualname == _JOBLIB_WRAPPER or (
        isinstance(first, Global) and first.qualname == _JOBLIB_WRAPPER
    ):
        from weightguard.pickle.joblibfmt import joblib_hook

        joblib_hook(m, target, offset)


def _reusable(view: PickleProgram | None) -> PickleProgram | None:
    """The detector's run of a stream, if scanning it again could only repeat it.

    Detection parses from byte 0 with the same machine, limits and file budget but no
    joblib hook; a run that stopped early (a budget, a bomb, truncation) with no joblib
    array wrapper named before the stop ends at the same error when parsed again, and
    nothing after an error is read. Reusing it halves the cost of every bomb. A run
    that reached STOP is parsed again (the reader must stand after it for what follows).
    """
    if view is None or view.error is None or view.start != 0:
        return None
    for event in view.events:
        node = event.node
        if event.kind == "global" and isinstance(node, Global) and node.qualname == _JOBLIB_WRAPPER:
            return None
    return view


def _is_zfile(fh: BinaryIO) -> bool:
    fh.seek(0)
    return fh.read(2) == b"ZF"


class Scanner:
    """Scans files with one allowlist and one set of limits."""

    def __init__(self, allow: Allowlist, limits: Limits) -> None:
        self.allow = allow
        self.limits = limits

    def scan_file(self, path: str) -> FileResult:
        """Scan one regular file (never raises for bad content; OSError for I/O)."""
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            fs = FileScan(path, self.allow, self.limits, size)
            fh = Counting(raw)
            kind = self.dispatch(fs, as_file(fh), size, None, 0)
            read = fh.count
        outcome = worst_outcome(f.outcome for f in fs.findings)
        return FileResult(
            path=path,
            format=kind,
            outcome=outcome,
            findings=tuple(fs.findings),
            globals=tuple(sorted(fs.globals)),
            members=tuple(fs.members),
            bytes_read=read,
        )

    def dispatch(
        self, fs: FileScan, fh: BinaryIO, size: int, member: str | None, depth: int
    ) -> str:
        """Scan a seekable byte source by its content; returns the detected format."""
        if depth > self.limits.max_depth:
            fs.incomplete("container.depth", "containers are nested too deeply", member)
            return "nested"
        det = classify(fh, size, self.limits, fs.budget, zip_kinds=False)
        kind = det.content
        reuse = _reusable(det.view)
        if det.view is not None and reuse is None:
            fs.budget.left += det.view.opcodes  # parsed again below: charged once
            if det.content in ("text", "json", "unknown"):
                kind = det.kind  # plainly a pickle
            else:
                # A data file that is, from byte 0, also a pickle that runs something:
                # the code-running reading decides; both readings are scanned.
                self._polyglot(fs, det, fh, size, member, depth)
        kind = {
            "torch-zip": "zip",
            "torchscript": "zip",
            "npz": "zip",
            "keras": "zip",
            "torch-tar": "tar",
        }.get(kind, kind)
        if det.problem and kind == "unknown":
            fs.incomplete(
                "safetensors.invalid", f"not a valid safetensors file: {det.problem}", member
            )
            return "safetensors"
        if kind == "joblib" and _is_zfile(fh):
            from weightguard.scan import archives

            return archives.scan_zfile(self, fs, fh, size, member, depth)
        if kind == "zip":
            from weightguard.scan import zipscan

            return zipscan.scan_zip(self, fs, fh, size, member, depth)
        if kind == "tar":
            from weightguard.scan import archives

            return archives.scan_tar(self, fs, fh, size, member, depth)
        if kind in _COMPRESSED:
            from weightguard.scan import archives

            return archives.scan_compressed(self, fs, fh, kind, member, depth)
        if kind == "torch-legacy":
            from weightguard.scan import legacy

            legacy.scan_torch_legacy(self, fs, fh, size, member)
        elif kind in ("pickle", "joblib"):
            self.pickles(fs, fh, 0, size, member, depth, persid=None, first=reuse)
        elif kind == "numpy":
            from weightguard.scan import datafiles

            datafiles.scan_npy(self, fs, fh, size, member, depth)
        elif kind == "7z":
            from weightguard.scan import archives

            archives.scan_sevenzip(self, fs, fh, member, depth)
        elif kind == "safetensors":
            pass  # validated completely by `classify` (weightguard.pickle.stcheck)
        elif kind in ("lz4", "zstd"):
            fs.incomplete(
                "format.unsupported",
                f"{kind}-compressed data is not supported",
                member,
                hint="decompress it and scan the result",
            )
        elif kind in DATAFMT_KINDS:  # refined (and judged) by weightguard.pickle.datafmt
            if det.data_problem:
                rule, outcome, message = det.data_problem
                fs.add(rule, Outcome(outcome), Severity.HIGH, message, member=member)
            elif kind == "unknown":
                fs.incomplete(
                    "format.unknown",
                    "not a format weightguard knows; it cannot be shown free of code",
                    member,
                )
        elif kind not in ("text", "json", "empty"):
            # Every kind the detector can answer has a branch above: a new one must not
            # fall through as clean.
            fs.incomplete("format.unknown", f"no scanner for format {kind!r}", member)
        return kind

    def _polyglot(
        self,
        fs: FileScan,
        det: Detection,
        fh: BinaryIO,
        size: int,
        member: str | None,
        depth: int,
    ) -> None:
        shown = det.content
        fs.add(
            "format.polyglot",
            Outcome.UNSAFE,
            Severity.HIGH,
            f"the file is a {shown} file and, from byte 0, also a pickle; pickle.load, "
            "joblib.load or torch.load would unpickle it instead",
            member=member,
            offset=0,
        )
        self.pickles(fs, fh, 0, size, member, depth, persid=None, trailing=False)

    # -- pickle streams ---------------------------------------------------------------

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
        judge = Judge(self.allow, fs.path, member, base, persid, nested)
        judge.judge(program)
        fs.findings.extend(judge.findings)
        fs.globals.update(judge.globals)

    def nested(
        self, fs: FileScan, fh: BinaryIO, start: int, member: str | None, depth: int
    ) -> NestedScan:
        """A scanner for literal payloads handed to nested loaders inside `member`."""

        def scan_nested(data: bytes | BytesRef, kind: str, offset: int) -> list[Finding]:
            label = join(member, f"<nested@{offset}>")
            if isinstance(data, BytesRef):
                if not fh.seekable():
                    fs.incomplete("nested.unreadable", "embedded payload in a stream", label)
                    return []
                sub: BinaryIO = as_file(Region(fh, start + data.offset, data.length))
                size = data.length
            else:
                sub, size = io.BytesIO(data), len(data)
            fs.members.append(label)
            self.dispatch(fs, sub, size, label, depth + 1)
            return []

        return scan_nested

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
        """Parse `count` pickles from `start`, judge them, and flag bytes after them.

        `first`: the detector's run of the first stream, when it is known to end the
        same way here (`_reusable`): judged as it is instead of parsed a second time.
        """
        reader = Reader(fh, start=start, limit=limit)
        programs: list[PickleProgram] = []
        nested = self.nested(fs, fh, start, member, depth)
        fs.members.append(member or "<pickle>")
        for _ in range(count):
            if first is not None:
                program, first = first, None
            else:
                program = parse_pickle(
                    reader, limits=self.limits, build_hook=_joblib_hook, budget=fs.budget
                )
            self.judge(fs, program, member, start, persid, nested)
            programs.append(program)
            if program.error is not None:
                return programs, reader
        if trailing and not reader.at_end():
            at = reader.offset - start
            fs.add(
                "pickle.trailing_data",
                Outcome.UNSAFE,
                Severity.MEDIUM,
                f"bytes follow the pickle at offset {at}; a loader that reads on would "
                "run them (several pickles where one is expected)",
                member=member,
                offset=at,
            )
            for _ in range(self.limits.max_pickles):
                if reader.at_end():
                    break
                program = parse_pickle(
                    reader, limits=self.limits, build_hook=_joblib_hook, budget=fs.budget
                )
                self.judge(fs, program, member, start, None, nested)
                if program.error is not None:
                    break
        return programs, reader


__all__ = ["Scanner"]
