"""A small simulated "For You" audience, for the ranker's tests (not the benchmark's).

Videos have a subject (their picture and caption vectors sit near the subject's
direction), an uploader, hashtags and a sound. Users come in three kinds of taste:

- **followers** love two uploaders and dislike one;
- **hashtag fans** love videos with one of their hashtags and cannot stand another one;
- **subject + sound** users like two subjects, love one sound and cannot stand another.

Every user is shown a random part of the old videos and reacts: a view with a watch
fraction that grows with the appeal, a like or share when it is high, a skip when it is
low and "not interested" when it is very low. New uploads are never shown. A ranker is
scored by NDCG@10 over the unseen videos, with gains from the hidden appeal.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelsense.rank import Catalog


@dataclass(frozen=True)
class Simulation:
    catalog: Catalog
    events: list[tuple[str, str, int, str, float | None]]
    users: dict[str, float]
    #: user -> video -> gain (0..3) over the videos the user has not been shown
    gains: dict[str, dict[str, int]]
    new_videos: frozenset[str]

    def write(self, folder: Path) -> tuple[Path, Path]:
        events, users = folder / "events.csv", folder / "users.csv"
        with events.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["user_id", "video_id", "timestamp", "event", "watch_fraction"])
            for user, video, ts, event, watch in self.events:
                writer.writerow([user, video, ts, event, "" if watch is None else f"{watch:.3f}"])
        with users.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["user_id", "request_time"])
            writer.writerows(self.users.items())
        return events, users


def simulate(
    seed: int = 0,
    *,
    n_videos: int = 160,
    n_users: int = 60,
    shown: int = 30,
    new_share: float = 0.3,
    n_subjects: int = 8,
    n_uploaders: int = 12,
    n_tags: int = 10,
    n_sounds: int = 10,
) -> Simulation:
    rng = np.random.default_rng(seed)
    subject_dirs = rng.normal(size=(n_subjects, 48))
    caption_dirs = rng.normal(size=(n_subjects, 24))
    subject = rng.integers(n_subjects, size=n_videos)
    uploader = rng.integers(n_uploaders, size=n_videos)
    sound = rng.integers(n_sounds, size=n_videos)
    tags = [sorted({int(t) for t in rng.choice(n_tags, size=2, replace=False)}) for _ in range(n_videos)]
    visual = subject_dirs[subject] + 0.8 * rng.normal(size=(n_videos, 48))
    caption = caption_dirs[subject] + 1.0 * rng.normal(size=(n_videos, 24))
    audio = rng.normal(size=(n_sounds, 16))[sound] + 0.5 * rng.normal(size=(n_videos, 16))
    sound_vecs = rng.normal(size=(n_sounds, 32))
    fused = np.concatenate([visual / 7, sound_vecs[sound] / 6], axis=1)
    fused /= np.linalg.norm(fused, axis=1, keepdims=True)
    ids = tuple(f"v{i:04d}" for i in range(n_videos))
    catalog = Catalog(
        video_ids=ids,
        embedding=fused.astype(np.float32),
        modalities={
            "visual": visual.astype(np.float32),
            "caption": caption.astype(np.float32),
            "audio": audio.astype(np.float32),
        },
        sound_keys=tuple(f"sound{s}" for s in sound),
        uploaders=tuple(f"up{u}" for u in uploader),
        hashtags=tuple(tuple(f"tag{t}" for t in row) for row in tags),
        presence=np.zeros((n_videos, 5), dtype=np.float32),
    )
    new = rng.random(n_videos) < new_share
    old = np.flatnonzero(~new)
    appeal = np.zeros((n_users, n_videos))
    for u in range(n_users):
        kind = u % 3
        if kind == 0:
            loved = rng.choice(n_uploaders, size=3, replace=False)
            appeal[u] = 2.0 * np.isin(uploader, loved[:2]) - 2.5 * (uploader == loved[2])
        elif kind == 1:
            loved_tag, hated_tag = rng.choice(n_tags, size=2, replace=False)
            appeal[u] = [2.0 * (loved_tag in t) - 2.5 * (hated_tag in t) for t in tags]
        else:
            liked = rng.choice(n_subjects, size=2, replace=False)
            loved_sound, hated_sound = rng.choice(n_sounds, size=2, replace=False)
            appeal[u] = (
                1.2 * np.isin(subject, liked) + 1.2 * (sound == loved_sound) - 2.5 * (sound == hated_sound)
            )
        appeal[u] += 0.3 * rng.normal(size=n_videos)
    events: list[tuple[str, str, int, str, float | None]] = []
    gains: dict[str, dict[str, int]] = {}
    users: dict[str, float] = {}
    for u in range(n_users):
        user = f"u{u:03d}"
        seen = set(rng.choice(old, size=min(shown, old.size), replace=False).tolist())
        t = 1_700_000_000 + u
        for v in sorted(seen, key=lambda _: rng.random()):
            t += int(rng.integers(30, 600))
            a = appeal[u, v]
            watch = 1.0 / (1.0 + math.exp(-1.5 * (a - 0.3)))
            events.append((user, ids[v], t, "view", watch))
            if a < -0.4 and rng.random() < 0.7:
                events.append((user, ids[v], t + 1, "skip", None))
            if a < -1.2 and rng.random() < 0.6:
                events.append((user, ids[v], t + 2, "not_interested", None))
            if a > 1.0 and rng.random() < 0.6:
                events.append((user, ids[v], t + 3, "like", None))
            if a > 1.8 and rng.random() < 0.3:
                events.append((user, ids[v], t + 4, "share", None))
        users[user] = float(t + 10)
        gains[user] = {
            ids[v]: int(np.clip(np.floor(appeal[u, v] + 0.5), 0, 3)) for v in range(n_videos) if v not in seen
        }
    events.sort(key=lambda e: (e[2], e[0]))
    return Simulation(catalog, events, users, gains, frozenset(ids[v] for v in np.flatnonzero(new)))


def ndcg(feeds: dict[str, list[str]], gains: dict[str, dict[str, int]], k: int = 10) -> float:
    """Mean NDCG@k of the feeds (unknown or repeated videos gain 0)."""

    def dcg(values: list[int]) -> float:
        return float(sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(values)))

    scores = []
    for user, truth in gains.items():
        listed = [truth.get(v, 0) for v in feeds.get(user, [])[:k]]
        ideal = dcg(sorted(truth.values(), reverse=True)[:k])
        scores.append(dcg(listed) / ideal if ideal else 0.0)
    return float(np.mean(scores))
