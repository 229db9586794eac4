#!/usr/bin/env python3
"""Refit the presence fallback's logistic weights to Silero's frame decisions.

A maintainer's calibration tool: it reads the library's private frame cues
(``reelsense.audio._presence_features``) and the Silero port (``reelsense.audio._vad``), fits a
logistic regression of Silero's speech decisions on the four fallback cues over the active
frames of the benchmark's queries, and prints the weights the library's constants in
``reelsense.audio.presence`` were rounded from, with the frame AUC against Silero.

    python scripts/dev/fit_presence_fallback.py [--bench ../shared/bench]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from reelsense.audio._presence_features import RATE, presence_frames
from reelsense.audio._vad import silero_probabilities
from reelsense.io import read_audio

ROOT = Path(__file__).resolve().parents[2]


def load(bench: Path) -> list[tuple[dict[str, str], np.ndarray]]:
    sounds = bench / "sounds"
    with (sounds / "truth.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [(row, read_audio(sounds / "queries" / f"{row['qid']}.mp4", RATE).samples) for row in rows]


def fit_fallback(clips: list[tuple[dict[str, str], np.ndarray]]) -> None:
    """Logistic regression of Silero's frame decisions on the four fallback cues (active frames)."""
    xs, ys = [], []
    for _, samples in clips:
        frames = presence_frames(samples)
        target = silero_probabilities(samples)[: frames.n_frames] >= 0.5
        active = frames.level_db > frames.level_db.max() - 40.0
        cues = np.stack(
            [frames.low_energy, frames.flux_spread, frames.syllabic, frames.unstable_peaks], axis=1
        )
        xs.append(cues[active])
        ys.append(target[active])
    x = np.concatenate(xs)
    y = np.concatenate(ys).astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = np.hstack([(x - mean) / std, np.ones((x.shape[0], 1))])
    w = np.zeros(z.shape[1])
    for _ in range(30):  # Newton / IRLS
        p = 1.0 / (1.0 + np.exp(-z @ w))
        hessian = (z * (p * (1 - p))[:, None]).T @ z + 1e-6 * np.eye(z.shape[1])
        w += np.linalg.solve(hessian, z.T @ (y - p))
    raw = w[:-1] / std
    bias = w[-1] - float(np.sum(w[:-1] * mean / std))
    score = z @ w
    order = np.argsort(score)
    ranks = np.empty(score.shape[0])
    ranks[order] = np.arange(score.shape[0])
    positive = y.astype(bool)
    auc = (ranks[positive].mean() - (positive.sum() - 1) / 2) / (~positive).sum()
    names = ("low_energy", "flux_spread", "syllabic", "unstable_peaks")
    print("fallback weights (raw units):", {n: round(float(v), 3) for n, v in zip(names, raw, strict=True)})
    print(f"bias {bias:.3f}; frame AUC against Silero {auc:.3f} on {y.shape[0]} active frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    fit_fallback(load(args.bench))


if __name__ == "__main__":
    main()
