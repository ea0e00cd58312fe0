"""Recording model outputs compactly and comparing a new run with a record.

Design (README, "Smoke tests: what a record holds"):
- Every output tensor is named by its place in the output structure: ``output`` for a
  single tensor, ``output.0`` / ``output.logits`` inside tuples and dicts (recursively).
- A tensor of at most `FULL_LIMIT` elements is recorded in full (float64 JSON numbers,
  exact for float32/16 and bfloat16 values).
- A larger tensor is recorded as: summary statistics (mean, std, min, max, rms); the
  values at `SAMPLES` seeded positions (the positions are written into the record, so the
  check never regenerates them); and `PROJECTIONS` random-sign projections
  ``sum_i s_i x_i / sqrt(n)`` whose signs come from a fixed integer hash of (seed, i),
  written here in plain tensor arithmetic so they do not depend on any RNG's stream.
  Samples localise a change; projections catch changes spread thinly over all elements.

Tolerances: element i passes when ``|actual - expected| <= atol * s + rtol * |expected|``
with s the RMS of the recorded tensor (so the check is scale-free). The statistics and
projections get the bounds that elementwise tolerance implies for them: mean, std and
rms move by at most ``(atol + rtol) * s``; min and max by ``atol * s + rtol * max|x|``;
a random-sign projection has standard deviation at most ``(atol + rtol) * s`` over the
signs, and we allow `PROJECTION_SIGMAS` of those.
torch is imported inside the functions.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weightguard.errors import RejectedError
from weightguard.report import Reason
from weightguard.smoke.factory import ModelBuildError, dtype_name

FULL_LIMIT = 4096
SAMPLES = 64
PROJECTIONS = 8
PROJECTION_SIGMAS = 6.0
_CHUNK = 1 << 20
_MASK32 = 0xFFFFFFFF

# (rtol, atol) per output dtype. float32 allows CPU-vs-GPU differences in reduction
# order and kernels with TF32 off (~1e-6 relative in practice) with a wide margin;
# half precisions round to 11 (float16) and 8 (bfloat16) significant bits.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-9, 1e-9),
    "float32": (1e-4, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}


@dataclass(frozen=True)
class Tolerance:
    """Relative tolerance, and absolute tolerance in units of the recorded tensor's RMS."""

    rtol: float
    atol: float

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for records."""
        return {"rtol": self.rtol, "atol": self.atol, "atol_unit": "rms"}


def default_tolerance(dtype: str) -> Tolerance:
    """The documented default for a model dtype (integer outputs compare exactly)."""
    rtol, atol = DEFAULT_TOLERANCES.get(dtype, (0.0, 0.0))
    return Tolerance(rtol, atol)


def flatten_outputs(value: Any, name: str = "output") -> list[tuple[str, Any]]:
    """Named tensors of a forward result (tensors, tuples/lists, dicts; None is skipped).

    Raises:
        ModelBuildError: a leaf that is not a tensor.
    """
    import torch

    if isinstance(value, torch.Tensor):
        return [(name, value)]
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [i for k, v in value.items() for i in flatten_outputs(v, f"{name}.{k}")]
    if isinstance(value, tuple | list):
        return [i for k, v in enumerate(value) for i in flatten_outputs(v, f"{name}.{k}")]
    raise ModelBuildError(f"model output {name} is a {type(value).__name__}, not a Tensor")


def _seed32(seed: int, name: str, k: int) -> int:
    digest = hashlib.sha256(f"{seed}/{name}/{k}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _signs(start: int, stop: int, seed32: int) -> Any:
    """±1 for positions [start, stop): a 32-bit integer hash (Mueller's) of (i + seed)."""
    import torch

    x = (torch.arange(start, stop, dtype=torch.int64) + seed32) & _MASK32
    for _ in range(2):
        x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32  # < 2**59: no int64 overflow
    x = (x >> 16) ^ x
    return (1 - 2 * ((x >> 7) & 1)).to(torch.float64)


def projections(flat: Any, seed: int, name: str) -> list[float]:
    """The `PROJECTIONS` random-sign projections of a flat float64 CPU tensor."""
    n = flat.numel()
    out = []
    for k in range(PROJECTIONS):
        s32 = _seed32(seed, name, k)
        total = 0.0
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            total += float((flat[start:stop] * _signs(start, stop, s32)).sum())
        out.append(total / math.sqrt(n))
    return out


def _summary(flat: Any) -> dict[str, float]:
    return {
        "mean": float(flat.mean()),
        "std": float(flat.std(correction=0)),
        "min": float(flat.min()),
        "max": float(flat.max()),
        "rms": float(flat.square().mean().sqrt()),
    }


def _as_flat64(tensor: Any) -> Any:
    import torch

    return tensor.detach().to("cpu").to(torch.float64).reshape(-1)


def encode_output(name: str, tensor: Any, seed: int) -> dict[str, Any]:
    """The record entry for one output tensor.

    Raises:
        RejectedError: the output holds NaN or Inf (nothing meaningful to record).
    """
    import torch

    flat = _as_flat64(tensor)
    entry: dict[str, Any] = {
        "name": name,
        "shape": list(tensor.shape),
        "dtype": dtype_name(tensor.dtype),
    }
    if not bool(torch.isfinite(flat).all()):
        raise RejectedError(
            f"model output {name} contains NaN or Inf; refusing to record it",
            code="smoke.nonfinite_output",
        )
    n = flat.numel()
    if n <= FULL_LIMIT:
        entry.update(encoding="full", values=flat.tolist())
        return entry
    gen = torch.Generator(device="cpu").manual_seed(_seed32(seed, name, -1))
    idx = torch.unique(torch.randint(0, n, (SAMPLES,), generator=gen), sorted=True)
    entry.update(
        encoding="projection",
        elements=n,
        summary=_summary(flat),
        samples={"indices": idx.tolist(), "values": flat[idx].tolist()},
        projections={"seed": seed, "hash": "mueller32", "values": projections(flat, seed, name)},
    )
    return entry


@dataclass(frozen=True)
class OutputComparison:
    """How one output compared with its record.

    Attributes:
        name: output name. ok: within tolerance everywhere.
        max_deviation: largest absolute deviation seen (inf for NaN/Inf outputs).
        where: where it was (``[i, j]`` index, or ``summary.mean``, ``projection.3``).
        expected / actual / bound: the recorded and new values there, and the tolerance.
        failing / checked: values outside tolerance, values compared.
    """

    name: str
    ok: bool
    max_deviation: float
    where: str
    expected: float
    actual: float
    bound: float
    failing: int
    checked: int

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for reports (inf becomes a string: JSON has no infinity)."""

        def num(x: float) -> float | str:
            return x if math.isfinite(x) else str(x)

        return {
            "name": self.name,
            "ok": self.ok,
            "max_deviation": num(self.max_deviation),
            "where": self.where,
            "expected": num(self.expected),
            "actual": num(self.actual),
            "tolerance": num(self.bound),
            "failing": self.failing,
            "checked": self.checked,
        }

    def reason(self) -> Reason:
        """The failing Reason for this output."""
        return Reason(
            "smoke.output_mismatch",
            f"largest deviation {self.max_deviation:.3g} at {self.where} "
            f"(tolerance {self.bound:.3g}); {self.failing} of {self.checked} "
            "compared values outside tolerance",
            path=self.name,
            expected=repr(self.expected),
            actual=repr(self.actual),
        )


def _index(flat_index: int, shape: list[int]) -> str:
    coords = []
    for dim in reversed(shape):
        coords.append(flat_index % dim if dim else 0)
        flat_index //= dim if dim else 1
    return "[" + ", ".join(str(c) for c in reversed(coords)) + "]"


def _compare_values(
    expected: Any, actual: Any, bounds: Any, labels: list[str]
) -> tuple[int, float, str, float, float, float]:
    import torch

    diff = (actual - expected).abs()
    diff = torch.where(torch.isfinite(actual), diff, torch.full_like(diff, math.inf))
    failing = int((diff > bounds).sum())
    worst = int(torch.argmax(diff)) if diff.numel() else 0
    if not diff.numel():
        return 0, 0.0, "-", 0.0, 0.0, 0.0
    return (
        failing,
        float(diff[worst]),
        labels[worst],
        float(expected[worst]),
        float(actual[worst]),
        float(bounds[worst]),
    )


def compare_output(entry: Mapping[str, Any], tensor: Any, tol: Tolerance) -> OutputComparison:
    """Compare a new output tensor with its recorded entry (shapes already equal)."""
    import torch

    name, shape = str(entry["name"]), list(entry["shape"])
    flat = _as_flat64(tensor)
    if entry["encoding"] == "full":
        ref = torch.tensor(entry["values"], dtype=torch.float64)
        rms = float(ref.square().mean().sqrt()) if ref.numel() else 0.0
        scale = rms if rms > 0 else 1.0
        bounds = tol.atol * scale + tol.rtol * ref.abs()
        labels = [_index(i, shape) for i in range(ref.numel())]
        got = flat
    else:
        summary = entry["summary"]
        scale = summary["rms"] if summary["rms"] > 0 else 1.0
        idx = torch.tensor(entry["samples"]["indices"], dtype=torch.int64)
        sample_ref = torch.tensor(entry["samples"]["values"], dtype=torch.float64)
        new_summary = _summary(flat)
        new_proj = projections(flat, int(entry["projections"]["seed"]), name)
        stats = ["mean", "std", "rms", "min", "max"]
        peak = max(abs(summary["min"]), abs(summary["max"]))
        stat_bounds = [(tol.atol + tol.rtol) * scale] * 3 + [tol.atol * scale + tol.rtol * peak] * 2
        proj_bound = PROJECTION_SIGMAS * (tol.atol + tol.rtol) * scale
        ref = torch.cat(
            [
                sample_ref,
                torch.tensor([summary[s] for s in stats], dtype=torch.float64),
                torch.tensor(entry["projections"]["values"], dtype=torch.float64),
            ]
        )
        got = torch.cat(
            [
                flat[idx],
                torch.tensor([new_summary[s] for s in stats], dtype=torch.float64),
                torch.tensor(new_proj, dtype=torch.float64),
            ]
        )
        bounds = torch.cat(
            [
                tol.atol * scale + tol.rtol * sample_ref.abs(),
                torch.tensor(stat_bounds, dtype=torch.float64),
                torch.full((len(new_proj),), proj_bound, dtype=torch.float64),
            ]
        )
        labels = (
            [_index(int(i), shape) for i in idx.tolist()]
            + [f"summary.{s}" for s in stats]
            + [f"projection.{k}" for k in range(len(new_proj))]
        )
        if not bool(torch.isfinite(flat).all()):
            got = got.clone()
            got[len(sample_ref) :] = math.nan  # a NaN anywhere poisons the statistics
    failing, dev, where, exp, act, bound = _compare_values(ref, got, bounds, labels)
    return OutputComparison(name, failing == 0, dev, where, exp, act, bound, failing, ref.numel())
