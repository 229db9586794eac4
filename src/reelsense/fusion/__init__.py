"""Fusion: one fixed-size float32 video embedding from the modality vectors and the sound.

The maths
---------
Inputs for one video: modality vectors ``x_m`` in ``R^{d_m}`` for ``m`` in visual (pooled
frame features), caption (text encoder) and audio (audio encoder), each possibly missing;
and the identified sound ``k`` (an index sound id, or a discovered cluster key) with a
confidence ``c`` in [0, 1], possibly missing.

1. **Normalise** each present modality: ``u_m = x_m / ||x_m||``. No centring: removing the
   mean direction of the (non-negative) EfficientNet features (data-free: their channel
   mean) lowers the cosine of unrelated pictures but barely moves retrieval
   (``docs/benchmarks.md``), and a corpus mean would tie a row to the other videos.
2. **Project** it to the common size ``D`` (``FusionConfig.dim``, default 512) with a fixed
   random orthogonal map ``P_m`` (``D x d_m``, drawn from a SHAKE-256 hash of
   ``(version, seed, m, d_m, D)``; :func:`orthogonal_projection`): ``v_m = P_m u_m /
   ||P_m u_m||``. For ``d_m <= D`` the map is an isometry, so cosines within a modality are
   kept exactly; for ``d_m > D`` (EfficientNet's 1280) it is a random orthogonal
   projection, which keeps cosines to about ``+-sqrt(2/D)`` (Johnson-Lindenstrauss).
3. **Sound identity**: ``v_s = g(k)``, a unit Gaussian direction in ``R^D`` drawn from a
   hash of the sound key (:func:`sound_identity_vector`). It depends on nothing but the
   key, so every video that uses the sound gets the same direction whether it was sped
   up, slowed, pitched, cut at another offset or mixed under a voice. Its weight is
   scaled by ``c``: for an index match ``c = 1 - 10**-score`` (the score is ``-log10`` of
   the estimated false-match probability, :func:`match_confidence`); members of a
   discovered sound cluster get ``c = 1``.
4. **Weight, sum, renormalise** over the components present:
   ``z = sum_{m present} a_m v_m`` with ``a_m = w_m`` (``a_s = w_s c``), and
   ``e = z / ||z||``. A missing modality contributes nothing (it is masked, never a zero
   or an embedding of "" posing as data) and the others are renormalised; a video with
   no component at all has no embedding (null). Because the ``v_m`` of different
   components lie in independent random directions of ``R^D``, cross terms are
   ``O(1/sqrt(D))`` noise and ``cos(e, e') ~ sum_m a_m a'_m cos(v_m, v'_m) / (||z|| ||z'||)``:
   a weighted sum of per-modality cosines over the components both videos have.

Properties: deterministic (a function of the row's own inputs, the config and the
version: never of the other videos in the batch; discovered clusters, when asked for, are
the one corpus-level input and are recorded as such), unit norm, fixed size, versioned
(:data:`FUSION_VERSION`, written into the output with the config and the model ids).
The ``modality_mask`` records which components each embedding holds.

Learned weights: :func:`learn_fusion_weights` fits the four weights to co-engagement
(videos liked by the same user together, liked and "not interested" apart), same maths;
the fixed weights stay the default (``reelsense fusion train`` / ``apply``).
"""

from reelsense.fusion._config import FUSION_VERSION, MODALITIES, FusionConfig
from reelsense.fusion._fuse import (
    FusedEmbeddings,
    fuse,
    match_confidence,
    sound_identity_vector,
    sound_identity_vectors,
)
from reelsense.fusion._learned import (
    LEARNED_FUSION_VERSION,
    LearnedFusion,
    fusion_components,
    learn_fusion_weights,
)
from reelsense.fusion._pool import Pooling, pool_frames

__all__ = [
    "FUSION_VERSION",
    "LEARNED_FUSION_VERSION",
    "MODALITIES",
    "FusedEmbeddings",
    "FusionConfig",
    "LearnedFusion",
    "Pooling",
    "fuse",
    "fusion_components",
    "learn_fusion_weights",
    "match_confidence",
    "pool_frames",
    "sound_identity_vector",
    "sound_identity_vectors",
]
