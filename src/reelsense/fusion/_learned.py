"""Fusion weights learned from co-engagement.

The fixed fusion (:func:`~reelsense.fusion.fuse`) sums the projected modality vectors and
the sound direction with round-number weights ``w_m``. A learned fusion keeps the same
maths and learns the weights of its five parts (visual, caption, audio, sound and the
picture part) from what viewers did:

- **together**: two videos the same user engaged with positively (a like, a share, a
  long watch);
- **apart**: a video a user engaged with positively and one the same user marked "not
  interested" (or reacted to negatively).

For a pair ``(i, j)`` the fused cosine under weights ``w`` is computed exactly from the
component dot products ``G_mn(i, j) = c_m(i) c_n(j) v_m(i) . v_n(j)`` (``c`` = 1 for a
present part, the match confidence for the sound, 0 when missing):
``cos_w = w^T G(i, j) w / sqrt(w^T G(i, i) w  w^T G(j, j) w)``. A logistic model
``P(together) = sigmoid(t * cos_w + b)`` is fitted by full-batch Adam in torch (no
randomness besides the seeded pair sample), the weights kept positive by a softplus and
reported with the largest scaled to 1. The result is a :class:`LearnedFusion`: a
:class:`~reelsense.fusion.FusionConfig` plus how it was learned, stored as JSON and
written into the Parquet metadata of the embeddings it produced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from reelsense._progress import ProgressCallback
from reelsense.errors import ParameterError
from reelsense.fusion._config import FUSION_VERSION, FusionConfig
from reelsense.io._files import replacing

__all__ = [
    "COMPONENTS",
    "LEARNED_FUSION_VERSION",
    "FusionComponents",
    "LearnedFusion",
    "fusion_components",
    "learn_fusion_weights",
]

#: Bump when the way weights are learned changes.
LEARNED_FUSION_VERSION = 1

#: The weighted parts of the fused embedding, in the order of :func:`fusion_components`
#: (each has a ``<name>_weight`` in :class:`~reelsense.fusion.FusionConfig`).
COMPONENTS: tuple[str, ...] = ("visual", "caption", "audio", "sound", "picture")


@dataclass(frozen=True)
class LearnedFusion:
    """Fusion weights learned from co-engagement.

    Attributes:
        config: the fusion config with the learned weights (dim and seed of the data).
        together_pairs, apart_pairs: the pairs it was learned from.
        accuracy_before, accuracy_after: share of the pairs on the right side of the
            fitted threshold with the fixed and the learned weights (on the training pairs).
        version: :data:`LEARNED_FUSION_VERSION`.
    """

    config: FusionConfig
    together_pairs: int
    apart_pairs: int
    accuracy_before: float
    accuracy_after: float
    version: int = LEARNED_FUSION_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["config"] = self.config.to_dict()
        out["method"] = "co-engagement logistic"
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> LearnedFusion:
        path = Path(path)
        if not path.is_file():
            raise ParameterError(f"learned fusion {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ParameterError(f"learned fusion {str(path)!r} is not readable JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise ParameterError(f"learned fusion {str(path)!r} is not a JSON object with a 'config' object")
        if (
            data.get("version") != LEARNED_FUSION_VERSION
            or data.get("config", {}).get("version") != FUSION_VERSION
        ):
            raise ParameterError(
                f"{str(path)!r} is learned fusion version {data.get('version')!r} of fusion "
                f"{data.get('config', {}).get('version')!r}, "
                f"expected {LEARNED_FUSION_VERSION} of {FUSION_VERSION}"
            )
        config = {k: v for k, v in data["config"].items() if k != "version"}
        try:
            return cls(
                config=FusionConfig(**config),
                together_pairs=int(data["together_pairs"]),
                apart_pairs=int(data["apart_pairs"]),
                accuracy_before=float(data["accuracy_before"]),
                accuracy_after=float(data["accuracy_after"]),
                extra=dict(data.get("extra", {})),
            )
        except ParameterError as exc:  # FusionConfig's own check names the bad value
            raise ParameterError(f"learned fusion {str(path)!r} is malformed: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(
                f"learned fusion {str(path)!r} is malformed: {type(exc).__name__}: {exc}"
            ) from exc


@dataclass(frozen=True, repr=False, eq=False)
class FusionComponents:
    """The parts of ``n`` videos' fused embeddings (:func:`fusion_components`), held in half
    the memory of float64: float32 (each part is a float32 vector, so nothing is lost) with
    the sound part unscaled and its confidence apart; :meth:`rows` gives them in float64.

    Attributes:
        parts: float32 ``[n, 5, D]``, zeros where missing; the sound part is the unit
            sound direction, not yet times its confidence.
        sound_confidence: float64 ``[n]``, 0 where the video has no sound part.
    """

    parts: np.ndarray
    sound_confidence: np.ndarray

    def __post_init__(self) -> None:
        n = self.parts.shape[0] if self.parts.ndim == 3 else -1
        if (
            self.parts.ndim != 3
            or self.parts.shape[1] != len(COMPONENTS)
            or self.sound_confidence.shape != (n,)
        ):
            raise ParameterError(
                f"parts of shape {self.parts.shape} and sound confidence of shape "
                f"{self.sound_confidence.shape}: expected [n, {len(COMPONENTS)}, D] and [n]"
            )

    def __len__(self) -> int:
        return int(self.parts.shape[0])

    def rows(self, index: np.ndarray | slice) -> np.ndarray:
        """float64 ``[k, 5, D]``: the parts of the videos ``index``, the sound's times its
        confidence."""
        out = np.array(self.parts[index], dtype=np.float64)  # a copy: never scales the parts held
        sound = COMPONENTS.index("sound")
        out[:, sound] *= np.asarray(self.sound_confidence[index])[:, None]
        return out


def fusion_components(
    config: FusionConfig,
    *,
    visual: np.ndarray | None = None,
    caption: np.ndarray | None = None,
    audio: np.ndarray | None = None,
    sound_keys: Sequence[str | None] | None = None,
    sound_confidence: np.ndarray | None = None,
) -> FusionComponents:
    """Each video's unit part for every name of :data:`COMPONENTS` (the sound's with its
    confidence), zeros where missing: what :func:`~reelsense.fusion.fuse` weights and sums
    (without the audio stand-in). Each row depends only on that row's inputs, so a caller
    may compute them block by block of rows."""
    from reelsense.fusion._fuse import center_rows, picture_features, project_modality, sound_identity_vectors

    sizes = [len(v) for v in (visual, caption, audio) if v is not None]
    n = sizes[0] if sizes else (len(sound_keys) if sound_keys is not None else 0)
    out = np.zeros((n, len(COMPONENTS), config.dim), dtype=np.float32)
    confidence = np.zeros(n)
    centred = center_rows(visual) if visual is not None and config.center_visual else visual
    for j, (name, vectors) in enumerate((("visual", centred), ("caption", caption), ("audio", audio))):
        if vectors is not None:
            projected, ok = project_modality(vectors, name, config)
            out[ok, j] = projected[ok]
    if sound_keys is not None:
        conf = np.ones(n) if sound_confidence is None else sound_confidence
        vectors_s, weights_s = sound_identity_vectors(sound_keys, conf, config)
        ok = weights_s > 0
        out[ok, COMPONENTS.index("sound")] = vectors_s[ok]
        confidence[ok] = weights_s[ok]
    if visual is not None:
        picture, ok = picture_features(visual, config)
        out[ok, COMPONENTS.index("picture")] = picture[ok]
    return FusionComponents(out, confidence)


#: pairs per block of :func:`_grams` (its gathered rows are one block, not every pair's)
_GRAM_BLOCK_PAIRS = 1024


def _grams(components: FusionComponents, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """``[p, m, m]`` component dot products of the pairs ``(a[k], b[k])``, of ``(a[k], a[k])``
    and of ``(b[k], b[k])``, block by block of pairs: gathering the rows of every pair at once
    would hold ``p * m * D`` floats. Each block's rows are gathered once for all three."""
    m = len(COMPONENTS)
    ab, aa, bb = (np.empty((len(a), m, m), dtype=np.float64) for _ in range(3))
    for start in range(0, len(a), _GRAM_BLOCK_PAIRS):
        rows = slice(start, start + _GRAM_BLOCK_PAIRS)
        left = np.nan_to_num(components.rows(a[rows]), copy=False)  # rows() gives a fresh copy
        right = np.nan_to_num(components.rows(b[rows]), copy=False)
        ab[rows] = np.einsum("pmd,pnd->pmn", left, right)
        aa[rows] = np.einsum("pmd,pnd->pmn", left, left)
        bb[rows] = np.einsum("pmd,pnd->pmn", right, right)
    return ab, aa, bb


