"""Building the model and its input from trusted code named on the command line.

Owns: resolving `module:function` names (imported by name from `sys.path`, i.e. code
installed in the deploy image or on PYTHONPATH; never code shipped with the weights),
calling the model factory with weights allocated on the target device, and making the
seeded input. torch is imported inside the functions.

Contracts (README, "Smoke tests"):
- model factory: ``build() -> torch.nn.Module`` (no arguments; random init is fine, every
  weight is overwritten by the strict load).
- input factory: ``example_input(seed: int) -> Tensor | tuple[Tensor, ...] |
  dict[str, Tensor]``, built on the CPU so that the same seed gives the same bytes on
  every machine; it is moved to the run device afterwards. A tuple is passed as
  positional arguments, a dict as keyword arguments.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weightguard.errors import IncompleteError, UsageError

_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

DTYPES = ("float32", "float64", "float16", "bfloat16")


class ModelBuildError(IncompleteError):
    """The model or its input could not be built or run: nothing was checked (exit 3)."""

    default_code = "smoke.model_unusable"


def import_callable(spec: str, what: str) -> Callable[..., Any]:
    """Import `module:attr` (dotted attribute paths allowed) and return the callable.

    Raises:
        UsageError: malformed name, module or attribute not found, not callable.
        ModelBuildError: the module exists but raised while being imported.
    """
    if not _NAME.match(spec):
        raise UsageError(
            f"{what} must look like package.module:function, got {spec!r}", code="smoke.factory"
        )
    module_name, attr_path = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise UsageError(
                f"{what} {spec}: module {module_name!r} not found",
                code="smoke.factory",
                hint="factories are imported from sys.path: install the package, set "
                "PYTHONPATH, or run from the directory that holds it",
            ) from exc
        raise ModelBuildError(f"{what} {spec}: import failed: {exc}") from exc
    except Exception as exc:  # the user's module raised at import time
        raise ModelBuildError(f"{what} {spec}: import failed: {type(exc).__name__}: {exc}") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{what} {spec}: no attribute {part!r}", code="smoke.factory")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{what} {spec} is not callable", code="smoke.factory")
    factory: Callable[..., Any] = obj
    return factory


def torch_dtype(name: str) -> Any:
    """The torch dtype for one of `DTYPES`."""
    import torch

    if name not in DTYPES:
        raise UsageError(f"unsupported dtype {name!r}; use one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def dtype_name(dtype: Any) -> str:
    """`torch.float32` -> `float32`."""
    return str(dtype).removeprefix("torch.")


def build_model(factory: str, device: str, dtype: str | None) -> Any:
    """Call the factory with parameters allocated on `device`, in eval mode.

    The factory runs under `torch.device(device)`, so parameters are created on the
    target device and the weights later loaded into them in place: the model never
    holds a second full copy in host memory.

    Raises:
        UsageError: the factory name does not resolve. ModelBuildError: the factory
            raised or did not return a torch.nn.Module.
    """
    import torch

    build = import_callable(factory, "--factory")
    cast = torch_dtype(dtype) if dtype is not None else None
    try:
        with torch.device(device):
            module = build()
    except Exception as exc:
        raise ModelBuildError(f"--factory {factory} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(module, torch.nn.Module):
        raise ModelBuildError(
            f"--factory {factory} returned {type(module).__name__}, not a torch.nn.Module"
        )
    try:
        module = module.to(device) if cast is None else module.to(device, cast)
    except Exception as exc:  # out of device memory, meta tensors
        raise ModelBuildError(
            f"moving the model built by {factory} to {device} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return module.eval()


@dataclass(frozen=True)
class ModelInput:
    """The arguments of the forward call, and a description for the record."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    spec: tuple[Mapping[str, Any], ...]  # name, shape, dtype, sha256 of each tensor

    def to(self, device: str) -> ModelInput:
        """The same input on another device."""
        return ModelInput(
            tuple(a.to(device) for a in self.args),
            {k: v.to(device) for k, v in self.kwargs.items()},
            self.spec,
        )


def tensor_sha256(tensor: Any) -> str:
    """sha256 over a tensor's raw little-endian bytes (any dtype, CPU)."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return hashlib.sha256(flat.view(_byte_dtype()).numpy().tobytes()).hexdigest()


def _byte_dtype() -> Any:
    import torch

    return torch.uint8


def make_input(
    input_factory: str | None,
    input_shape: Sequence[int] | None,
    seed: int,
    float_dtype: Any,
) -> ModelInput:
    """Build the seeded input on the CPU; floating tensors take the model's dtype.

    Without an input factory, one standard-normal tensor of `input_shape` is drawn from
    a CPU generator seeded with `seed`.

    Raises:
        UsageError: neither or both of input_factory / input_shape.
        ModelBuildError: the input factory raised or returned something else.
    """
    import torch

    if (input_factory is None) == (input_shape is None):
        raise UsageError(
            "give exactly one of --input-factory module:function or --input-shape N,M,...",
            code="smoke.input",
        )
    if input_shape is not None:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        raw: Any = torch.randn(tuple(input_shape), generator=gen, dtype=torch.float64)
    else:
        assert input_factory is not None
        make = import_callable(input_factory, "--input-factory")
        try:
            with torch.device("cpu"):
                raw = make(seed)
        except Exception as exc:
            raise ModelBuildError(
                f"--input-factory {input_factory} raised {type(exc).__name__}: {exc}"
            ) from exc
    if isinstance(raw, torch.Tensor):
        named_args: list[tuple[str, Any]] = [("input", raw)]
        named_kwargs: list[tuple[str, Any]] = []
    elif isinstance(raw, tuple | list):
        named_args = [(f"input.{i}", t) for i, t in enumerate(raw)]
        named_kwargs = []
    elif isinstance(raw, dict):
        named_args = []
        named_kwargs = [(f"input.{k}", v) for k, v in raw.items()]
    else:
        raise ModelBuildError(
            f"the input factory returned {type(raw).__name__}; "
            "expected a Tensor, a tuple of Tensors or a dict of Tensors"
        )

    def prepare(name: str, value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            raise ModelBuildError(f"{name} is {type(value).__name__}, not a Tensor")
        value = value.detach().to("cpu")
        return value.to(float_dtype) if value.is_floating_point() else value

    args = [(n, prepare(n, v)) for n, v in named_args]
    kwargs = [(n, prepare(n, v)) for n, v in named_kwargs]
    spec = tuple(
        {
            "name": n,
            "shape": list(t.shape),
            "dtype": dtype_name(t.dtype),
            "sha256": tensor_sha256(t),
        }
        for n, t in args + kwargs
    )
    return ModelInput(
        tuple(t for _, t in args),
        {n.removeprefix("input."): t for n, t in kwargs},
        spec,
    )
