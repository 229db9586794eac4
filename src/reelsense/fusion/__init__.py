"""Fusion: one fixed-size float32 video embedding from the modality vectors and the sound.

The maths
---------
Inputs for one video: modality vectors ``x_m`` in ``R^{d_m}`` for ``m`` in visual (pooled
frame features), caption (text encoder) and audio (audio encoder), each possibly missing;
and the identified sound ``k`` (an index sound id, or a discovered cluster key) with a
confidence ``c`` in [0, 1], possibly missing.

1. **Centre and normalise** each present modality: ``u_m = x_m / ||x_m||``; the visual
   vector first loses its own channel mean (``FusionConfig.center_visual``, row by row,
   data-free): pooled CNN features are non-negative, so unrelated pictures share a large
   common direction (cosine about 0.31 on the dev pictures, 0.10 once centred) while the
   same picture stays near 1.
2. **Project** it to the common size ``D`` (``FusionConfig.dim``, default 1024) with a fixed
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
4. **Picture part** (``FusionConfig.picture_weight``): ``v_p = phi(u_visual)``, random
   Fourier features (:func:`picture_features`) with
   ``<phi(u), phi(u')> ~ exp(-(1 - cos(u, u')) / s)``, ``s = picture_bandwidth`` (0.15): about
   0.87 for the same picture re-encoded or mirrored (cosine 0.98), 0.26 at cosine 0.8, 0.01
   for unrelated pictures. The linear visual term alone cannot keep a repost close to its
   original when the repost uses a sound with many uses: every one of those videos gets the
   full sound term plus the unrelated-picture cosine, and the original only the visual
   cosine. A steep kernel adds about ``w_p^2`` for the same picture and nothing otherwise.
5. **Audio stand-in** (``FusionConfig.audio_stand_in``): a video whose soundtrack holds music
   (``music``) but that has no sound component weighs its audio vector
   ``sqrt(w_a^2 + w_s^2)`` instead of ``w_a``: two uses of an unnamed sound are compared on
   their audio statistics as much as named uses on their identity.
6. **Weight, sum, renormalise** over the components present:
   ``z = sum_{m present} a_m v_m`` with ``a_m = w_m`` (``a_s = w_s c``), and
   ``e = z / ||z||``. A missing modality contributes nothing (it is masked, never a zero
   or an embedding of "" posing as data) and the others are renormalised; a video with
   no component at all has no embedding (null). Because the ``v_m`` of different
   components lie in independent random directions of ``R^D``, cross terms are
   ``O(1/sqrt(D))`` noise and ``cos(e, e') ~ sum_m a_m a'_m cos(v_m, v'_m) / (||z|| ||z'||)``:
   a weighted sum of per-modality cosines over the components both videos have. The
   picture part counts as part of the visual component in ``modality_mask``. ``D = 1024``
   rather than 512 halves the variance of those cross terms (five parts share the space).

Properties: deterministic (a function of the row's own inputs, the config and the
version: never of the other videos in the batch; discovered clusters, when asked for, are
the one corpus-level input and are recorded as such), unit norm, fixed size, versioned
(:data:`FUSION_VERSION`, written into the output with the config and the model ids).
The ``modality_mask`` records which components each embedding holds.

Learned weights: :func:`learn_fusion_weights` fits the weights of the five parts to co-engagement
(videos liked by the same user together, liked and "not interested" apart), same maths;
the fixed weights stay the default (``reelsense fusion train`` / ``apply``).
"""

from reelsense.fusion._config import FUSION_VERSION, MODALITIES, VECTOR_COLUMNS, FusionConfig
from reelsense.fusion._fuse import (
    FusedEmbeddings,
    fuse,
    match_confidence,
    sound_identity_vector,
    sound_identity_vectors,
)
from reelsense.fusion._learned import (
    COMPONENTS,
    LEARNED_FUSION_VERSION,
    FusionComponents,
    LearnedFusion,
    fusion_components,
    learn_fusion_weights,
)
from reelsense.fusion._pool import Pooling, pool_frames

__all__ = [
    "COMPONENTS",
    "FUSION_VERSION",
    "LEARNED_FUSION_VERSION",
    "MODALITIES",
    "VECTOR_COLUMNS",
    "FusedEmbeddings",
    "FusionComponents",
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
