"""Device choice: no silent CPU fallback, `auto` explains itself, numerics are restored."""

from __future__ import annotations

import pytest

from weightguard.errors import ExitCode, UsageError
from weightguard.smoke.device import pinned_numerics, resolve_device

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_cpu_is_cpu() -> None:
    choice = resolve_device("cpu")
    assert (choice.device, choice.is_cuda, choice.why) == ("cpu", False, "")


@no_cuda
def test_auto_without_cuda_says_it_chose_the_cpu() -> None:
    choice = resolve_device("auto")
    assert choice.device == "cpu"
    assert choice.to_json_dict() == {
        "requested": "auto",
        "used": "cpu",
        "name": choice.name,
        "why": "no CUDA device is available",
    }


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_cuda_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_device(spec)
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.code == "smoke.device_unavailable"
    assert "--device cpu" in (info.value.hint or "")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda0:", "mps:0", ""])
def test_unknown_spellings_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device(spec)


def test_pinned_numerics_turn_tf32_off_and_restore() -> None:
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        with pinned_numerics(resolve_device("cpu")) as settings:
            assert torch.get_float32_matmul_precision() == "highest"
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            assert settings["tf32"] is False
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cudnn.deterministic is False
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_resolves_and_pins_deterministic_algorithms() -> None:
    choice = resolve_device("cuda")
    assert choice.device == "cuda:0" and choice.is_cuda
    with pinned_numerics(choice) as settings:
        assert torch.are_deterministic_algorithms_enabled()
        assert settings["cublas_workspace_config"]


def test_cuda_numerics_branch_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA-only settings (deterministic algorithms, cuBLAS workspace) need no GPU to set."""
    from weightguard.smoke.device import CUBLAS_WORKSPACE, DeviceChoice

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    with pinned_numerics(DeviceChoice("cuda", "cuda:0", "test")) as settings:
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert settings["deterministic_algorithms"] is True
        assert settings["cublas_workspace_config"] == CUBLAS_WORKSPACE
    assert torch.are_deterministic_algorithms_enabled() == before
