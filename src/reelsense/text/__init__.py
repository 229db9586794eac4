"""Text layer: caption text building and text encoders.

>>> from reelsense.text import build_caption_text, load_text_encoder
>>> build_caption_text("Sunday walk #KenBurns", ["heroes_rite"])
'Sunday walk ken burns heroes rite'
>>> encoder = load_text_encoder("minilm_l6", device="cpu")                 # doctest: +SKIP
>>> encoder.encode_captions(["a cat on a sofa", None]).present             # doctest: +SKIP
array([ True, False])

- :func:`build_caption_text` / :func:`split_hashtag`: caption + hashtags -> text, ``None``
  for a missing caption.
- :func:`load_text_encoder` / :class:`TextEncoder`: ``encode(texts) -> [n, dim]`` and
  ``encode_captions(captions) -> CaptionEmbeddings`` (vectors + ``present`` mask).
"""

from reelsense.text._caption import build_caption_text, split_hashtag
from reelsense.text._encoder import CaptionEmbeddings, TextEncoder, load_text_encoder

__all__ = [
    "CaptionEmbeddings",
    "TextEncoder",
    "build_caption_text",
    "load_text_encoder",
    "split_hashtag",
]
