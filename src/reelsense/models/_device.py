"""Device and precision choice shared by every encoder.

``select_device(None)`` (or ``"auto"``) picks CUDA, then Apple MPS, then the CPU. Precision
``"auto"`` is fp16 autocast on CUDA and fp32 elsewhere; ``"bf16"`` works on CUDA and the
CPU, ``"fp16"`` only on CUDA/MPS. Weights stay fp32: reduced precision is applied with
``torch.autocast`` so normalisation layers keep fp32 accumulation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from reelsense.errors import ParameterError

__all__ = ["Precision", "autocast_context", "select_device", "select_precision"]

Precision = Literal["auto", "fp32", "fp16", "bf16"]
_RESOLVED_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``None``/``"auto"`` = cuda > mps > cpu, else the one asked for.

    Raises:
        ParameterError: the requested device is unknown or not available here.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"device must be auto, cpu, cuda[:N] or mps, got {device!r}") from exc
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device {device!r} requested but CUDA is not available")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ParameterError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif chosen.type == "mps":
        if not _mps_available():
            raise ParameterError(f"device {device!r} requested but MPS is not available")
    elif chosen.type != "cpu":
        raise ParameterError(f"device must be auto, cpu, cuda[:N] or mps, got {device!r}")
    return chosen


def select_precision(precision: str, device: torch.device) -> Literal["fp32", "fp16", "bf16"]:
    """The concrete precision for ``device``: ``auto`` -> fp16 on CUDA, fp32 elsewhere.

    Raises:
        ParameterError: unknown value, or fp16 on the CPU (use bf16 or fp32 there).
    """
    value = precision.strip().lower() if isinstance(precision, str) else precision
    if value == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if value == "fp32":
        return "fp32"
    if value == "fp16":
        if device.type == "cpu":
            raise ParameterError("precision 'fp16' is not supported on the CPU; use 'bf16' or 'fp32'")
        return "fp16"
    if value == "bf16":
        if device.type == "mps":
            raise ParameterError("precision 'bf16' is not supported on MPS; use 'fp16' or 'fp32'")
        return "bf16"
    raise ParameterError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")


@contextlib.contextmanager
def autocast_context(device: torch.device, precision: str) -> Iterator[None]:
    """The context of a model's forward pass: ``torch.autocast`` for fp16/bf16 (nothing for
    fp32) and, on CUDA, attention without cuDNN's fused kernels.

    torch prefers cuDNN's attention on Hopper GPUs, and cuDNN builds an execution plan on
    the host for every new input shape (reported at 0.4 s per shape: modelscope/FunASR
    issue 3704). A job's batches change shape all the time (caption lengths, frames per
    batch); FlashAttention and the memory-efficient kernels need no plan.
    """
    with contextlib.ExitStack() as stack:
        if device.type == "cuda":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
            stack.enter_context(sdpa_kernel(backends))
        if precision != "fp32":
            stack.enter_context(torch.autocast(device_type=device.type, dtype=_RESOLVED_DTYPES[precision]))
        yield
