"""reelsense.rank: logs, edge users, determinism, persistence, and the simulator."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from feedback_sim import Simulation, ndcg, simulate
from reelsense.cli import main
from reelsense.errors import ParameterError
from reelsense.rank import (
    Catalog,
    EventWeights,
    FeatureConfig,
    RankConfig,
    load_model,
    rank_files,
    rank_users,
    read_catalog,
    read_events,
    read_users,
    select_diverse,
    train_ranker,
)

SMALL = RankConfig(em_iterations=5, features=FeatureConfig(cluster_sizes=(4, 8)))


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(0, n_videos=100, n_users=30, shown=25)


def _write_embeddings(sim: Simulation, path: Path) -> Path:
    c = sim.catalog
    table = pa.table(
        {
            "video_id": list(c.video_ids),
            "status": ["ok"] * len(c),
            "embedding": [list(map(float, row)) for row in c.embedding],
            "visual_vector": [list(map(float, row)) for row in c.modalities["visual"]],
            "caption_vector": [list(map(float, row)) for row in c.modalities["caption"]],
            "sound_id": list(c.sound_keys),
            "uploader": list(c.uploaders),
            "hashtags": [list(t) for t in c.hashtags],
        }
    )
    pq.write_table(table, path)
    return path


def _feeds(sim: Simulation, config: RankConfig, folder: Path) -> dict[str, list[str]]:
    events, _ = sim.write(folder)
    log = read_events(events, sim.catalog.index)
    model = train_ranker(sim.catalog, log.before(sim.users), config)
    feeds, _ = rank_users(model, sim.catalog, log, sim.users, k=10)
    return {f.user_id: list(f.video_ids) for f in feeds}


def test_negative_feedback_beats_positive_only_on_the_simulator(tmp_path: Path) -> None:
    """Followers of uploaders and hashtags, and subject + sound users: both kinds of
    feedback rank better than positive feedback alone."""
    for seed in (0, 1):
        sim = simulate(seed)
        both = ndcg(_feeds(sim, RankConfig(), tmp_path), sim.gains)
        positive = ndcg(_feeds(sim, RankConfig(negative_feedback=False), tmp_path), sim.gains)
        assert both > positive + 0.1, (seed, both, positive)


def test_bad_logs_are_counted_or_refused(tmp_path: Path, sim: Simulation) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,video_id,timestamp,event,watch_fraction\n"
        "a,v0001,1,view,0.9\n"
        "a,v0001,2,like,\n"
        "a,v0002,3,dance,\n"
        "a,nope,4,view,0.5\n"
        ",v0003,5,view,0.5\n"
        "b,v0004,x,view,0.5\n"
    )
    log = read_events(path, sim.catalog.index)
    assert len(log) == 2 and log.users == ("a",)
    assert log.report.unknown_events == {"dance": 1}
    assert log.report.unknown_videos == 1 and log.report.unknown_video_ids == ("nope",)
    assert log.report.bad_rows == 2
    assert "unknown events" in log.report.summary()
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("user_id,video_id,timestamp,event,watch_fraction\na,zzz,1,view,0.5\n")
    with pytest.raises(ParameterError, match="no usable event"):
        read_events(unknown, sim.catalog.index)
    missing = tmp_path / "missing.csv"
    missing.write_text("user_id,video_id,event\na,v0001,view\n")
    with pytest.raises(ParameterError, match="timestamp"):
        read_events(missing, sim.catalog.index)
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\na,soon\n")
    with pytest.raises(ParameterError, match="soon"):
        read_users(users)


def test_iso_times_read_as_unix_seconds(tmp_path: Path, sim: Simulation) -> None:
    """Event and request times may be ISO 8601 (UTC without an offset, ``Z`` accepted) as well
    as unix seconds; a time that is neither drops its event and refuses a request time."""
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,video_id,timestamp,event,watch_fraction\n"
        "a,v0001,2024-11-08T10:41:07Z,view,0.9\n"
        "a,v0002,2024-11-08 10:41:08,like,\n"
        "a,v0003,2024-11-08T11:41:09+01:00,view,0.5\n"
        "a,v0004,1731062470,view,0.5\n"
        "a,v0005,2024-13-40T00:00:00Z,view,0.5\n"
    )
    log = read_events(path, sim.catalog.index)
    assert log.timestamp.tolist() == [1731062467.0, 1731062468.0, 1731062469.0, 1731062470.0]
    assert log.report.bad_rows == 1 and "no readable timestamp" in log.report.summary()
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\na,2024-11-08T10:41:09Z\nb,1731062470.5\n")
    assert read_users(users) == {"a": 1731062469.0, "b": 1731062470.5}
    assert len(log.before(read_users(users))) == 2
    users.write_text("user_id,request_time\na,2024-11-08T25:00:00Z\n")
    with pytest.raises(ParameterError, match="neither unix seconds nor an ISO 8601 time"):
        read_users(users)


def test_embeddings_without_embedding_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "meta.parquet"
    pq.write_table(pa.table({"video_id": ["a"], "status": ["ok"]}), path)
    with pytest.raises(ParameterError, match="'embedding'"):
        read_catalog(path)


def test_event_weights_sign_and_values() -> None:
    weights = EventWeights()
    values = weights.values(
        np.array([0, 0, 1, 2, 3, 4, 5]), np.array([1.0, 0.1, np.nan, np.nan, np.nan, np.nan, np.nan])
    )
    np.testing.assert_allclose(values, [2.5, -2.0, -1.0, 1.0, 1.5, 1.5, -2.0])
    with pytest.raises(ParameterError, match="skip"):
        EventWeights(skip=1.0)


def test_edge_users_cold_negative_only_and_not_interested(
    sim: Simulation, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events, _ = sim.write(tmp_path)
    rows = list(csv.DictReader(events.open()))
    disliked = sim.catalog.video_ids[5]
    rows += [
        {"user_id": "neg", "video_id": disliked, "timestamp": "1", "event": "view", "watch_fraction": "0.05"},
        {
            "user_id": "neg",
            "video_id": disliked,
            "timestamp": "2",
            "event": "not_interested",
            "watch_fraction": "",
        },
        {
            "user_id": "late",
            "video_id": disliked,
            "timestamp": "1.8e9",
            "event": "like",
            "watch_fraction": "",
        },
    ]
    with events.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    log = read_events(events, sim.catalog.index)
    request = {**sim.users, "neg": 1.75e9, "late": 1.75e9, "nobody": 1.75e9}
    model = train_ranker(sim.catalog, log.before(request), SMALL)
    with caplog.at_level("WARNING", logger="reelsense.rank._rank"):
        feeds, report = rank_users(model, sim.catalog, log, request, k=10)
    # a users file whose ids the log spells otherwise ("7" against "7.0") is told apart
    assert (
        "2 users have no events before their request time "
        "(1 of them none in the events at all, e.g. 'nobody')" in caplog.text
    )
    by_user = {f.user_id: f for f in feeds}
    assert set(report.cold_users) == {"late", "nobody"}  # the late like is after the request
    assert report.negative_only_users == ("neg",)
    assert by_user["late"].video_ids == by_user["nobody"].video_ids  # popular + diverse
    assert len(by_user["nobody"].video_ids) == 10
    # the disliked video and its near-duplicates (cosine >= 0.9) are not in neg's feed
    unit = sim.catalog.unit_embedding()
    near = {sim.catalog.video_ids[i] for i in np.flatnonzero(unit @ unit[5] >= 0.9)}
    assert not near & set(by_user["neg"].video_ids)
    for user, times in sim.users.items():
        seen = {r["video_id"] for r in rows if r["user_id"] == user and float(r["timestamp"]) < times}
        assert not seen & set(by_user[user].video_ids)
    with pytest.raises(ParameterError, match="no event before"):
        rank_users(model, sim.catalog, log, request, require_history=True)
    # each example is given once: the user not in the events at all was named twice
    said = {
        "1 user has no event before their request time: 'nobody' (not in the events at all)": ["nobody"],
        "2 users have no event before their request time, e.g. 'late' (1 of them not in the events "
        "at all, e.g. 'nobody')": ["late", "nobody"],
        "2 users have no event before their request time, e.g. 'nobody' (none of them in the events "
        "at all)": ["nobody", "nobody2"],
        "2 users have no event before their request time, e.g. 'nobody' (the only one of them not "
        "in the events at all)": ["nobody", "late"],
        "3 users have no event before their request time, e.g. 'nobody' (2 of them not in the events "
        "at all, this one included)": ["nobody", "late", "nobody2"],
    }
    for message, cold in said.items():
        with pytest.raises(ParameterError) as refused:
            rank_users(model, sim.catalog, log, dict.fromkeys(cold, 1.75e9), require_history=True)
        assert str(refused.value) == message


def test_at_most_max_per_sound() -> None:
    sounds: list[str | None] = [*(["a"] * 8), None, "b", "b"]
    picked = select_diverse(np.arange(11), sounds, 5, 2)
    assert picked == [0, 1, 8, 9, 10]
    assert select_diverse(np.arange(11), sounds, 5, 0) == [0, 1, 2, 3, 4]
    assert select_diverse(np.arange(4), sounds, 3, 1) == [0, 1, 2]  # the cap leaves too few: fill


def test_training_is_deterministic_and_round_trips(sim: Simulation, tmp_path: Path) -> None:
    events, _ = sim.write(tmp_path)
    log = read_events(events, sim.catalog.index).before(sim.users)
    first = train_ranker(sim.catalog, log, SMALL)
    second = train_ranker(sim.catalog, log, SMALL)
    assert len(first.members) == SMALL.members == 3
    for a, b in zip(first.members, second.members, strict=True):
        np.testing.assert_array_equal(a.prior_mean, b.prior_mean)
        np.testing.assert_array_equal(a.prior_cov, b.prior_cov)
    first.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(tmp_path / "model")
    assert loaded.config == first.config
    for a, b in zip(loaded.members, first.members, strict=True):
        np.testing.assert_array_equal(a.features.transform(sim.catalog), b.features.transform(sim.catalog))
        np.testing.assert_array_equal(a.prior_cov, b.prior_cov)
        assert a.noise_var == b.noise_var
    a, _ = rank_users(first, sim.catalog, log, sim.users)
    b, _ = rank_users(loaded, sim.catalog, log, sim.users)
    assert a == b
    with pytest.raises(ParameterError, match="not a rank model"):
        load_model(tmp_path)
    meta = json.loads((tmp_path / "model" / "config.json").read_text())
    (tmp_path / "model" / "config.json").write_text(json.dumps({**meta, "members": meta["members"][:2]}))
    with pytest.raises(ParameterError, match=r"holds 2 ensemble members but its config says members=3"):
        load_model(tmp_path / "model")  # a member dropped from the file would go unnoticed
    (tmp_path / "model" / "config.json").write_text(json.dumps({**meta, "version": 1}))
    with pytest.raises(ParameterError, match=r"version 1.*train it again"):
        load_model(tmp_path / "model")


def test_the_ensemble_averages_models_of_other_kmeans_seeds(sim: Simulation, tmp_path: Path) -> None:
    """Member i is the model a single-member ranker learns with k-means seed ``seed + i``, and
    a feed's scores are the mean of the members' predictions."""
    events, _ = sim.write(tmp_path)
    log = read_events(events, sim.catalog.index).before(sim.users)
    ensemble = train_ranker(sim.catalog, log, SMALL)
    singles = [
        train_ranker(
            sim.catalog,
            log,
            dataclasses.replace(SMALL, members=1, features=dataclasses.replace(SMALL.features, seed=i)),
        )
        for i in range(SMALL.members)
    ]
    for member, single in zip(ensemble.members, singles, strict=True):
        np.testing.assert_allclose(member.prior_mean, single.members[0].prior_mean, rtol=1e-12, atol=1e-12)
    centroids = [m.features.centroids["visual"][0] for m in ensemble.members]
    assert not np.allclose(centroids[0], centroids[1])  # the members' partitions differ
    feeds, _ = rank_users(ensemble, sim.catalog, log, sim.users, k=5)
    single_scores = []
    for single in singles:
        every = rank_users(single, sim.catalog, log, sim.users, k=len(sim.catalog))[0]
        single_scores.append({f.user_id: dict(zip(f.video_ids, f.scores, strict=True)) for f in every})
    for feed in feeds[:10]:
        for video, score in zip(feed.video_ids, feed.scores, strict=True):
            mean = np.mean([s[feed.user_id][video] for s in single_scores])
            assert score == pytest.approx(mean, rel=1e-4, abs=1e-4)


def test_the_rank_seed_moves_the_members_kmeans_seeds(sim: Simulation, tmp_path: Path) -> None:
    """``RankConfig.seed`` (``reelsense rank --seed``) said it seeds k-means, but the members took
    their seeds from ``features.seed`` alone, so the option changed nothing: member i of a ranker
    of seed s and m members is the single-member ranker of k-means seed
    ``features.seed + s * m + i`` (two seeds share no member)."""
    events, _ = sim.write(tmp_path)
    log = read_events(events, sim.catalog.index).before(sim.users)
    seeded = train_ranker(sim.catalog, log, dataclasses.replace(SMALL, members=2, seed=3))
    for i, member in enumerate(seeded.members):
        single = train_ranker(
            sim.catalog,
            log,
            dataclasses.replace(SMALL, members=1, features=dataclasses.replace(SMALL.features, seed=6 + i)),
        )
        np.testing.assert_array_equal(
            member.features.centroids["visual"][0], single.members[0].features.centroids["visual"][0]
        )
    default = train_ranker(sim.catalog, log, dataclasses.replace(SMALL, members=1))
    assert not np.allclose(
        seeded.members[0].features.centroids["visual"][0], default.members[0].features.centroids["visual"][0]
    )
    seeds = [
        {dataclasses.replace(SMALL, seed=s).member_features(i).seed for i in range(SMALL.members)}
        for s in range(4)
    ]
    assert all(not a & b for a in seeds for b in seeds if a is not b)
    with pytest.raises(ParameterError, match=r"seed=-1 must be >= 0"):
        dataclasses.replace(SMALL, seed=-1)


def test_cli_rank_train_and_serve(sim: Simulation, tmp_path: Path) -> None:
    embeddings = _write_embeddings(sim, tmp_path / "emb.parquet")
    events, users = sim.write(tmp_path)
    runner = CliRunner()
    out = tmp_path / "recs.csv"
    result = runner.invoke(
        main,
        ["rank", str(embeddings), "--events", str(events), "--users", str(users), "-k", "5", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["user_id", "rank", "video_id", "score"]
    assert len(rows) == 5 * len(sim.users)
    result = runner.invoke(
        main, ["rank", "train", str(embeddings), "--events", str(events), "-o", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    served = tmp_path / "served.csv"
    result = runner.invoke(
        main,
        [
            "rank",
            str(embeddings),
            "--events",
            str(events),
            "--users",
            str(users),
            "--model",
            str(tmp_path / "m"),
            "-o",
            str(served),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(served.open()))) == 10 * len(sim.users)
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,video_id,timestamp,event,watch_fraction\nu,unknown,1,view,0.5\n")
    result = runner.invoke(
        main, ["rank", str(embeddings), "--events", str(bad), "--users", str(users), "-o", str(out)]
    )
    assert result.exit_code == 1 and "no usable event" in result.output


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["--positive-only"], "--positive-only"),
        (["--seed", "5"], "--seed"),
        (["--seed", "0"], "--seed"),  # at its default too: it would still do nothing
        (["--max-per-sound", "1"], "--max-per-sound"),
        (["--seed", "5", "--positive-only"], "--positive-only, --seed"),
    ],
)
def test_rank_with_a_model_refuses_the_options_the_model_decides(
    tmp_path: Path, given: list[str], named: str
) -> None:
    """With --model the saved model's config decides the training and the feed's sound cap:
    --positive-only and --seed gave byte-identical feeds, silently; now a usage error naming
    them, before anything is read."""
    (tmp_path / "model").mkdir()
    for name in ("emb.parquet", "events.csv", "users.csv"):
        (tmp_path / name).write_text("")
    args = ["rank", str(tmp_path / "emb.parquet"), "--events", str(tmp_path / "events.csv")]
    args += ["--users", str(tmp_path / "users.csv"), "--model", str(tmp_path / "model")]
    result = CliRunner().invoke(main, [*args, *given, "-o", str(tmp_path / "r.csv")])
    assert result.exit_code == 2, result.output
    assert f"{named}: with --model the saved model decides" in result.output, result.output
    assert "would do nothing" in result.output and not (tmp_path / "r.csv").exists()


def test_the_example_script_prints_feeds_of_unseen_videos(sim: Simulation, tmp_path: Path) -> None:
    """examples/ranker.py (the downstream example) on an embeddings file and a log."""
    import subprocess
    import sys

    embeddings = _write_embeddings(sim, tmp_path / "emb.parquet")
    events, users = sim.write(tmp_path)
    script = Path(__file__).parents[2] / "examples" / "ranker.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(embeddings),
            str(events),
            str(users),
            "-k",
            "3",
            "--users-shown",
            "2",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    feeds = [line for line in done.stdout.splitlines() if line.startswith("for ")]
    assert len(feeds) == 2
    ranks = [line.split(".")[0].strip() for line in done.stdout.splitlines() if line.startswith("  ")]
    assert ranks == ["1", "2", "3"] * 2


def test_holdout_split_keeps_each_users_latest_pairs() -> None:
    from reelsense.rank._model import PairFeedback, _holdout_split, _spans

    # user 0: 10 pairs, user 1: 3 pairs (under 1 / 0.2: keeps all), user 2: 400 pairs (cap 64)
    user = np.repeat([0, 1, 2], [10, 3, 400])
    pairs = PairFeedback(user, np.arange(user.size), np.arange(user.size, dtype=float), user < 0)
    starts, ends = _spans(pairs, 3)
    fit, held = _holdout_split(pairs, starts, ends, np.array([0, 1, 2]), 0.2)
    np.testing.assert_array_equal(held, np.r_[8, 9, np.arange(413 - 64, 413)])
    assert fit.user.size + held.size == user.size
    assert set(fit.video.tolist()).isdisjoint(held.tolist())
    with pytest.raises(ParameterError, match=r"holdout_fraction=1\.0"):
        RankConfig(holdout_fraction=1.0)
    # 9 pairs: 1 would be held out, which compares with nothing, so none is
    _, held = _holdout_split(pairs, starts, ends, np.array([0]), 0.12)
    assert held.size == 0


def test_too_few_held_out_comparisons_run_the_fixed_iterations(sim: Simulation, tmp_path: Path) -> None:
    events, _ = sim.write(tmp_path)
    log = read_events(events, sim.catalog.index).before(sim.users)
    config = RankConfig(em_iterations=7, holdout_min_comparisons=10**9)
    model = train_ranker(sim.catalog, log, config)
    assert (model.info["em_iterations"], model.info["held_out_error"]) == (7, None)


def test_held_out_pairs_choose_the_em_iterations(tmp_path: Path) -> None:
    """On the simulator, EM run long over-fits each user's events: the held-out rule stops
    earlier than the maximum and ranks at least as well as running to it."""
    sim = simulate(0, n_videos=400, n_users=150, shown=40)
    events, _ = sim.write(tmp_path)
    log = read_events(events, sim.catalog.index).before(sim.users)
    scores, chosen = {}, {}
    for name, config in (
        ("held-out", RankConfig(max_em_iterations=60)),
        ("fixed", RankConfig(em_iterations=60, holdout_fraction=0.0)),
    ):
        model = train_ranker(sim.catalog, log, config)
        feeds, _ = rank_users(model, sim.catalog, log, sim.users, k=10)
        scores[name] = ndcg({f.user_id: list(f.video_ids) for f in feeds}, sim.gains)
        chosen[name] = (model.info["em_iterations"], model.info["held_out_error"])
    assert chosen["fixed"] == (60, None)
    assert 0 < chosen["held-out"][0] < 60 and 0 < chosen["held-out"][1] < 0.5
    assert scores["held-out"] >= scores["fixed"] - 0.005, scores


def _embedded_by(sim: Simulation, image: str, audio: str = "logmel_stats") -> Catalog:
    """The simulator's catalog as if its vectors came from these models (its file's metadata)."""
    models = {"image": image, "text": "minilm_l6", "audio": audio}
    return dataclasses.replace(sim.catalog, fusion_metadata=json.dumps({"models": models}))


def test_a_ranker_refuses_vectors_of_other_models(
    sim: Simulation, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Features are clusters of the visual and caption vectors the ranker was trained on: vectors
    of another model of the same size would land on meaningless clusters."""
    events, _ = sim.write(tmp_path)
    log = read_events(events, sim.catalog.index)
    trained_on = _embedded_by(sim, "efficientnet_lite0")
    model = train_ranker(trained_on, log.before(sim.users), SMALL)
    model.save(tmp_path / "model")
    model = load_model(tmp_path / "model")  # the models travel with the saved ranker
    same, _ = rank_users(model, trained_on, log, sim.users)
    # the audio vectors are not read by these features: another audio model changes nothing
    assert rank_users(model, _embedded_by(sim, "efficientnet_lite0", "clap"), log, sim.users)[0] == same
    with pytest.raises(ParameterError, match=r"visual vectors of model 'efficientnet_lite0'.*'clip_b32'"):
        rank_users(model, _embedded_by(sim, "clip_b32"), log, sim.users)
    # a file without the record (vectors from another tool) cannot be checked: a warning says so
    with caplog.at_level("WARNING", logger="reelsense.rank._rank"):
        assert rank_users(model, sim.catalog, log, sim.users)[0] == same
    assert "embeddings file records no embedding models" in caplog.text


