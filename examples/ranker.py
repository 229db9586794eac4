"""A "For You" feed from an interaction log, with ``reelsense.rank``.

    python examples/ranker.py out.parquet events.csv users.csv           # print the first users' feeds
    python examples/ranker.py out.parquet events.csv users.csv -k 5 --users-shown 3

``out.parquet`` is a ``reelsense embed`` output, ``events.csv`` holds
``user_id,video_id,timestamp,event,watch_fraction`` and ``users.csv`` ``user_id,request_time``.
The ranker learns from every user's likes, shares, long watches, skips and "not interested"
(docs/ranking.md); the same runs as ``reelsense rank out.parquet --events events.csv --users
users.csv -o recs.csv``.
"""

from __future__ import annotations

import argparse

from reelsense.rank import rank_users, read_catalog, read_events, read_users, train_ranker


def main() -> None:
    parser = argparse.ArgumentParser(description="Rank unseen videos per user from an interaction log.")
    parser.add_argument("embeddings", help="output of `reelsense embed`")
    parser.add_argument("events", help="user_id,video_id,timestamp,event,watch_fraction")
    parser.add_argument("users", help="user_id,request_time")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--users-shown", type=int, default=5, help="feeds to print")
    args = parser.parse_args()
    catalog = read_catalog(args.embeddings)
    log = read_events(args.events, catalog.index)
    request_times = read_users(args.users)
    model = train_ranker(catalog, log.before(request_times))
    feeds, report = rank_users(model, catalog, log, request_times, k=args.k)
    sounds = dict(zip(catalog.video_ids, catalog.sound_key_list(), strict=True))
    print(f"{len(catalog)} videos; {log.report.summary()}; {len(report.cold_users)} users without history")
    for feed in feeds[: args.users_shown]:
        print(f"for {feed.user_id}:")
        for rank, (video, score) in enumerate(zip(feed.video_ids, feed.scores, strict=True), start=1):
            print(f"  {rank:2d}. {score:+.3f}  {video:<22} sound {sounds[video] or '-'}")


if __name__ == "__main__":
    main()
