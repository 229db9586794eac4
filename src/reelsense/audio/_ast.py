"""Audio Spectrogram Transformer backend of :class:`reelsense.audio.AudioEncoder`.

A clip (already at the model's rate) is cut into windows of ``entry.audio.window_seconds``
(10.24 s for the AudioSet AST: 1024 fbank frames of 10 ms) every ``hop_seconds``; a
trailing window shorter than a quarter of a window is dropped unless it is the clip's
only one. Windows of all clips in a call are batched. A clip's vector is the
duration-weighted mean of its windows' pooled outputs (``pooler_output``: mean of the CLS
and distillation tokens after the final layer norm).

Inputs are what the model's ``ASTFeatureExtractor`` (``preprocessor_config.json``) makes --
a Kaldi-style fbank: 25 ms symmetric Hann frames every 10 ms, DC removed, pre-emphasis
0.97, 512-point power spectrum, Kaldi mel filters from 20 Hz, natural log floored at float32
epsilon, zero rows padded to ``max_length`` frames, ``(x - mean) / (2 std)`` -- computed
here in torch on the model's device for the whole batch (:func:`ast_fbank`; equal to the
extractor's output to 2e-4, tested against its numpy and its torchaudio paths), because
transformers' per-window loop on the CPU is far slower than the model on a GPU (figures in
``docs/benchmarks.md``).
Other feature extractors are called as they are.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from reelsense.errors import ModelNotFoundError
from reelsense.models import ResolvedModel
from reelsense.models._device import autocast_context, autocast_weights
from reelsense.models._hf import load_transformer

__all__ = ["AstBackend", "FbankSpec", "ast_fbank", "load_ast_backend", "window_starts"]

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


@dataclass(frozen=True)
class FbankSpec:
    """The ``ASTFeatureExtractor`` settings :func:`ast_fbank` reproduces."""

    sample_rate: int = 16000
    num_mel_bins: int = 128
    max_length: int = 1024
    mean: float = -4.2677393
    std: float = 4.5689974
    do_normalize: bool = True

    @classmethod
    def of(cls, extractor: Any) -> FbankSpec | None:
        """The spec of an ``ASTFeatureExtractor``; None for any other extractor."""
        if type(extractor).__name__ != "ASTFeatureExtractor":
            return None
        return cls(
            sample_rate=int(extractor.sampling_rate),
            num_mel_bins=int(extractor.num_mel_bins),
            max_length=int(extractor.max_length),
            mean=float(extractor.mean),
            std=float(extractor.std),
            do_normalize=bool(extractor.do_normalize),
        )

    def mel_filters(self) -> np.ndarray:
        """Kaldi mel filters ``[257, num_mel_bins]`` exactly as the extractor builds them."""
        from transformers.audio_utils import mel_filter_bank

        with warnings.catch_warnings():  # 128 Kaldi bands over 257 bins leave one band empty
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(
                mel_filter_bank(
                    num_frequency_bins=257,
                    num_mel_filters=self.num_mel_bins,
                    min_frequency=20,
                    max_frequency=self.sample_rate // 2,
                    sampling_rate=self.sample_rate,
                    norm=None,
                    mel_scale="kaldi",
                    triangularize_in_mel_space=True,
                ),
                dtype=np.float32,
            )


_FRAME, _HOP, _FFT, _PREEMPHASIS = 400, 160, 512, 0.97
_LOG_FLOOR = 1.192092955078125e-07


def ast_fbank(windows: Sequence[np.ndarray], spec: FbankSpec, filters: torch.Tensor) -> torch.Tensor:
    """AST ``input_values`` ``[len(windows), max_length, num_mel_bins]`` on ``filters.device``
    (see the module docstring); ``windows`` are mono float arrays at ``spec.sample_rate``."""
    device = filters.device
    longest = max(_FRAME, max(w.shape[0] for w in windows))
    batch = torch.zeros((len(windows), longest), dtype=torch.float32)
    for i, w in enumerate(windows):
        batch[i, : w.shape[0]] = torch.from_numpy(np.asarray(w, dtype=np.float32))
    frames = batch.to(device).unfold(1, _FRAME, _HOP)[:, : spec.max_length]  # [B, F, 400]
    frames = frames - frames.mean(dim=-1, keepdim=True)
    frames = torch.cat(
        [frames[..., :1] * (1 - _PREEMPHASIS), frames[..., 1:] - _PREEMPHASIS * frames[..., :-1]], -1
    )
    frames = frames * torch.hann_window(_FRAME, periodic=False, device=device)
    power = torch.fft.rfft(frames, n=_FFT).abs() ** 2
    fbank = torch.log(torch.clamp(power @ filters, min=_LOG_FLOOR))  # [B, F, mels]
    counts = torch.tensor([max(0, 1 + (w.shape[0] - _FRAME) // _HOP) for w in windows], device=device)
    valid = torch.arange(fbank.shape[1], device=device)[None, :] < counts[:, None]
    fbank = torch.where(valid[..., None], fbank, torch.zeros((), device=device))
    if fbank.shape[1] < spec.max_length:
        fbank = torch.nn.functional.pad(fbank, (0, 0, 0, spec.max_length - fbank.shape[1]))
    if spec.do_normalize:
        fbank = (fbank - spec.mean) / (2 * spec.std)
    return fbank


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
        self.fbank = FbankSpec.of(feature_extractor)
        self.filters = (
            torch.from_numpy(self.fbank.mel_filters()).to(device) if self.fbank is not None else None
        )

    def inputs(self, windows: Sequence[np.ndarray]) -> torch.Tensor:
        """The model's ``input_values`` for ``windows``, on the device."""
        if self.fbank is not None and self.filters is not None:
            with torch.inference_mode():
                return ast_fbank(windows, self.fbank, self.filters)
        features = self.feature_extractor(list(windows), sampling_rate=self.sample_rate, return_tensors="np")
        return torch.from_numpy(np.asarray(features["input_values"], dtype=np.float32)).to(self.device)

    def _forward(self, windows: list[np.ndarray]) -> np.ndarray:
        inputs = self.inputs(windows)
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
    model = autocast_weights(_quietly(load_transformer, resolved.path, device), precision)
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
