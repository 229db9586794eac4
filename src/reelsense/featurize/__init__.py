"""Video features: modality vectors, descriptors, presence, sound match and the fused embedding.

>>> from reelsense.featurize import VideoFeaturizer
>>> with VideoFeaturizer.from_preset("default", sound_index="examples/sounds") as fz:  # doctest: +SKIP
...     features = fz.featurize("examples/videos/7434147527695413366.mp4")
...     features.embedding.shape, features.modality_mask.names(), features.sound.sound_id
((512,), ('visual', 'caption', 'audio', 'sound'), 's004_hr3-desert')

- :class:`VideoFeaturizer` (``from_preset``, ``featurize``, ``featurize_many``): models in
  this process on batches of frames, decoding and audio analysis in worker processes.
- :class:`VideoFeatures`: the frozen per-video result.
- :func:`embed_corpus`: the same into a resumable Parquet file (what ``reelsense embed``
  runs), with an optional corpus-level sound discovery pass.
"""

from reelsense.featurize._corpus import (
    CLUSTERS_KEY,
    FUSION_KEY,
    apply_sound_clusters,
    assign_cluster_keys,
    cluster_sound_table,
    embed_corpus,
    embed_corpus_from_options,
    featurizer_from_options,
    output_notes,
)
from reelsense.featurize._discovery import Discoverer, default_discoverer, discovery_labels
from reelsense.featurize._features import AudioPresenceColumns, ModalityMask, SoundIdentity, VideoFeatures
from reelsense.featurize._featurizer import (
    DEFAULT_FRAME_STRATEGY,
    VideoFeaturizer,
    default_frame_sampling,
    model_threads,
    open_sound_index,
)
from reelsense.featurize._plot import embedding_map, pca_2d, plot_embeddings, tsne_2d

__all__ = [
    "CLUSTERS_KEY",
    "DEFAULT_FRAME_STRATEGY",
    "FUSION_KEY",
    "AudioPresenceColumns",
    "Discoverer",
    "ModalityMask",
    "SoundIdentity",
    "VideoFeatures",
    "VideoFeaturizer",
    "apply_sound_clusters",
    "assign_cluster_keys",
    "cluster_sound_table",
    "default_discoverer",
    "default_frame_sampling",
    "discovery_labels",
    "embed_corpus",
    "embed_corpus_from_options",
    "embedding_map",
    "featurizer_from_options",
    "model_threads",
    "open_sound_index",
    "output_notes",
    "pca_2d",
    "plot_embeddings",
    "tsne_2d",
]
