"""Device and precision selection (CPU only: CUDA/MPS availability is simulated)."""

from __future__ import annotations

import pytest
import torch

from reelsense.errors import ParameterError
from reelsense.models import _device, select_device, select_precision
from reelsense.models._device import autocast_context


@pytest.fixture
def no_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(_device, "_mps_available", lambda: False)


@pytest.mark.usefixtures("no_accelerators")
def test_auto_device_is_cpu_without_accelerators() -> None:
    assert select_device(None) == torch.device("cpu")
    assert select_device("auto") == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ParameterError, match="CUDA is not available"):
        select_device("cuda")
    with pytest.raises(ParameterError, match="MPS is not available"):
        select_device("mps")
    with pytest.raises(ParameterError, match="device must be"):
        select_device("tpu")


def test_auto_device_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(_device, "_mps_available", lambda: True)
    assert select_device(None) == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(None) == torch.device("mps")


def test_precision_choice() -> None:
    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
    assert select_precision("auto", cpu) == "fp32"
    assert select_precision("auto", cuda) == "fp16"
    assert select_precision("auto", mps) == "fp32"
    assert select_precision("bf16", cpu) == "bf16"
    assert select_precision("BF16", cuda) == "bf16"
    assert select_precision("fp16", cuda) == "fp16"
    with pytest.raises(ParameterError, match="fp16"):
        select_precision("fp16", cpu)
    with pytest.raises(ParameterError, match="bf16"):
        select_precision("bf16", mps)
    with pytest.raises(ParameterError, match="fp8"):
        select_precision("fp8", cpu)


def test_autocast_context_on_cpu() -> None:
    a = torch.randn(4, 4)
    with autocast_context(torch.device("cpu"), "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast_context(torch.device("cpu"), "fp32"):
        assert (a @ a).dtype == torch.float32


def test_model_context_keeps_cudnn_attention_off_on_cuda_only() -> None:
    """On CUDA the forward pass runs attention without cuDNN's kernels (a plan per new
    shape); the process's own choice comes back afterwards, and the CPU is left alone."""
    cuda = torch.backends.cuda
    assert cuda.cudnn_sdp_enabled() and cuda.flash_sdp_enabled()
    with autocast_context(torch.device("cpu"), "fp32"):
        assert cuda.cudnn_sdp_enabled()
    with autocast_context(torch.device("cuda"), "fp32"):  # no GPU needed: backend flags only
        assert not cuda.cudnn_sdp_enabled()
        assert cuda.flash_sdp_enabled() and cuda.mem_efficient_sdp_enabled() and cuda.math_sdp_enabled()
    assert cuda.cudnn_sdp_enabled()