@pytest.mark.parametrize(
    ("k", "cap", "match"),
    [
        (0, 2, "k=0 must be >= 1"),
        (2.5, 2, "k=2.5 must be an integer"),
        (3, -1, "max_per_sound=-1 must be >= 0"),
    ],
)
def test_select_diverse_refuses_a_bad_size_or_cap(k: object, cap: object, match: str) -> None:
    """k <= 0 returned items anyway, and a negative cap scrambled the order."""
    with pytest.raises(ParameterError, match=match):
        select_diverse(np.arange(5), ["a"] * 5, k, cap)  # type: ignore[arg-type]


def test_progress_follows_reading_training_and_ranking(sim: Simulation, tmp_path: Path) -> None:
    embeddings = _write_embeddings(sim, tmp_path / "emb.parquet")
    events, users = sim.write(tmp_path)
    calls: list[tuple[str, int, int]] = []
    rank_files(
        embeddings,
        events,
        users,
        tmp_path / "recs.csv",
        k=3,
        config=SMALL,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages[0] == "reading" and stages[-2:] == ["user tastes", "ranking users"]
    # the reading's calls of 57b8822 (written out there), then the training's
    assert calls[:3] == [("reading", 0, 2), ("reading", 1, 2), ("reading", 2, 2)]
    assert calls[3][0].startswith("training member 1/")
    assert any(stage.startswith("training member 1/") for stage in stages)
    last = {stage: (done, total) for stage, done, total in calls}
    assert last["reading"] == (2, 2) and last["ranking users"] == (len(sim.users), len(sim.users))
    for stage in stages:  # each stage only moves forward
        done = [d for s, d, _ in calls if s == stage]
        assert done == sorted(done)
    runner = CliRunner()
    args = ["rank", str(embeddings), "--events", str(events), "--users", str(users), "-k", "3"]
    shown = runner.invoke(main, [*args, "-o", str(tmp_path / "a.csv"), "--progress"])
    assert shown.exit_code == 0, shown.output
    assert "ranking users" in shown.output and "reading" in shown.output
    # users are counted in users, the reading in steps (every bar read "step" before)
    assert re.search(r"ranking users: 100%[^\n\r]*\[[^\]]*user", shown.output), shown.output
    assert re.search(r"reading: 100%[^\n\r]*2/2 \[[^\]]*step", shown.output), shown.output
    hidden = runner.invoke(main, [*args, "-o", str(tmp_path / "b.csv"), "--no-progress"])
    assert hidden.exit_code == 0 and "ranking users" not in hidden.output
    trained = runner.invoke(
        main,
        ["rank", "train", str(embeddings), "--events", str(events), "-o", str(tmp_path / "m"), "--progress"],
    )
    assert trained.exit_code == 0 and "training member 1/" in trained.output


def test_a_ranker_refuses_vectors_of_another_size(sim: Simulation, tmp_path: Path) -> None:
    """Vectors of another size than the ranker's were read as missing: the feed was ranked on
    the sounds, uploaders and hashtags alone, without a word."""
    events, _ = sim.write(tmp_path)
    log = read_events(events, sim.catalog.index)
    model = train_ranker(sim.catalog, log.before(sim.users), SMALL)
    visual = sim.catalog.modalities["visual"]
    other = dataclasses.replace(
        sim.catalog, modalities={**sim.catalog.modalities, "visual": np.ascontiguousarray(visual[:, :-4])}
    )
    d = visual.shape[1]
    with pytest.raises(
        ParameterError, match=rf"visual vectors have {d - 4} dimensions, the ranker was trained on {d}"
    ):
        rank_users(model, other, log, sim.users)
