#!/usr/bin/env python3
"""Plot NDCG@10 against the amount of feedback, positive-only against positive + negative.

python scripts/bench/bench_rank.py dev.parquet --curve docs/ranking_curve.csv --skip-synthetic
python scripts/bench/plot_rank_curve.py docs/ranking_curve.csv -o docs/ranking_curve.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("curve", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    rows = list(csv.DictReader(args.curve.open()))
    amounts = sorted({r["events_per_user"] for r in rows if r["events_per_user"] != "all"}, key=int)
    labels = [*amounts, "all"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, metric, title in zip(
        axes, ("ndcg", "ndcg_new"), ("all unseen videos", "new uploads only"), strict=True
    ):
        for variant, style in (("positive+negative", "o-"), ("positive only", "s--")):
            by = {r["events_per_user"]: float(r[metric]) for r in rows if r["variant"] == variant}
            ax.plot(range(len(labels)), [by[a] for a in labels], style, label=variant)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("first events per user")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("NDCG@10")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
