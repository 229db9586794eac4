"""Make the tiny random test models under models/ and their golden outputs under tests/.

Deterministic (seeded), offline (no download: the tokenizers' vocabularies are built here),
a few hundred kB in total. The models load through the same registry and loading code as
the real ones (``tiny_image``, ``tiny_text``, ``tiny_clip``, ``tiny_ast`` entries); their vectors mean
nothing, they only pin the code paths. Goldens are the encoders' outputs on seeded inputs,
so a change in preprocessing, pooling or architecture code shows up as a golden mismatch:
rerun this script only when such a change is intended, and say so in the commit.

Usage: python scripts/dev/make_tiny_models.py [--models-dir models] [--no-goldens] [--only tiny_ast ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
SEED = 20240601
_WORD_TEXT = """
a an the and or but of to in on at by for with from up down over under into onto off out
is are was were be been being have has had do does did can could will would should may
might i you he she it we they me him her us them my your his its our their this that
these those cat cats kitten dog dogs puppy bird birds pigeon vulture ferret bear horse
fish animal animals sofa couch bed table chair room house home city street road car truck
bus train plane rocket space moon sun star stars earth planet sky cloud rain snow wind
sea ocean river lake mountain tree trees flower flowers plant grass forest garden food
fruit apple apricot coffee tea cake bread pizza music song sound dance video photo
picture art painting color red green blue black white yellow big small old new good bad
happy sad fast slow hot cold day night morning evening today week year time life love
friend family people man woman child kid baby boy girl run walk jump sleep sleeping eat
drink look see watch play make made take go come get market stock crash money news
challenge trend viral heroes rite ken burns nature documentary short facts ask real boss
meet just like one two three first last best more most very so not
"""
WORDS = _WORD_TEXT.split()
PUNCTUATION = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def init_batchnorm(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Random affine parameters and running statistics, so BN is not an identity in the goldens."""
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            n = layer.num_features
            assert layer.running_mean is not None and layer.running_var is not None
            with torch.no_grad():
                layer.weight.copy_(0.5 + torch.rand(n, generator=generator))
                layer.bias.copy_(0.1 * torch.randn(n, generator=generator))
                layer.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                layer.running_var.copy_(0.5 + torch.rand(n, generator=generator))


def make_tiny_image(out: Path) -> None:
    from reelsense.vision import EfficientNetLite
    from reelsense.vision._efficientnet import EfficientNetLiteConfig, StageSpec

    torch.manual_seed(SEED)
    config = EfficientNetLiteConfig(
        stem_channels=8,
        stages=(
            StageSpec(1, 3, 1, 1, 8),
            StageSpec(2, 3, 2, 4, 12),
            StageSpec(1, 5, 2, 4, 16),
            StageSpec(2, 3, 2, 4, 24),
        ),
        head_channels=64,
        num_classes=10,
    )
    model = EfficientNetLite(config).eval()
    generator = torch.Generator().manual_seed(SEED)
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):  # He init: keeps activations lively through the depth
            fan_in = layer.weight[0].numel()
            with torch.no_grad():
                layer.weight.copy_(
                    torch.randn(layer.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                )
    init_batchnorm(model, generator)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "reelsense_architecture": "efficientnet_lite",
        "image_size": 64,
        "crop_fraction": 0.875,
        "interpolation": "bilinear",
    }
    data.update(config.to_json_dict())
    (out / "config.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})


def make_tiny_text(out: Path) -> None:
    from transformers import BertConfig, BertModel, BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = specials + PUNCTUATION + letters + [f"##{c}" for c in letters] + sorted(set(WORDS))
    out.mkdir(parents=True, exist_ok=True)
    vocab_file = out / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(
        vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True, model_max_length=32
    )
    tokenizer.save_pretrained(str(out))
    torch.manual_seed(SEED)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    BertModel(config).eval().save_pretrained(str(out), safe_serialization=True)
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 32, "do_lower_case": False}) + "\n", encoding="utf-8"
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level alphabet: every byte maps to a printable character."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def train_bpe(words: list[str], merges: int) -> list[tuple[str, str]]:
    """A tiny deterministic BPE: ``merges`` most frequent pairs over the word list."""
    corpus = Counter((*word[:-1], word[-1] + "</w>") for word in words)
    learned: list[tuple[str, str]] = []
    for _ in range(merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in corpus.items():
            for pair in itertools.pairwise(symbols):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs.items(), key=lambda item: (-item[1], item[0]))[0]
        learned.append(best)
        merged: Counter[tuple[str, ...]] = Counter()
        for symbols, count in corpus.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] += count
        corpus = merged
    return learned


