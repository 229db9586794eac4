"""Reading state dicts safely: safetensors, or ``torch.load(weights_only=True)``; never pickles."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from reelsense.errors import ModelNotFoundError

__all__ = ["load_state_dict"]


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file or a ``.pth``/``.pt`` state dict, on the CPU.

    ``.pth`` files go through ``torch.load(weights_only=True)``, which refuses arbitrary
    pickled objects: a file holding anything but tensors and plain containers fails.

    Raises:
        ModelNotFoundError: missing file, unsupported suffix, a damaged or truncated file, or not
            a state dict.
    """
    if not path.is_file():
        raise ModelNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (OSError, ValueError, RuntimeError, SafetensorError) as exc:  # a cut or damaged file
            raise ModelNotFoundError(
                f"cannot read safetensors weights {path} (damaged or cut short? copy or reinstall it): {exc}"
            ) from exc
    if path.suffix in {".pth", ".pt"}:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
            raise ModelNotFoundError(f"cannot read {path} as a weights-only state dict: {exc}") from exc
        if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            raise ModelNotFoundError(f"{path} does not hold a plain state dict of tensors")
        return dict(loaded)
    raise ModelNotFoundError(f"weights file {path} must be .safetensors, .pth or .pt")
