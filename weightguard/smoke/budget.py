"""Drift budgets: how far a variant (bf16, fp16, int8) may move from the fp32 reference.

Owns: parsing ``--budget max_abs=0.5,max_rel=0.05,top1=0.9,kl=0.05,logprob=0.5`` and
judging measured drift against it. Every metric is reported as a number whether or not
it is budgeted; only budgeted metrics decide the verdict.

- max_abs: largest |new - recorded| over the recorded output values (all of a small
  output; the recorded sample positions of a large one; logits in LLM mode).
- max_rel: max_abs divided by the recorded output's RMS (scale-free).
- top1: the least fraction of generated positions whose argmax is the recorded token
  (LLM mode; teacher-forced, see `weightguard.smoke.llm`).
- kl: the largest per-position KL(reference || new) over the recorded top-k + rest.
- logprob: the largest |new - recorded| log-probability of a recorded top-k token.
No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from weightguard.errors import UsageError
from weightguard.report import Reason

# metric -> (higher is worse?, unit text)
METRICS = {
    "max_abs": (True, "max abs error"),
    "max_rel": (True, "max error / RMS"),
    "top1": (False, "top-1 agreement"),
    "kl": (True, "max KL"),
    "logprob": (True, "max log-prob error"),
}


@dataclass(frozen=True)
class Budget:
    """Limits per metric; None leaves a metric unbudgeted (reported only)."""

    max_abs: float | None = None
    max_rel: float | None = None
    top1: float | None = None
    kl: float | None = None
    logprob: float | None = None

    def to_json_dict(self) -> dict[str, float]:
        """The budgeted metrics."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


def parse_budget(text: str) -> Budget:
    """``key=value[,key=value...]`` with keys from `METRICS`.

    Raises:
        UsageError: unknown key, repeated key, or a value that is not a finite number
            >= 0 (top1 in 0..1).
    """
    values: dict[str, float] = {}
    for part in text.split(","):
        key, sep, raw = part.strip().partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in METRICS or key in values:
            raise UsageError(
                f"--budget: {part.strip()!r} is not one of {', '.join(METRICS)}=NUMBER (each once)",
                code="smoke.budget",
            )
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"--budget: {key} needs a number", code="smoke.budget") from None
        if not math.isfinite(value) or value < 0 or (key == "top1" and value > 1):
            raise UsageError(f"--budget: {key}={raw} is out of range", code="smoke.budget")
        values[key] = value
    if not values:
        raise UsageError("--budget is empty", code="smoke.budget")
    return Budget(**values)


def judge(budget: Budget, measured: dict[str, float]) -> list[Reason]:
    """One failing Reason per budgeted metric outside its budget (or not measured)."""
    out = []
    for key, (higher_worse, label) in METRICS.items():
        limit = getattr(budget, key)
        if limit is None:
            continue
        value = measured.get(key)
        if value is None:
            out.append(
                Reason(
                    "smoke.drift_unmeasured",
                    f"{label} is budgeted but this run does not measure it (LLM mode only)",
                    path=key,
                )
            )
            continue
        over = value > limit if higher_worse else value < limit
        if over or math.isnan(value):
            out.append(
                Reason(
                    "smoke.drift_exceeded",
                    f"{label} {value:.4g} is outside the budget {limit:.4g}",
                    path=key,
                    expected=f"{'<=' if higher_worse else '>='} {limit:g}",
                    actual=f"{value:.6g}",
                )
            )
    return out


def output_error(entry: dict[str, Any] | Any, tensor: Any) -> tuple[float, float, str]:
    """(max abs error, recorded RMS, where) of one output against its recorded entry."""
    import torch

    from weightguard.smoke.outputs import _index

    flat = tensor.detach().to("cpu").to(torch.float64).reshape(-1)
    shape = list(entry["shape"])
    if entry["encoding"] == "full":
        ref = torch.tensor(entry["values"], dtype=torch.float64)
        idx = list(range(ref.numel()))
        got = flat
    else:
        idx = list(entry["samples"]["indices"])
        ref = torch.tensor(entry["samples"]["values"], dtype=torch.float64)
        got = flat[torch.tensor(idx, dtype=torch.int64)]
    if not ref.numel():
        return 0.0, 0.0, "-"
    diff = (got - ref).abs()
    diff = torch.where(torch.isfinite(got), diff, torch.full_like(diff, math.inf))
    worst = int(torch.argmax(diff))
    rms = (
        float(entry["summary"]["rms"])
        if entry["encoding"] != "full"
        else float(ref.square().mean().sqrt())
    )
    return float(diff[worst]), rms, f"{entry['name']}{_index(idx[worst], shape)}"
