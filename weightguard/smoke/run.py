"""`record_smoke` and `check_smoke`: load, run and record or compare.

Owns: the order of a smoke test (digest the weights, build the model on the device,
load strictly, run the seeded input with pinned numerics, record or compare) and its
result values. Library code: nothing is printed, nothing exits; the CLI renders.
torch is imported inside the functions (via the modules it calls).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from weightguard.errors import IncompleteError, ModelChangedError, RejectedError, UsageError
from weightguard.report import Reason, Verdict, reason_from_error, worst_verdict
from weightguard.signing import Signer, Verifier
from weightguard.smoke.device import DeviceChoice, pinned_numerics, resolve_device, synchronize
from weightguard.smoke.factory import (
    ModelBuildError,
    ModelInput,
    build_model,
    dtype_name,
    make_input,
)
from weightguard.smoke.loader import LoadStats, ModelLoadError, load_strict, weight_files
from weightguard.smoke.outputs import (
    OutputComparison,
    Tolerance,
    compare_output,
    default_tolerance,
    encode_output,
    flatten_outputs,
)
from weightguard.smoke.record import (
    SmokeRecord,
    build_statement,
    encode_record,
    load_record,
    parse_record,
)


@dataclass(frozen=True)
class SmokeRun:
    """One load and forward pass: where, how long, and the outputs (on the CPU)."""

    device: DeviceChoice
    dtype: str
    load: LoadStats
    run_seconds: float
    inputs: ModelInput
    outputs: tuple[tuple[str, Any], ...]
    numerics: Mapping[str, Any]

    def timings(self) -> dict[str, Any]:
        """JSON-ready load and run figures."""
        return {
            "load_seconds": round(self.load.seconds, 6),
            "run_seconds": round(self.run_seconds, 6),
            "tensors": self.load.tensors,
            "bytes": self.load.bytes,
            "files": list(self.load.files),
        }


def _stat_weights(model_path: Path) -> list[tuple[str, int, int]]:
    out = []
    for p in weight_files(model_path):
        st = p.stat()
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return out


def run_model(
    model_path: Path,
    factory: str,
    *,
    device: str,
    dtype: str | None,
    input_factory: str | None,
    input_shape: Sequence[int] | None,
    seed: int,
    stat_before: list[tuple[str, int, int]] | None = None,
) -> SmokeRun:
    """Build the model on the device, load the weights strictly, run the seeded input.

    `stat_before` is the weight files' (path, size, mtime) taken before the caller
    hashed them; the run fails if they changed since (so the digest covers what ran).

    Raises:
        UsageError: bad device, factory name or input options.
        ModelLoadError, ModelReadError, ModelBuildError: the model cannot be loaded,
            built or run (exit 3). ModelChangedError: a weight file changed meanwhile.
    """
    import torch

    choice = resolve_device(device)
    before = stat_before if stat_before is not None else _stat_weights(model_path)
    with pinned_numerics(choice) as numerics:
        torch.manual_seed(seed)
        module = build_model(factory, choice.device, dtype)
        float_dtypes = [p.dtype for p in module.parameters() if p.is_floating_point()]
        run_dtype = dtype or (dtype_name(float_dtypes[0]) if float_dtypes else "float32")
        load = load_strict(module, model_path, choice.device)
        inputs = make_input(input_factory, input_shape, seed, getattr(torch, run_dtype)).to(
            choice.device
        )
        synchronize(choice)
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                result = module(*inputs.args, **inputs.kwargs)
            synchronize(choice)
        except Exception as exc:  # the user's forward (or the device) failed
            raise ModelBuildError(
                f"the forward pass raised {type(exc).__name__}: {exc}", code="smoke.run_failed"
            ) from exc
        run_seconds = time.perf_counter() - start
        outputs = tuple((n, t.detach().to("cpu")) for n, t in flatten_outputs(result))
    if _stat_weights(model_path) != before:
        raise ModelChangedError(
            "a weight file changed while the smoke test ran", path=str(model_path)
        )
    if not outputs:
        raise ModelBuildError("the model returned no tensors", code="smoke.run_failed")
    return SmokeRun(choice, run_dtype, load, run_seconds, inputs, outputs, dict(numerics))


def _environment() -> dict[str, Any]:
    import safetensors
    import torch

    from weightguard import __version__

    return {
        "weightguard": __version__,
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _model_digest(model_path: Path) -> str:
    from weightguard.api import digest

    return digest(model_path)


@dataclass(frozen=True)
class RecordResult:
    """What `record_smoke` produced: the statement, its bytes, and the run behind it."""

    statement: Mapping[str, Any]
    data: bytes
    root_digest: str
    run: SmokeRun
    signed: bool


def record_smoke(
    model_path: str | os.PathLike[str],
    factory: str,
    *,
    input_factory: str | None = None,
    input_shape: Sequence[int] | None = None,
    device: str = "auto",
    dtype: str | None = None,
    seed: int = 0,
    tolerance: Tolerance | None = None,
    signer: Signer | None = None,
) -> RecordResult:
    """Run the model once and build its smoke record (signed when `signer` is given).

    The caller writes `RecordResult.data` (the CLI uses `write_atomic`).

    Raises:
        UsageError, ModelLoadError, ModelReadError, ModelBuildError, ModelChangedError;
        RejectedError when an output is NaN/Inf.
    """
    model = Path(model_path)
    if not model.exists():
        raise UsageError("model path does not exist", path=str(model), code="model.missing")
    before = _stat_weights(model)
    root = _model_digest(model)
    run = run_model(
        model,
        factory,
        device=device,
        dtype=dtype,
        input_factory=input_factory,
        input_shape=input_shape,
        seed=seed,
        stat_before=before,
    )
    tol = tolerance or default_tolerance(run.dtype)
    predicate = {
        "outcome": "recorded",
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {"factory": factory, "files": list(run.load.files), "digest": "oms-files-sha256"},
        "input": {
            "factory": input_factory,
            "shape": list(input_shape) if input_shape is not None else None,
            "seed": seed,
            "tensors": [dict(t) for t in run.inputs.spec],
        },
        "run": {
            "device": run.device.to_json_dict(),
            "dtype": run.dtype,
            "cast": dtype,
            "numerics": dict(run.numerics),
            **run.timings(),
        },
        "tolerance": tol.to_json_dict(),
        "outputs": [encode_output(n, t, seed) for n, t in run.outputs],
        "environment": _environment(),
    }
    statement = build_statement(model.resolve().name, root, predicate)
    data = encode_record(statement, signer)
    parse_record(data)  # what we write must read back (fail here, not at deploy time)
    return RecordResult(statement, data, root, run, signer is not None)


@dataclass(frozen=True)
class SmokeResult:
    """The outcome of `check_smoke`. Look at `verdict`; never assume success.

    Attributes:
        verdict: accepted (every output within tolerance, the record is about these
            bytes), rejected (mismatch, other weights, bad record), incomplete (the
            model could not be loaded, built or run).
        reasons: every finding, errors first.
        comparisons: one per recorded output (empty when nothing ran).
        details: JSON-ready facts for the report (device, timings, record, digests).
    """

    verdict: Verdict
    reasons: tuple[Reason, ...]
    comparisons: tuple[OutputComparison, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """True only when the check passed."""
        return self.verdict is Verdict.ACCEPTED


def _compare(
    record: SmokeRecord, run: SmokeRun, tol: Tolerance
) -> tuple[list[Reason], list[OutputComparison]]:
    reasons: list[Reason] = []
    recorded_inputs = {t.get("name"): t for t in record.inputs}
    for spec in run.inputs.spec:
        want = recorded_inputs.pop(spec["name"], None)
        if want is None or want.get("sha256") != spec["sha256"]:
            reasons.append(
                Reason(
                    "smoke.input_mismatch",
                    "the input differs from the recorded one (input factory, seed or shape)",
                    path=str(spec["name"]),
                    expected=str(want.get("sha256")) if want else None,
                    actual=str(spec["sha256"]),
                )
            )
    for name in recorded_inputs:
        reasons.append(Reason("smoke.input_mismatch", "recorded input not produced", path=name))
    produced = dict(run.outputs)
    comparisons: list[OutputComparison] = []
    for entry in record.outputs:
        name = entry["name"]
        tensor = produced.pop(name, None)
        if tensor is None:
            reasons.append(Reason("smoke.output_missing", "recorded output not produced", name))
            continue
        shape, dtype = list(tensor.shape), dtype_name(tensor.dtype)
        if shape != entry["shape"] or dtype != entry["dtype"]:
            reasons.append(
                Reason(
                    "smoke.output_shape",
                    "output shape or dtype differs from the record",
                    name,
                    expected=f"{entry['dtype']}{entry['shape']}",
                    actual=f"{dtype}{shape}",
                )
            )
            continue
        comparison = compare_output(entry, tensor, tol)
        comparisons.append(comparison)
        if not comparison.ok:
            reasons.append(comparison.reason())
    for name in produced:
        reasons.append(Reason("smoke.output_unexpected", "output not in the record", name))
    return reasons, comparisons


def check_smoke(
    model_path: str | os.PathLike[str],
    record: SmokeRecord | str | os.PathLike[str],
    factory: str,
    *,
    verifier: Verifier | None = None,
    input_factory: str | None = None,
    device: str = "auto",
    tolerance: Tolerance | None = None,
) -> SmokeResult:
    """Load and run the model here and compare with the record.

    Every check runs even after one fails (a digest mismatch still runs the model, so the
    report also says how the outputs differ). The input comes from the record (seed,
    shape); its factory, if it had one, must be passed as `input_factory` (code is only
    ever named by the caller, never taken from the record).

    Raises:
        UsageError: bad device, factory, or a missing --input-factory.
    """
    model = Path(model_path)
    if not model.exists():
        raise UsageError("model path does not exist", path=str(model), code="model.missing")
    details: dict[str, Any] = {"model": {"path": str(model)}}
    if not isinstance(record, SmokeRecord):
        details["record"] = {"path": str(record)}
        try:
            record = load_record(record, verifier)
        except (RejectedError, IncompleteError) as err:
            return SmokeResult(
                Verdict.REJECTED if isinstance(err, RejectedError) else Verdict.INCOMPLETE,
                (reason_from_error(err),),
                details=details,
            )
    details["record"] = {**details.get("record", {}), **record.to_json_dict()}
    reasons: list[Reason] = []
    if record.signed and not record.verified:
        reasons.append(
            Reason(
                "smoke.record_unverified",
                "record signature not checked (no trusted key given)",
                severity="warning",
            )
        )
    if record.input_factory and not input_factory:
        raise UsageError(
            f"the record's input came from {record.input_factory}; pass --input-factory",
            code="smoke.input",
        )
    if record.input_shape is not None and input_factory:
        raise UsageError(
            f"the record's input is a seeded tensor of shape {list(record.input_shape)}; "
            "drop --input-factory",
            code="smoke.input",
        )
    if factory != record.factory:
        reasons.append(
            Reason(
                "smoke.factory_renamed",
                "model factory name differs from the record's",
                expected=record.factory,
                actual=factory,
                severity="info",
            )
        )
    try:
        before = _stat_weights(model)
    except ModelLoadError as err:
        return _result([*reasons, reason_from_error(err)], (), details, Verdict.INCOMPLETE)
    root = _model_digest(model)
    details["model"]["root_digest"] = f"sha256:{root}"
    if not record.matches(root):
        reasons.append(
            Reason(
                "smoke.digest_mismatch",
                "the record is about other weights (root digest differs)",
                path=str(model),
                expected=f"sha256:{record.root_digest}",
                actual=f"sha256:{root}",
            )
        )
    tol = tolerance or record.tolerance
    if tolerance is not None and tolerance != record.tolerance:
        reasons.append(
            Reason(
                "smoke.tolerance_override",
                f"tolerance overridden (record: rtol "
                f"{record.tolerance.rtol:g}, atol {record.tolerance.atol:g})",
                severity="warning",
            )
        )
    details["tolerance"] = tol.to_json_dict()
    try:
        run = run_model(
            model,
            factory,
            device=device,
            dtype=record.cast,
            input_factory=input_factory,
            input_shape=record.input_shape,
            seed=record.seed,
            stat_before=before,
        )
    except ModelLoadError as err:
        reasons.extend(err.problems or (reason_from_error(err),))
        return _result(reasons, (), details, Verdict.INCOMPLETE)
    except IncompleteError as err:
        reasons.append(reason_from_error(err))
        return _result(reasons, (), details, Verdict.INCOMPLETE)
    details.update(device=run.device.to_json_dict(), dtype=run.dtype, numerics=dict(run.numerics))
    details.update(run.timings())
    found, comparisons = _compare(record, run, tol)
    reasons.extend(found)
    details["outputs"] = [c.to_json_dict() for c in comparisons]
    return _result(reasons, tuple(comparisons), details, Verdict.ACCEPTED)


def _result(
    reasons: list[Reason],
    comparisons: tuple[OutputComparison, ...],
    details: dict[str, Any],
    base: Verdict,
) -> SmokeResult:
    errors = [r for r in reasons if r.severity == "error"]
    verdict = base
    if errors and base is Verdict.ACCEPTED:
        verdict = Verdict.REJECTED
    elif any(r.code == "smoke.digest_mismatch" for r in errors):
        verdict = worst_verdict([base, Verdict.REJECTED])
    ordered = tuple(errors) + tuple(r for r in reasons if r.severity != "error")
    return SmokeResult(verdict, ordered, comparisons, details)
