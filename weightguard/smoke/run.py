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
from weightguard.smoke.budget import Budget, judge, output_error
from weightguard.smoke.device import DeviceChoice, pinned_numerics, resolve_device, synchronize
from weightguard.smoke.factory import (
    ModelBuildError,
    ModelInput,
    build_model,
    dtype_name,
    make_input,
    tensor_sha256,
)
from weightguard.smoke.llm import (
    Decoded,
    LlmRequest,
    LlmSpec,
    check_vocab,
    compare_sequence,
    decode,
    encode_sequences,
    replay,
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

DEFAULT_TOKEN_SHAPE = (1, 8)


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
    model: Mapping[str, Any] = field(default_factory=dict)  # builder, architecture, config
    llm: LlmSpec | None = None
    decoded: tuple[Decoded, ...] = ()
    quantize: str | None = None

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


def _token_input(shape: Sequence[int] | None, seed: int, vocab: int | None) -> ModelInput:
    """Seeded token ids (``input_ids``) for a transformers model outside LLM mode."""
    import torch

    if vocab is None or vocab <= 0:
        raise ModelBuildError("config.json has no vocab_size: give --llm --prompts-file")
    dims = tuple(shape) if shape is not None else DEFAULT_TOKEN_SHAPE
    if len(dims) != 2:
        raise UsageError("--input-shape with --transformers is BATCH,TOKENS", code="smoke.input")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.randint(0, vocab, dims, generator=gen)
    spec = (
        {
            "name": "input.input_ids",
            "shape": list(dims),
            "dtype": "int64",
            "sha256": tensor_sha256(ids),
        },
    )
    return ModelInput((), {"input_ids": ids}, spec)


def _prompt_input(spec: LlmSpec) -> ModelInput:
    import torch

    tensors = [torch.tensor(p, dtype=torch.int64) for p in spec.prompts]
    described = tuple(
        {"name": f"prompt.{i}", "shape": [len(p)], "dtype": "int64", "sha256": tensor_sha256(t)}
        for i, (p, t) in enumerate(zip(spec.prompts, tensors, strict=True))
    )
    return ModelInput((), {}, described)


def _quantize(module: Any, how: str, choice: DeviceChoice) -> Any:
    """int8 dynamic quantisation of every nn.Linear (torch's CPU kernels)."""
    import warnings

    import torch

    if how != "int8-dynamic":
        raise UsageError(f"unknown --quantize {how!r}; use int8-dynamic", code="smoke.quantize")
    if choice.is_cuda:
        raise UsageError("--quantize int8-dynamic runs on the CPU only", code="smoke.quantize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao eager quantisation is deprecated, still works
        from torch.ao.quantization import quantize_dynamic

        try:
            return quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise ModelBuildError(
                f"int8 dynamic quantisation failed: {type(exc).__name__}: {exc}"
            ) from exc


def run_model(
    model_path: Path,
    factory: str | None,
    *,
    device: str,
    dtype: str | None,
    input_factory: str | None,
    input_shape: Sequence[int] | None,
    seed: int,
    stat_before: list[tuple[str, int, int]] | None = None,
    transformers: bool = False,
    llm: LlmRequest | None = None,
    replay_tokens: Sequence[Sequence[int]] | None = None,
    quantize: str | None = None,
) -> SmokeRun:
    """Build the model on the device, load the weights strictly, run the seeded input.

    `stat_before` is the weight files' (path, size, mtime) taken before the caller
    hashed them; the run fails if they changed since (so the digest covers what ran).
    With `transformers`, the module comes from the folder's config.json (see
    `weightguard.smoke.hf`); with `llm`, the prompts are decoded greedily, or, given
    `replay_tokens` (a check), the recorded continuations are scored teacher-forced.

    Raises:
        UsageError: bad device, factory name or input options.
        ModelLoadError, ModelReadError, ModelBuildError: the model cannot be loaded,
            built or run (exit 3). ModelChangedError: a weight file changed meanwhile.
    """
    import torch

    choice = resolve_device(device)
    before = stat_before if stat_before is not None else _stat_weights(model_path)
    model_info: dict[str, Any] = {}
    vocab: int | None = None
    spec: LlmSpec | None = None
    decoded: list[Decoded] = []
    with pinned_numerics(choice) as numerics:
        torch.manual_seed(seed)
        if transformers:
            from weightguard.smoke.hf import build_hf_model

            hf = build_hf_model(model_path, choice.device, dtype)
            module, vocab = hf.module, hf.vocab_size
            model_info = {
                "builder": "transformers",
                "architecture": hf.architecture,
                "model_type": hf.model_type,
                "config_sha256": hf.config_sha256,
            }
        else:
            if factory is None:
                raise UsageError("give --factory module:function or --transformers")
            module = build_model(factory, choice.device, dtype)
        float_dtypes = [p.dtype for p in module.parameters() if p.is_floating_point()]
        run_dtype = dtype or (dtype_name(float_dtypes[0]) if float_dtypes else "float32")
        load = load_strict(module, model_path, choice.device)
        if quantize is not None:
            module = _quantize(module, quantize, choice)
        if llm is not None:
            spec = llm.resolve(seed, vocab)
            check_vocab(spec.prompts, vocab)
            if replay_tokens is not None:
                check_vocab(replay_tokens, vocab)
            inputs = _prompt_input(spec)
        elif transformers and input_factory is None:
            inputs = _token_input(input_shape, seed, vocab).to(choice.device)
        else:
            inputs = make_input(input_factory, input_shape, seed, getattr(torch, run_dtype)).to(
                choice.device
            )
        synchronize(choice)
        start = time.perf_counter()
        try:
            if spec is not None:
                decoded = (
                    replay(module, spec, replay_tokens, choice.device)
                    if replay_tokens is not None
                    else decode(module, spec, choice.device)
                )
                result: Any = {f"{i}": d.prompt_logits for i, d in enumerate(decoded)}
            else:
                with torch.inference_mode():
                    result = module(*inputs.args, **inputs.kwargs)
            synchronize(choice)
        except ModelBuildError:
            raise
        except Exception as exc:  # the user's forward (or the device) failed
            raise ModelBuildError(
                f"the forward pass raised {type(exc).__name__}: {exc}", code="smoke.run_failed"
            ) from exc
        run_seconds = time.perf_counter() - start
        prefix = "logits" if spec is not None else "output"
        outputs = tuple((n, t.detach().to("cpu")) for n, t in flatten_outputs(result, prefix))
    if _stat_weights(model_path) != before:
        raise ModelChangedError(
            "a weight file changed while the smoke test ran", path=str(model_path)
        )
    if not outputs:
        raise ModelBuildError("the model returned no tensors", code="smoke.run_failed")
    return SmokeRun(
        choice,
        run_dtype,
        load,
        run_seconds,
        inputs,
        outputs,
        dict(numerics),
        model_info,
        spec,
        tuple(decoded),
        quantize,
    )


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


def _predicate(
    run: SmokeRun,
    factory: str | None,
    *,
    outcome: str,
    input_factory: str | None,
    input_shape: Sequence[int] | None,
    seed: int,
    cast: str | None,
    tol: Tolerance,
) -> dict[str, Any]:
    """The smoke predicate of one run (a reference record or a check record)."""
    label = factory or f"transformers:{run.model.get('architecture', '?')}"
    if run.llm is not None:
        kind, shape = "prompts", None
    elif run.model.get("builder") == "transformers" and input_factory is None:
        kind = "token_ids"
        shape = list(input_shape) if input_shape is not None else list(DEFAULT_TOKEN_SHAPE)
    else:
        kind = "factory" if input_factory else "tensor"
        shape = list(input_shape) if input_shape is not None else None
    predicate: dict[str, Any] = {
        "outcome": outcome,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {
            "factory": label,
            "builder": run.model.get("builder", "factory"),
            **{k: v for k, v in run.model.items() if k != "builder"},
            "files": list(run.load.files),
            "digest": "oms-files-sha256",
        },
        "input": {
            "kind": kind,
            "factory": input_factory,
            "shape": shape,
            "seed": seed,
            "tensors": [dict(t) for t in run.inputs.spec],
        },
        "run": {
            "device": run.device.to_json_dict(),
            "dtype": run.dtype,
            "cast": cast,
            "quantize": run.quantize,
            "numerics": dict(run.numerics),
            **run.timings(),
        },
        "tolerance": tol.to_json_dict(),
        "outputs": [encode_output(n, t, seed) for n, t in run.outputs],
        "environment": _environment(),
    }
    if run.llm is not None:
        predicate["llm"] = {
            "prompts": [list(p) for p in run.llm.prompts],
            "source": run.llm.source,
            "sha256": run.llm.sha256(),
            "new_tokens": run.llm.new_tokens,
            "top_k": run.llm.top_k,
            "sequences": encode_sequences(run.decoded, run.llm.top_k),
        }
    return predicate


def record_smoke(
    model_path: str | os.PathLike[str],
    factory: str | None,
    *,
    input_factory: str | None = None,
    input_shape: Sequence[int] | None = None,
    device: str = "auto",
    dtype: str | None = None,
    seed: int = 0,
    tolerance: Tolerance | None = None,
    signer: Signer | None = None,
    transformers: bool = False,
    llm: LlmRequest | None = None,
    quantize: str | None = None,
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
        transformers=transformers,
        llm=llm,
        quantize=quantize,
    )
    tol = tolerance or default_tolerance(run.dtype)
    predicate = _predicate(
        run,
        factory,
        outcome="recorded",
        input_factory=input_factory,
        input_shape=input_shape,
        seed=seed,
        cast=dtype,
        tol=tol,
    )
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
    run: SmokeRun | None = field(default=None, repr=False, compare=False)
    record: SmokeRecord | None = field(default=None, repr=False, compare=False)

    @property
    def accepted(self) -> bool:
        """True only when the check passed."""
        return self.verdict is Verdict.ACCEPTED


def _compare(
    record: SmokeRecord, run: SmokeRun, tol: Tolerance, budget: Budget | None = None
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
        if budget is not None and shape == entry["shape"]:
            continue  # a variant: its dtype may differ; drift is measured against the budget
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


def _drift(
    record: SmokeRecord, run: SmokeRun, budget: Budget | None
) -> tuple[list[Reason], dict[str, Any]]:
    """Token comparison (LLM mode) and drift numbers; failing reasons per the mode."""
    reasons: list[Reason] = []
    measured: dict[str, Any] = {}
    produced = dict(run.outputs)
    worst_abs, worst_rel, where = 0.0, 0.0, "-"
    for entry in record.outputs:
        tensor = produced.get(entry["name"])
        if tensor is None or list(tensor.shape) != list(entry["shape"]):
            continue
        err, rms, at = output_error(dict(entry), tensor)
        rel = err / rms if rms > 0 else err
        if err >= worst_abs:
            worst_abs, where = err, at
        worst_rel = max(worst_rel, rel)
    measured.update(max_abs=worst_abs, max_rel=worst_rel, max_abs_at=where)
    tokens: list[dict[str, Any]] = []
    llm = record.llm
    if llm is not None and run.decoded:
        comps = [
            compare_sequence(i, seq, d.logprobs)
            for i, (seq, d) in enumerate(zip(llm["sequences"], run.decoded, strict=True))
        ]
        tokens = [c.to_json_dict() for c in comps]
        positions = sum(c.positions for c in comps)
        measured.update(
            top1=sum(c.top1_agree for c in comps) / positions,
            kl=max(c.max_kl for c in comps),
            logprob=max(c.max_logprob_error for c in comps),
        )
        for c, d in zip(comps, run.decoded, strict=True):
            if c.first_divergence is not None:
                reasons.append(
                    c.reason(len(d.prompt), severity="info" if budget is not None else "error")
                )
    if budget is not None:
        reasons.extend(judge(budget, {k: v for k, v in measured.items() if k != "max_abs_at"}))
    return reasons, {"measured": measured, "sequences": tokens}


def check_smoke(
    model_path: str | os.PathLike[str],
    record: SmokeRecord | str | os.PathLike[str],
    factory: str | None,
    *,
    verifier: Verifier | None = None,
    input_factory: str | None = None,
    device: str = "auto",
    tolerance: Tolerance | None = None,
    transformers: bool = False,
    budget: Budget | None = None,
    dtype: str | None = None,
    quantize: str | None = None,
) -> SmokeResult:
    """Load and run the model here and compare with the record.

    Every check runs even after one fails (a digest mismatch still runs the model, so the
    report also says how the outputs differ). The input comes from the record (seed,
    shape, prompts); its factory, if it had one, must be passed as `input_factory` (code
    is only ever named by the caller, never taken from the record).

    Without `budget`, the outputs must match within tolerance and, in LLM mode, greedy
    decoding must reproduce every recorded token (the first diverging one is named).
    With `budget` (a bf16/fp16/int8 variant checked against the fp32 reference), the
    variant runs in its own dtype (or `dtype`), other weights are expected (the digest
    difference is reported as info), and only the budgeted drift metrics decide.

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
    if record.outcome != "recorded":
        raise UsageError(
            f"the record is a {record.outcome} check record, not a reference record",
            code="smoke.record_kind",
        )
    if record.signed and not record.verified:
        reasons.append(
            Reason(
                "smoke.record_unverified",
                "record signature not checked (no trusted key given)",
                severity="warning",
            )
        )
    if (record.builder == "transformers") != transformers:
        raise UsageError(
            "the record was made with --transformers; pass it"
            if transformers is False
            else "the record was made with --factory, not --transformers",
            code="smoke.builder",
        )
    if record.input_factory and not input_factory:
        raise UsageError(
            f"the record's input came from {record.input_factory}; pass --input-factory",
            code="smoke.input",
        )
    if record.input_factory is None and input_factory:
        raise UsageError(
            "the record's input is seeded (no input factory); drop --input-factory",
            code="smoke.input",
        )
    if factory is not None and factory != record.factory:
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
                "smoke.digest_mismatch" if budget is None else "smoke.variant_digest",
                "the record is about other weights (root digest differs)"
                if budget is None
                else "a variant: the reference record is about other weights, as expected",
                path=str(model),
                expected=f"sha256:{record.root_digest}",
                actual=f"sha256:{root}",
                severity="error" if budget is None else "info",
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
    if budget is not None:
        details["budget"] = budget.to_json_dict()
    llm = record.llm
    request = (
        LlmRequest(
            int(llm["new_tokens"]),
            int(llm["top_k"]),
            tuple(tuple(p) for p in llm["prompts"]),
            str(llm.get("source", "record")),
        )
        if llm is not None
        else None
    )
    run_dtype = dtype if budget is not None else record.cast
    try:
        run = run_model(
            model,
            factory,
            device=device,
            dtype=run_dtype,
            input_factory=input_factory,
            input_shape=record.input_shape,
            seed=record.seed,
            stat_before=before,
            transformers=transformers,
            llm=request,
            replay_tokens=[s["tokens"] for s in llm["sequences"]] if llm is not None else None,
            quantize=quantize,
        )
    except ModelLoadError as err:
        reasons.extend(err.problems or (reason_from_error(err),))
        return _result(reasons, (), details, Verdict.INCOMPLETE, record=record)
    except IncompleteError as err:
        reasons.append(reason_from_error(err))
        return _result(reasons, (), details, Verdict.INCOMPLETE, record=record)
    except RejectedError as err:  # e.g. a recorded token outside the vocabulary
        reasons.append(reason_from_error(err))
        return _result(reasons, (), details, Verdict.REJECTED, record=record)
    details.update(device=run.device.to_json_dict(), dtype=run.dtype, numerics=dict(run.numerics))
    details.update(run.timings())
    if run.quantize:
        details["quantize"] = run.quantize
    found, comparisons = _compare(record, run, tol, budget)
    reasons.extend(found)
    drift_reasons, drift = _drift(record, run, budget)
    reasons.extend(drift_reasons)
    details["drift"] = drift
    details["outputs"] = [c.to_json_dict() for c in comparisons]
    return _result(reasons, tuple(comparisons), details, Verdict.ACCEPTED, run=run, record=record)


def check_record(
    result: SmokeResult,
    reference_sha256: str,
    *,
    model_name: str,
    signer: Signer | None = None,
) -> bytes:
    """A check record: the outcome (passed/failed) of a check, as a smoke statement.

    It carries the run's own outputs (or none when nothing ran), the reference it was
    checked against (sha256 of the record file) and every reason. A policy's smoke rule
    passes it only when its outcome is passed; `smoke.failed` fires otherwise.
    """
    record = result.record
    root = str(result.details.get("model", {}).get("root_digest", "")).removeprefix("sha256:")
    if record is None or len(root) != 64:
        raise UsageError(
            "no check record: the model was not digested or the reference record did not load",
            code="smoke.check_record",
        )
    outcome = "passed" if result.accepted else "failed"
    run = result.run
    if run is not None:
        predicate = _predicate(
            run,
            record.factory if record.builder == "factory" else None,
            outcome=outcome,
            input_factory=record.input_factory,
            input_shape=record.input_shape,
            seed=record.seed,
            cast=record.cast,
            tol=record.tolerance,
        )
    else:
        predicate = {
            "outcome": outcome,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model": dict(record.predicate["model"]),
            "input": dict(record.predicate["input"]),
            "run": {"dtype": record.dtype, "device": {}, "cast": record.cast},
            "tolerance": record.tolerance.to_json_dict(),
            "outputs": [],
        }
        if record.llm is not None:
            predicate["llm"] = dict(record.llm)
    predicate["check"] = {
        "verdict": result.verdict.value,
        "reference": {
            "sha256": reference_sha256,
            "root_digest": f"sha256:{record.root_digest}",
            "created": record.predicate.get("created"),
            "signer": record.signer.to_json_dict() if record.signer else None,
        },
        "budget": result.details.get("budget"),
        "drift": result.details.get("drift"),
        "reasons": [r.to_json_dict() for r in result.reasons],
    }
    statement = build_statement(model_name, root, predicate)
    data = encode_record(statement, signer)
    parse_record(data)
    return data


def _result(
    reasons: list[Reason],
    comparisons: tuple[OutputComparison, ...],
    details: dict[str, Any],
    base: Verdict,
    *,
    run: SmokeRun | None = None,
    record: SmokeRecord | None = None,
) -> SmokeResult:
    errors = [r for r in reasons if r.severity == "error"]
    verdict = base
    if errors and base is Verdict.ACCEPTED:
        verdict = Verdict.REJECTED
    elif any(r.code == "smoke.digest_mismatch" for r in errors):
        verdict = worst_verdict([base, Verdict.REJECTED])
    ordered = tuple(errors) + tuple(r for r in reasons if r.severity != "error")
    return SmokeResult(verdict, ordered, comparisons, details, run, record)