def _accuracy(cos: np.ndarray, label: np.ndarray) -> float:
    """Best balanced accuracy of a threshold on ``cos``."""
    order = np.argsort(-cos, kind="stable")
    lab = label[order]
    pos, neg = max(1, int(lab.sum())), max(1, int((1 - lab).sum()))
    tpr = np.cumsum(lab) / pos
    tnr = 1 - np.cumsum(1 - lab) / neg
    return float(np.max(0.5 * (tpr + tnr)))


def learn_fusion_weights(
    components: FusionComponents,
    together: np.ndarray,
    apart: np.ndarray,
    base: FusionConfig,
    *,
    steps: int = 300,
    progress: ProgressCallback | None = None,
) -> LearnedFusion:
    """Learn the fusion weights of :data:`COMPONENTS` from pairs of videos.

    Args:
        components: the videos' parts, from :func:`fusion_components`.
        together, apart: int ``[p, 2]`` and ``[q, 2]`` video row pairs.
        base: the fixed config (its weights start the fit; dim and seed are kept).
        progress: called as ``progress("fit", done, steps)`` every few steps of the fit.

    Raises:
        ParameterError: fewer than 10 pairs of either kind, or ``components`` that are not
            :class:`FusionComponents`.
    """
    import torch

    if not isinstance(components, FusionComponents):
        raise ParameterError(f"components must be FusionComponents, got {type(components).__name__}")
    if len(together) < 10 or len(apart) < 10:
        raise ParameterError(
            f"{len(together)} 'together' and {len(apart)} 'apart' pairs: at least 10 of each are needed"
        )
    pairs = np.concatenate([together, apart]).astype(np.int64)
    label = np.r_[np.ones(len(together)), np.zeros(len(apart))]
    g_ab, g_aa, g_bb = (torch.from_numpy(g) for g in _grams(components, pairs[:, 0], pairs[:, 1]))
    y = torch.from_numpy(label)
    balance = torch.where(y > 0, 0.5 / len(together), 0.5 / len(apart))
    start = np.array([max(float(getattr(base, f"{m}_weight")), 1e-3) for m in COMPONENTS])

    def cosine(w: torch.Tensor) -> torch.Tensor:
        num = torch.einsum("m,pmn,n->p", w, g_ab, w)
        den = torch.sqrt(
            torch.einsum("m,pmn,n->p", w, g_aa, w).clamp(min=1e-12)
            * torch.einsum("m,pmn,n->p", w, g_bb, w).clamp(min=1e-12)
        )
        return num / den

    # the same cosine for the fit's steps, each pair's w^T G w one product of its flattened
    # G with outer(w, w): about a fifth of the einsum's CPU time, equal to it to the last
    # bits only (so the accuracies, which rank the pairs, keep the einsum)
    k = len(COMPONENTS)
    flat_ab, flat_aa, flat_bb = (g.reshape(-1, k * k) for g in (g_ab, g_aa, g_bb))

    def fit_cosine(w: torch.Tensor) -> torch.Tensor:
        ww = torch.outer(w, w).reshape(-1)
        den = torch.sqrt(torch.mv(flat_aa, ww).clamp(min=1e-12) * torch.mv(flat_bb, ww).clamp(min=1e-12))
        return torch.mv(flat_ab, ww) / den

    raw = torch.tensor(np.log(np.expm1(start)), dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([raw, scale, bias], lr=0.05)
    for step in range(steps):
        optimiser.zero_grad()
        logits = scale * fit_cosine(torch.nn.functional.softplus(raw)) + bias
        loss = (
            balance * torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        ).sum()
        loss.backward()
        optimiser.step()
        if progress is not None and ((step + 1) % 10 == 0 or step + 1 == steps):
            progress("fit", step + 1, steps)
    with torch.no_grad():
        learned = torch.nn.functional.softplus(raw).numpy()
        before = _accuracy(cosine(torch.from_numpy(start)).numpy(), label)
        after = _accuracy(cosine(torch.from_numpy(learned)).numpy(), label)
    learned = learned / learned.max()
    weights = {f"{m}_weight": float(round(w, 4)) for m, w in zip(COMPONENTS, learned, strict=True)}
    if not all(math.isfinite(w) for w in weights.values()):
        raise ParameterError("the learned fusion weights are not finite (degenerate pairs?)")
    return LearnedFusion(
        config=replace(base, **weights),  # type: ignore[arg-type]
        together_pairs=len(together),
        apart_pairs=len(apart),
        accuracy_before=round(before, 4),
        accuracy_after=round(after, 4),
    )
