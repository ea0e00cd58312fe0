"""Choosing the device a smoke test runs on, and the numerics settings it runs under.

Owns: turning `auto`, `cpu`, `cuda` or `cuda:N` into a concrete torch device (never a
silent fallback: `cuda` without a usable GPU is a usage error), and a context that pins
the float32 numerics of a run: TF32 off for matmuls and cuDNN convolutions, cuDNN
deterministic with autotuning off, and on CUDA deterministic algorithms requested
(warn-only, so an op without a deterministic kernel still runs; the tolerances cover
it). torch is imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from weightguard.errors import UsageError

# cuBLAS needs a fixed workspace to be deterministic; it reads this when its handle is
# created, so it must be set before the first CUDA matmul of the process
# (CUDA docs, "cuBLAS: Results reproducibility").
CUBLAS_WORKSPACE = ":4096:8"


@dataclass(frozen=True)
class DeviceChoice:
    """The device a run used and how it was chosen.

    Attributes:
        requested: what the user asked for (``auto``, ``cpu``, ``cuda``, ``cuda:1``).
        device: the torch device string actually used (``cpu``, ``cuda:0``).
        name: a human name (CPU architecture or GPU model).
        why: one line explaining an ``auto`` choice; empty otherwise.
    """

    requested: str
    device: str
    name: str
    why: str = ""

    @property
    def is_cuda(self) -> bool:
        """True for a CUDA device."""
        return self.device.startswith("cuda")

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for records and reports."""
        out = {"requested": self.requested, "used": self.device, "name": self.name}
        if self.why:
            out["why"] = self.why
        return out


def _cpu_name() -> str:
    import platform

    return platform.processor() or platform.machine() or "cpu"


def resolve_device(requested: str) -> DeviceChoice:
    """Turn a `--device` value into the device to run on.

    Raises:
        UsageError: an unknown spelling, `cuda` without a usable CUDA device, or a
            `cuda:N` index this machine does not have.
    """
    import torch

    spec = requested.strip().lower()
    if spec == "cpu":
        return DeviceChoice(requested, "cpu", _cpu_name())
    if spec == "auto":
        if torch.cuda.is_available():
            return DeviceChoice(
                requested, "cuda:0", torch.cuda.get_device_name(0), "a CUDA device is available"
            )
        return DeviceChoice(requested, "cpu", _cpu_name(), "no CUDA device is available")
    index_text = spec.removeprefix("cuda").removeprefix(":") if spec.startswith("cuda") else None
    if index_text is None or (index_text and not index_text.isdigit()):
        raise UsageError(
            f"unknown device {requested!r}",
            code="smoke.device",
            hint="use auto, cpu, cuda or cuda:N",
        )
    if not torch.cuda.is_available():
        built = torch.version.cuda
        why = "this torch build has no CUDA support" if built is None else "no CUDA device found"
        raise UsageError(
            f"--device {requested} was asked for, but {why}",
            code="smoke.device_unavailable",
            hint="use --device cpu to run on the CPU, or --device auto to take what is there",
        )
    index = int(index_text) if index_text else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise UsageError(
            f"--device {requested}: this machine has {count} CUDA device(s)",
            code="smoke.device_unavailable",
        )
    return DeviceChoice(requested, f"cuda:{index}", torch.cuda.get_device_name(index))


@contextmanager
def pinned_numerics(device: DeviceChoice) -> Iterator[dict[str, Any]]:
    """Run the body with TF32 off and deterministic kernels requested; restore afterwards.

    Yields the settings in force, for the record. The legacy `allow_tf32` flags and the
    newer `fp32_precision` ones must not be mixed (torch refuses), so the newer ones are
    used when this torch has them.
    """
    import torch

    if device.is_cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    matmul = torch.backends.cuda.matmul
    cudnn = torch.backends.cudnn
    conv: Any = getattr(cudnn, "conv", None)
    saved: dict[str, Any] = {
        "precision": torch.get_float32_matmul_precision(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": cudnn.deterministic,
        "cudnn_benchmark": cudnn.benchmark,
    }
    new_api = hasattr(matmul, "fp32_precision") and conv is not None
    if new_api:
        saved["matmul_fp32"] = matmul.fp32_precision
        saved["conv_fp32"] = conv.fp32_precision
    else:
        saved["matmul_tf32"] = matmul.allow_tf32
        saved["cudnn_tf32"] = cudnn.allow_tf32
    try:
        torch.set_float32_matmul_precision("highest")
        if new_api:
            matmul.fp32_precision = "ieee"
            conv.fp32_precision = "ieee"
        else:
            matmul.allow_tf32 = False
            cudnn.allow_tf32 = False
        cudnn.deterministic = True
        cudnn.benchmark = False
        if device.is_cuda:
            # Only CUDA has non-deterministic kernels worth avoiding here; on the CPU the
            # call costs a second (it imports torch._inductor) and changes nothing we run.
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield {
            "tf32": False,
            "float32_matmul_precision": "highest",
            "deterministic_algorithms": device.is_cuda,
            "cudnn_deterministic": True,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        }
    finally:
        torch.set_float32_matmul_precision(saved["precision"])
        if new_api:
            matmul.fp32_precision = saved["matmul_fp32"]
            conv.fp32_precision = saved["conv_fp32"]
        else:
            matmul.allow_tf32 = saved["matmul_tf32"]
            cudnn.allow_tf32 = saved["cudnn_tf32"]
        cudnn.deterministic = saved["cudnn_deterministic"]
        cudnn.benchmark = saved["cudnn_benchmark"]
        if device.is_cuda:
            torch.use_deterministic_algorithms(saved["deterministic"], warn_only=saved["warn_only"])


def synchronize(device: DeviceChoice) -> None:
    """Wait for queued GPU work, so that timings measure it."""
    if device.is_cuda:
        import torch

        torch.cuda.synchronize(device.device)
