"""Silero VAD (v5/v6, 16 kHz) re-implemented in torch and loaded from the package's safetensors.

The ``silero-vad`` PyPI package (MIT) ships its weights in several forms under
``silero_vad/data``: a TorchScript archive (``silero_vad.jit``), ONNX graphs and, since
6.2.1, ``silero_vad_16k.safetensors`` (the 16 kHz network as plain tensors, with a tinygrad
reference implementation). We use the safetensors file with the architecture written
here, loaded ``strict=True``:

- loading tensors executes nothing from the file (a TorchScript archive carries code and a
  pickle that ``torch.jit.load`` runs; ONNX would need onnxruntime);
- the package itself is never imported (its ``__init__`` calls
  ``torch.set_num_threads(1)``, a process-wide side effect) -- only its data file is read;
- the convolutional front end is stateless, so all 32 ms chunks of a clip go through it
  in one batch and only the LSTM runs along time (``nn.LSTM`` built from the LSTM cell's
  weights: the same gates and maths).

The architecture is pinned by a test: the JIT archive's own tensors loaded into this
module reproduce the JIT model's per-chunk probabilities to 1e-4. The safetensors file holds
a different training snapshot than the JIT archive (probabilities differ by up to ~0.3 on
single chunks); on the 240 development clips their per-kind median speech fractions agree
to 0.02 and neither fires on the music-only clips (< 0.05 of any clip).

The network: each 512-sample chunk (32 ms at 16 kHz) with the 64 samples before it
(zeros for the first chunk) is reflect-padded by 64 on the right, turned into a 129-bin
magnitude spectrum by a fixed 256-tap convolution (stride 128, 4 frames), passed through
four ReLU convolutions (the last leaves one frame of 128 channels), an LSTM cell carried
from chunk to chunk, a ReLU and a 1x1 convolution with a sigmoid: the speech probability.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reelsense.errors import ModelNotFoundError

__all__ = [
    "SILERO_CHUNK",
    "SILERO_RATE",
    "SileroVad",
    "load_silero_vad",
    "silero_probabilities",
    "silero_weights_path",
]

logger = logging.getLogger(__name__)

SILERO_RATE = 16000
SILERO_CHUNK = 512
_CONTEXT = 64
_WEIGHTS = "silero_vad_16k.safetensors"


class SileroVad(nn.Module):
    """The 16 kHz Silero VAD network (parameter names as in the package's safetensors)."""

    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, kernel_size=3, padding=1)
        self.lstm_cell = nn.LSTMCell(128, 128)
        self.final_conv = nn.Conv1d(128, 1, kernel_size=1)
        self._lstm: nn.LSTM | None = None

    def sequence_lstm(self) -> nn.LSTM:
        """An ``nn.LSTM`` sharing the cell's weights (built once, after loading)."""
        if self._lstm is None:
            lstm = nn.LSTM(128, 128, batch_first=True)
            cell = {name: value.detach().clone() for name, value in self.lstm_cell.state_dict().items()}
            lstm.load_state_dict({f"{name}_l0": value for name, value in cell.items()}, strict=True)
            self._lstm = lstm.eval()
        return self._lstm

    def frontend(self, chunks: torch.Tensor) -> torch.Tensor:
        """``[N, 576]`` chunks with their context -> ``[N, 128]`` features."""
        x = F.pad(chunks.unsqueeze(1), (0, _CONTEXT), mode="reflect")
        x = self.stft_conv(x)
        x = torch.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        return x.squeeze(-1)

    def forward(self, chunks: torch.Tensor) -> torch.Tensor:
        """``[B, T, 576]`` consecutive chunks (with context) -> speech probabilities ``[B, T]``."""
        batch, steps, width = chunks.shape
        features = self.frontend(chunks.reshape(batch * steps, width)).reshape(batch, steps, 128)
        hidden, _ = self.sequence_lstm()(features)
        logits = self.final_conv(F.relu(hidden).transpose(1, 2))  # [B, 1, T]
        return torch.sigmoid(logits[:, 0])


def silero_weights_path() -> Path | None:
    """The package's ``silero_vad_16k.safetensors``, or None when silero-vad (>= 6.2.1) is absent.

    Found through the import system without importing the package (see the module docstring).
    """
    try:
        spec = importlib.util.find_spec("silero_vad")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / _WEIGHTS
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def load_silero_vad() -> SileroVad:
    """The network with the packaged weights, CPU, eval mode (cached per process).

    Raises:
        ModelNotFoundError: silero-vad is not installed or has no safetensors weights.
    """
    path = silero_weights_path()
    if path is None:
        raise ModelNotFoundError(
            "the Silero VAD needs the silero-vad package (>= 6.2.1, which ships "
            f"{_WEIGHTS}): pip install silero-vad"
        )
    from reelsense.models._weights import load_state_dict

    model = SileroVad()
    try:
        model.load_state_dict(load_state_dict(path), strict=True)
    except RuntimeError as exc:
        raise ModelNotFoundError(f"{path} does not hold the Silero VAD 16 kHz network: {exc}") from exc
    model.eval()
    model.sequence_lstm()
    logger.debug("loaded Silero VAD from %s", path)
    return model


def _chunks(samples: np.ndarray) -> torch.Tensor:
    """``[T, 576]``: each 512-sample chunk (the last zero-padded) with its 64-sample context."""
    n_chunks = max(1, -(-samples.shape[0] // SILERO_CHUNK))
    padded = np.zeros(_CONTEXT + n_chunks * SILERO_CHUNK, dtype=np.float32)
    padded[_CONTEXT : _CONTEXT + samples.shape[0]] = samples
    view = np.lib.stride_tricks.sliding_window_view(padded, _CONTEXT + SILERO_CHUNK)[::SILERO_CHUNK]
    # a copy even when the view is contiguous (one chunk): torch warns on a read-only array
    return torch.from_numpy(np.array(view[:n_chunks]))


def silero_probabilities(samples_16k: np.ndarray) -> np.ndarray:
    """Speech probability of each 32 ms chunk of mono 16 kHz ``samples [n]``: float32
    ``[ceil(n / 512)]`` (chunk ``i`` covers samples ``512 i .. 512 i + 511``).

    Raises:
        ModelNotFoundError: silero-vad is not installed (see :func:`load_silero_vad`).
    """
    model = load_silero_vad()
    chunks = _chunks(np.asarray(samples_16k, dtype=np.float32))
    with torch.inference_mode():
        probabilities: np.ndarray = model(chunks.unsqueeze(0))[0].numpy().astype(np.float32)
    return probabilities