def make_tiny_clip(out: Path) -> None:
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    alphabet = list(bytes_to_unicode().values())
    merges = train_bpe([word for word in WORDS if len(word) > 1], 160)
    tokens = alphabet + [f"{c}</w>" for c in alphabet] + ["".join(pair) for pair in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=list(merges), model_max_length=16)  # type: ignore[arg-type]
    tokenizer.save_pretrained(str(out))
    bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    torch.manual_seed(SEED)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": eos,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    CLIPModel(config).eval().save_pretrained(str(out), safe_serialization=True)
    processor = {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": 32},
        "do_center_crop": True,
        "crop_size": {"height": 32, "width": 32},
        "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3,
    }
    (out / "preprocessor_config.json").write_text(json.dumps(processor, indent=2) + "\n", encoding="utf-8")


def make_tiny_ast(out: Path) -> None:
    """A random Audio Spectrogram Transformer (32-d, 2 layers) with its feature extractor:
    32 fbank bands, 1 s windows (100 frames), saved as the hub checkpoints are (an
    ``ASTForAudioClassification``, so loading the base model strips the same prefix)."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(SEED)
    config = ASTConfig(  # type: ignore[call-arg]  # num_labels: a PretrainedConfig keyword
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        patch_size=16,
        frequency_stride=8,
        time_stride=8,
        max_length=100,
        num_mel_bins=32,
        num_labels=3,
    )
    out.mkdir(parents=True, exist_ok=True)
    ASTForAudioClassification(config).eval().save_pretrained(str(out), safe_serialization=True)
    extractor = ASTFeatureExtractor(num_mel_bins=32, max_length=100, sampling_rate=16000)
    extractor.save_pretrained(str(out))


def golden_clips() -> list[tuple[np.ndarray, int]]:
    """Seeded clips at three rates and lengths (the first spans two 1 s windows), rounded
    to float16 so the golden file can store them exactly at half the size."""
    rng = np.random.default_rng(SEED)
    t = np.arange(round(1.6 * 16000)) / 16000
    chirp = 0.3 * np.sin(2 * np.pi * (200 * t + 300 * t * t)) + 0.05 * rng.standard_normal(t.shape[0])
    burst = 0.2 * rng.standard_normal(round(0.4 * 22050))
    t = np.arange(round(0.3 * 44100)) / 44100
    chord = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
    return [
        (clip.astype(np.float16).astype(np.float32), rate)
        for clip, rate in ((chirp, 16000), (burst, 22050), (chord, 44100))
    ]


def write_audio_goldens(models_dir: Path) -> None:
    os.environ["REELSENSE_MODELS_DIR"] = str(models_dir)
    from reelsense.audio import load_audio_encoder

    clips = golden_clips()
    encoder = load_audio_encoder("tiny_ast", device="cpu", precision="fp32")
    payload: dict[str, np.ndarray] = {"vectors": encoder.encode_many(clips)}
    for i, (samples, rate) in enumerate(clips):
        payload[f"clip{i}"] = samples.astype(np.float16)
        payload[f"rate{i}"] = np.array(rate)
    (ROOT / "tests" / "audio" / "golden").mkdir(parents=True, exist_ok=True)
    np.savez(ROOT / "tests" / "audio" / "golden" / "tiny_ast.npz", **payload)  # type: ignore[arg-type]


GOLDEN_TEXTS = [
    "a cat on a sofa",
    "Sunday walk #KenBurns with the dog",
    "stock market crash!!",
    "the quick brown fox jumps over the lazy dog " * 6,
    "Übermäßig 🙂 coffee",
]


def golden_frames() -> np.ndarray:
    """Seeded 9:16 frames, uint8 ``[3, 96, 54, 3]``: a textured middle and differently
    coloured, textured top and bottom bands (what a centre crop would drop)."""
    rng = np.random.default_rng(SEED)
    yy, xx = np.mgrid[0:96, 0:54]
    frames = np.empty((3, 96, 54, 3), dtype=np.uint8)
    for i in range(3):
        base = np.stack([yy * (1 + i), xx * 3, (yy + xx) * 2], axis=-1) % 256
        checker = ((yy // (4 + i) + xx // 6) % 2 * 120)[..., None]
        band_colours = rng.integers(0, 256, size=(2, 3))
        base[:22] = (band_colours[0] + checker[:22]) % 256
        base[-22:] = (band_colours[1] + checker[-22:] // 2) % 256
        noise = rng.integers(0, 40, size=base.shape)
        frames[i] = np.clip(base + noise, 0, 255).astype(np.uint8)
    return frames


def write_goldens(models_dir: Path) -> None:
    os.environ["REELSENSE_MODELS_DIR"] = str(models_dir)
    from reelsense.text import load_text_encoder
    from reelsense.vision import load_image_encoder

    frames = golden_frames()
    golden: dict[str, np.ndarray] = {"frames": frames}
    image = load_image_encoder("tiny_image", device="cpu", precision="fp32")
    for policy in ("pad_blur", "tiles", "center_crop"):
        image.portrait_policy = policy
        golden[policy] = image.encode(frames)
    np.savez(ROOT / "tests" / "vision" / "golden" / "tiny_image.npz", **golden)  # type: ignore[arg-type]

    text = load_text_encoder("tiny_text", device="cpu", precision="fp32")
    payload = {"texts": GOLDEN_TEXTS, "vectors": text.encode(GOLDEN_TEXTS).tolist()}
    (ROOT / "tests" / "text" / "golden" / "tiny_text.json").write_text(
        json.dumps(payload) + "\n", encoding="utf-8"
    )

    clip_image = load_image_encoder("tiny_clip", device="cpu", precision="fp32")
    clip_text = load_text_encoder("tiny_clip", device="cpu", precision="fp32")
    np.savez(
        ROOT / "tests" / "models" / "golden" / "tiny_clip.npz",
        frames=frames,
        texts=np.array(GOLDEN_TEXTS),
        image=clip_image.encode(frames),
        text=clip_text.encode(GOLDEN_TEXTS),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--no-goldens", action="store_true")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="make only these models (and their goldens)"
    )
    args = parser.parse_args()
    makers = {
        "tiny_image": make_tiny_image,
        "tiny_text": make_tiny_text,
        "tiny_clip": make_tiny_clip,
        "tiny_ast": make_tiny_ast,
    }
    chosen = args.only or list(makers)
    unknown = sorted(set(chosen) - set(makers))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {sorted(makers)}")
    for name in chosen:
        maker = makers[name]
        target = args.models_dir / name
        if target.exists():
            shutil.rmtree(target)
        maker(target)
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        print(f"{target}: {size / 1024:.0f} kB")
    if not args.no_goldens and set(chosen) & {"tiny_image", "tiny_text", "tiny_clip"}:
        for sub in ("vision", "text", "models"):
            (ROOT / "tests" / sub / "golden").mkdir(parents=True, exist_ok=True)
        write_goldens(args.models_dir)
        print("goldens written under tests/{vision,text,models}/golden/")
    if not args.no_goldens and "tiny_ast" in chosen:
        write_audio_goldens(args.models_dir)
        print("goldens written under tests/audio/golden/")


if __name__ == "__main__":
    main()
