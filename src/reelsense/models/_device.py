"""Device and precision choice shared by every encoder.

``select_device(None)`` (or ``"auto"``) picks CUDA, then Apple MPS, then the CPU. Precision
``"auto"`` is fp16 autocast on CUDA and fp32 elsewhere; ``"bf16"`` works on CUDA and the
CPU, ``"fp16"`` only on CUDA/MPS. Reduced precision is applied with ``torch.autocast`` so
normalisation layers keep fp32 accumulation; the weights autocast casts on every call (those
of linear and convolution layers) are stored in the reduced dtype once, when the model is
loaded (:func:`autocast_weights`), and every other parameter stays fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

from reelsense.errors import ParameterError

__all__ = ["Precision", "autocast_context", "autocast_weights", "select_device", "select_precision"]

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


#: Layers whose weights autocast casts to the reduced dtype on every call (exact types:
#: a subclass such as ``MultiheadAttention``'s output projection may be used differently).
_CAST_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def autocast_weights(module: nn.Module, precision: str) -> nn.Module:
    """Store the weights and biases of ``module``'s linear and convolution layers in the
    dtype of ``precision`` (``fp16``/``bf16``; ``fp32`` changes nothing), in place; returns
    ``module``.

    Under ``torch.autocast`` those layers cast their float32 weights to the reduced dtype on
    every call, and under ``torch.inference_mode`` autocast keeps no cast for the next call,
    so each forward pass launches one cast per weight (on a GPU, from the thread that feeds
    it). Stored in that dtype, the layers get the very values the cast would make, so the
    outputs under :func:`autocast_context` are bitwise the same, without the casts; run the
    module under that context only. Each converted weight is a new parameter, so a module
    sharing it (tied weights) keeps the float32 one. A ``transformers`` model whose ``dtype``
    (that of its first parameter, which decides e.g. its attention masks' fill value) would
    change is left as it was, and so is a model off the CPU and CUDA (whether autocast
    covers these layers elsewhere, e.g. on MPS, depends on the torch version).
    """
    dtype = _RESOLVED_DTYPES.get(precision)
    first = next(module.parameters(), None)
    if dtype is None or first is None or first.device.type not in ("cpu", "cuda"):
        return module
    before = getattr(module, "dtype", None)
    replaced: list[tuple[nn.Module, str, nn.Parameter]] = []
    for layer in module.modules():
        if type(layer) not in _CAST_LAYERS:
            continue
        for name in ("weight", "bias"):
            value = getattr(layer, name, None)
            if isinstance(value, nn.Parameter) and value.dtype == torch.float32:
                replaced.append((layer, name, value))
                setattr(layer, name, nn.Parameter(value.detach().to(dtype), requires_grad=False))
    if getattr(module, "dtype", None) != before:
        for layer, name, value in replaced:
            setattr(layer, name, value)
    return module
