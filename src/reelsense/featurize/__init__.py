"""What to compute for each video: modality vectors, descriptors, presence, sound match and the
fused embedding, from one :class:`FeaturizerConfig`.

>>> from reelsense.featurize import FeaturizerConfig, VideoFeaturizer
>>> config = FeaturizerConfig(sound_index="examples/sounds")
>>> with VideoFeaturizer(config) as fz:  # doctest: +SKIP
...     features = fz.featurize("examples/videos/7434147527695413366.mp4")
...     features.embedding.shape, features.modality_mask.names(), features.sound.sound_id
((512,), ('visual', 'caption', 'audio', 'sound'), 's004_hr3-desert')

- :func:`embed_corpus`: every video of folders into a resumable Parquet output (what
  ``reelsense embed`` runs), with the corpus-level sound discovery pass; engines
  ``local`` and ``ray``.
- :class:`VideoFeaturizer` (``featurize``, ``featurize_many``): the models loaded, run in
  this process on batches of frames; decoding and audio analysis in worker processes.
- :class:`VideoFeatures`: the frozen per-video result.
- :func:`plot_embeddings`: a 2-D map of an output's embeddings (PNG, JPEG, SVG or PDF).
"""

from reelsense.featurize._config import FeaturizerConfig
from reelsense.featurize._corpus import embed_corpus
from reelsense.featurize._features import AudioPresenceColumns, ModalityMask, SoundIdentity, VideoFeatures
from reelsense.featurize._featurizer import VideoFeaturizer
from reelsense.featurize._plot import plot_embeddings

__all__ = [
    "AudioPresenceColumns",
    "FeaturizerConfig",
    "ModalityMask",
    "SoundIdentity",
    "VideoFeatures",
    "VideoFeaturizer",
    "embed_corpus",
    "plot_embeddings",
]
