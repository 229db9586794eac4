"""Audio Spectrogram Transformer backend of :class:`reelsense.audio.AudioEncoder`.

A clip (already at the model's rate) is cut into windows of ``entry.audio.window_seconds``
(10.24 s for the AudioSet AST: 1024 fbank frames of 10 ms) every ``hop_seconds``; a
trailing window shorter than a quarter of a window is dropped unless it is the clip's
only one. The model's own feature extractor (``preprocessor_config.json``: Kaldi-style
128-band fbank, mean/std normalisation, zero padding to ``max_length`` frames) prepares
each window; windows of all clips in a call are batched. A clip's vector is the
duration-weighted mean of its windows' pooled outputs (``pooler_output``: mean of the CLS
and distillation tokens after the final layer norm).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from reelsense.errors import ModelNotFoundError
from reelsense.models import ResolvedModel, autocast_context, load_transformer

__all__ = ["AstBackend", "load_ast_backend", "window_starts"]

logger = logging.getLogger(__name__)

_MIN_TAIL = 0.25


def window_starts(n_samples: int, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Start samples and lengths ``[w]`` of the windows covering ``n_samples``."""
    if n_samples <= window:
        return np.array([0]), np.array([n_samples])
    starts = np.arange(0, n_samples, hop)
    last = int(np.argmax(starts + window >= n_samples))  # the first window that reaches the end
    starts = starts[: last + 1]
    lengths = np.minimum(window, n_samples - starts)
    keep = lengths >= _MIN_TAIL * window
    keep[0] = True
    return starts[keep], lengths[keep]


class AstBackend:
    """Batched AST inference (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        feature_extractor: Any,
        *,
        sample_rate: int,
        window_seconds: float,
        hop_seconds: float,
        device: torch.device,
        precision: str,
        batch_size: int,
    ) -> None:
        self.model = model
        self.feature_extractor = feature_extractor
        self.sample_rate = sample_rate
        self.window = max(1, round(window_seconds * sample_rate))
        self.hop = max(1, round(hop_seconds * sample_rate))
        self.device = device
        self.precision = precision
        self.batch_size = max(1, int(batch_size))

    def _forward(self, windows: list[np.ndarray]) -> np.ndarray:
        features = self.feature_extractor(windows, sampling_rate=self.sample_rate, return_tensors="np")
        inputs = torch.from_numpy(np.asarray(features["input_values"], dtype=np.float32)).to(self.device)
        with torch.inference_mode(), autocast_context(self.device, self.precision):
            output = self.model(input_values=inputs)
        pooled = getattr(output, "pooler_output", None)
        if not isinstance(pooled, torch.Tensor):
            raise ModelNotFoundError(f"{type(self.model).__name__} gives no pooler_output")
        return pooled.float().cpu().numpy()

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        windows: list[np.ndarray] = []
        owners: list[int] = []
        weights: list[float] = []
        for index, clip in enumerate(clips):
            starts, lengths = window_starts(clip.shape[0], self.window, self.hop)
            for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
                windows.append(clip[start : start + length])
                owners.append(index)
                weights.append(float(length))
        pooled = np.concatenate(
            [self._forward(windows[i : i + self.batch_size]) for i in range(0, len(windows), self.batch_size)]
        )
        owner = np.asarray(owners)
        weight = np.asarray(weights)[:, None]
        out = np.zeros((len(clips), pooled.shape[1]), dtype=np.float64)
        np.add.at(out, owner, pooled * weight)
        out /= np.bincount(owner, weights=weight[:, 0], minlength=len(clips))[:, None]
        return out.astype(np.float32)


def _quietly(function: Any, *args: Any) -> Any:
    """Call ``function`` with transformers' warnings muted: a hub AST checkpoint is an
    audio classifier, and its unused head would be reported as unexpected weights on every
    load (missing weights are still an error, see ``reelsense.models.load_transformer``)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return function(*args)
    finally:
        hf_logging.set_verbosity(verbosity)


def load_ast_backend(
    resolved: ResolvedModel, device: torch.device, precision: str, *, batch_size: int = 16
) -> AstBackend:
    """The AST model and feature extractor in ``resolved.path`` on ``device``."""
    from transformers import AutoFeatureExtractor

    entry = resolved.entry
    if entry.audio is None:
        raise ModelNotFoundError(f"model {entry.name!r} has no audio spec")
    try:
        extractor = AutoFeatureExtractor.from_pretrained(str(resolved.path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelNotFoundError(
            f"cannot load the feature extractor of {entry.name!r} from {resolved.path}: {exc}"
        ) from exc
    rate = int(getattr(extractor, "sampling_rate", entry.audio.sample_rate))
    if rate != entry.audio.sample_rate:
        raise ModelNotFoundError(
            f"model {entry.name!r}: its feature extractor expects {rate} Hz, the entry says "
            f"{entry.audio.sample_rate} Hz"
        )
    model = _quietly(load_transformer, resolved.path, device)
    window = entry.audio.window_seconds or 10.24
    return AstBackend(
        model,
        extractor,
        sample_rate=rate,
        window_seconds=window,
        hop_seconds=entry.audio.hop_seconds or window,
        device=device,
        precision=precision,
        batch_size=batch_size,
    )
