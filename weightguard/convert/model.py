"""Values of a conversion: tensors found in a checkpoint, entries kept or dropped, results.

Frozen values only; nothing here reads files. The JSON forms are the ``files`` entries
of the ``convert`` report (`weightguard.report.Report.details`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weightguard.convert.dtypes import DType
from weightguard.convert.source import Span
from weightguard.report import Reason, Verdict


@dataclass(frozen=True, slots=True)
class TensorRef:
    """One tensor of the checkpoint, as a view on a storage.

    Attributes:
        name: the safetensors name (dotted path inside the state dict).
        dtype: element type.
        shape / strides: in elements (strides as torch or numpy would set them).
        offset: byte offset of the first element from the start of the storage (`span`).
        storage: identity of the storage (tensors with equal ids share memory).
        span: where the storage's bytes lie.
        big_endian: elements are stored big-endian (swapped on output).
        order: position in the checkpoint (first appearance), for stable naming rules.
    """

    name: str
    dtype: DType
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int
    storage: str
    span: Span
    big_endian: bool
    order: int

    @property
    def numel(self) -> int:
        """Number of elements."""
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def nbytes(self) -> int:
        """Bytes of the materialised (contiguous) tensor."""
        return self.numel * self.dtype.itemsize

    @property
    def view_key(self) -> tuple[str, str, int, tuple[int, ...], tuple[int, ...]]:
        """Equal for two tensors exactly when they are the same view of the same memory."""
        return (self.storage, self.dtype.name, self.offset, self.shape, self.strides)


@dataclass(frozen=True, slots=True)
class Entry:
    """A non-tensor entry: kept as header metadata (``json`` set) or dropped (``reason``)."""

    path: str
    json: str | None = None
    reason: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for reports."""
        if self.json is not None:
            return {"path": self.path, "value": self.json}
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class Extraction:
    """What a checkpoint holds, sorted into tensors, kept values and dropped entries.

    Attributes:
        tensors: in checkpoint order.
        kept / dropped: non-tensor entries.
        state_dict_path: dotted path of the state dict inside the checkpoint ("" = root).
        framework: ``pt`` when any torch tensor was found, else ``np``.
    """

    tensors: tuple[TensorRef, ...]
    kept: tuple[Entry, ...] = ()
    dropped: tuple[Entry, ...] = ()
    state_dict_path: str = ""
    framework: str = "pt"


@dataclass(frozen=True)
class FileConversion:
    """One converted checkpoint.

    Attributes:
        input / output: paths.
        input_format: detected format of the input.
        input_sha256 / output_sha256: hex digests of the whole files (the input's is
            computed only when a provenance record is written, else None).
        tensors: tensors written; aliases: alias name -> kept name.
        kept / dropped: non-tensor entries.
        state_dict_path: where the state dict was found.
        output_bytes: size of the safetensors file.
    """

    input: str
    output: str
    input_format: str
    input_sha256: str | None
    output_sha256: str
    tensors: int
    aliases: dict[str, str] = field(default_factory=dict)
    kept: tuple[Entry, ...] = ()
    dropped: tuple[Entry, ...] = ()
    state_dict_path: str = ""
    output_bytes: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form used in the report's ``files`` list."""
        return {
            "input": self.input,
            "output": self.output,
            "format": self.input_format,
            "input_sha256": self.input_sha256,
            "output_sha256": self.output_sha256,
            "output_bytes": self.output_bytes,
            "state_dict": self.state_dict_path,
            "tensors": self.tensors,
            "aliases": dict(self.aliases),
            "kept": [e.to_json_dict() for e in self.kept],
            "dropped": [e.to_json_dict() for e in self.dropped],
        }


@dataclass(frozen=True)
class ConversionResult:
    """The result of `weightguard.convert.convert`.

    Attributes:
        files: one entry per converted checkpoint (empty when the scan refused).
        verdict: ``accepted`` (converted), or the scan's ``rejected`` / ``incomplete``.
        reasons: why the conversion was refused (scan findings), empty when accepted.
        scan_verdict: the scan outcome (``clean``, ``unsafe`` or ``incomplete``).
        scan_globals: every global the scanned pickles import.
        attestation: path of the signed provenance bundle, if one was written.
        profiles: allowlist profiles the scan ran with.
        findings: the scan findings (JSON dicts) when the scan refused.
        skipped: files of a directory input that are not pickle checkpoints.
    """

    files: tuple[FileConversion, ...]
    verdict: Verdict = Verdict.ACCEPTED
    reasons: tuple[Reason, ...] = ()
    scan_verdict: str = "clean"
    scan_globals: tuple[str, ...] = ()
    attestation: str | None = None
    profiles: tuple[str, ...] = ()
    findings: tuple[dict[str, Any], ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        """True when every checkpoint was converted."""
        return self.verdict is Verdict.ACCEPTED

    def to_json_dict(self) -> dict[str, Any]:
        """Details for the ``convert`` report."""
        return {
            "scan": {
                "verdict": self.scan_verdict,
                "profiles": list(self.profiles),
                "globals": list(self.scan_globals),
                "findings": list(self.findings),
            },
            "attestation": self.attestation,
            "files": [f.to_json_dict() for f in self.files],
            "skipped": list(self.skipped),
        }
