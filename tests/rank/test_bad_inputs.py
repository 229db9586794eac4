"""Damaged or foreign inputs to ranking and learned fusion: one ParameterError naming the file,
never a raw pyarrow, JSON, safetensors or KeyError, and never a model that scores NaN."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelsense.errors import ParameterError
from reelsense.fusion import FUSION_VERSION, LearnedFusion
from reelsense.fusion._learned import LEARNED_FUSION_VERSION
from reelsense.rank import RANK_MODEL_VERSION, RankConfig, load_model, read_catalog, read_events, read_users


def test_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    fake = tmp_path / "e.parquet"
    fake.write_text("video_id,embedding\n")
    with pytest.raises(ParameterError, match=r"cannot read .*e\.parquet.* as Parquet"):
        read_catalog(fake)
    with pytest.raises(ParameterError, match=r"cannot read .*e\.parquet.* as Parquet"):
        read_events(fake, {"v": 0})


def test_parquet_timestamps_are_event_times(tmp_path: Path) -> None:
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    table = pa.table(
        {
            "user_id": ["u", "u"],
            "video_id": ["v", "w"],
            "timestamp": pa.array([when, when], pa.timestamp("ms", tz="UTC")),
            "event": ["like", "skip"],
            "watch_fraction": [1.0, 0.1],
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    log = read_events(tmp_path / "events.parquet", {"v": 0, "w": 1})
    assert len(log.timestamp) == 2 and set(log.timestamp.tolist()) == {when.timestamp()}


def test_a_user_listed_twice(tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\nu1,99999\nu1,1\n")
    with pytest.raises(ParameterError, match="lists user 'u1' twice"):
        read_users(users)


def _model_folder(tmp_path: Path, meta: dict | str, tensors: bytes | None = None) -> Path:
    from safetensors.numpy import save_file

    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    if tensors is None:
        save_file({}, str(folder / "model.safetensors"))
    else:
        (folder / "model.safetensors").write_bytes(tensors)
    return folder


@pytest.mark.parametrize(
    ("meta", "tensors", "match"),
    [
        ("{bad", None, "is not readable JSON"),
        ({"format": "reelsense.rank", "version": RANK_MODEL_VERSION}, None, r"damaged rank model \(KeyError"),
        ({"format": "reelsense.rank", "version": RANK_MODEL_VERSION}, b"\0" * 20, "damaged rank model"),
        ("members", None, "holds no ensemble member"),
    ],
)
def test_a_damaged_model_folder(tmp_path: Path, meta: dict | str, tensors: bytes | None, match: str) -> None:
    if meta == "members":
        meta = {"format": "reelsense.rank", "version": RANK_MODEL_VERSION, "config": RankConfig().to_json()}
        meta["members"] = []
    with pytest.raises(ParameterError, match=match):
        load_model(_model_folder(tmp_path, meta, tensors))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{bad", "is not readable JSON"),
        ("[1, 2]", "with a 'config' object"),
        (
            {
                "config": {"version": FUSION_VERSION, "visual_weight": "abc"},
                "version": LEARNED_FUSION_VERSION,
            },
            "is malformed",
        ),
        (
            {"config": {"version": FUSION_VERSION, "bogus": 1}, "version": LEARNED_FUSION_VERSION},
            "is malformed",
        ),
    ],
)
def test_a_malformed_learned_fusion(tmp_path: Path, content: object, match: str) -> None:
    path = tmp_path / "fusion.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ParameterError, match=match):
        LearnedFusion.load(path)


def test_fusion_needs_the_modality_vectors(tmp_path: Path) -> None:
    from reelsense.rank import apply_fusion_file, train_fusion_file

    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"video_id": ["a", "b"], "embedding": [[0.1, 0.2], [0.3, 0.4]]}), plain)
    from reelsense.fusion import FusionConfig

    weights = LearnedFusion(FusionConfig(), 1, 1, 0.5, 0.5).save(tmp_path / "fusion.json")
    events = tmp_path / "events.csv"
    events.write_text("user_id,video_id,timestamp,event,watch_fraction\nu,a,1,like,1\n")
    with pytest.raises(ParameterError, match="none of the per-modality vector columns"):
        train_fusion_file(plain, events, tmp_path / "out.json")
    with pytest.raises(ParameterError, match="none of the per-modality vector columns"):
        apply_fusion_file(plain, weights, tmp_path / "out.parquet")


def test_vector_columns_of_another_tool() -> None:
    import numpy as np

    from reelsense.featurize._fusion_stage import vectors_from_arrow

    same = pa.chunked_array([pa.array([[1.0, 2.0], None, [3.0, 4.0]], pa.list_(pa.float64()))])
    np.testing.assert_array_equal(vectors_from_arrow(same), [[1, 2], [np.nan, np.nan], [3, 4]])
    with pytest.raises(ParameterError, match="2 different lengths"):
        vectors_from_arrow(pa.array([[1.0], [1.0, 2.0]]), "column 'x'")
    with pytest.raises(ParameterError, match="column 'caption' is not a vector column"):
        vectors_from_arrow(pa.array(["a", "b"]), "column 'caption'")


def test_a_catalog_of_another_tool_reads_its_vectors_or_names_the_column(tmp_path: Path) -> None:
    """Variable-length list columns (not reelsense's fixed-size ones) of one length are read; a
    modality no kept row has is left out; vectors of several lengths name their column."""
    import numpy as np

    path = tmp_path / "other.parquet"
    floats = pa.list_(pa.float64())
    pq.write_table(
        pa.table(
            {
                "video_id": ["b", "a", "c"],
                "status": ["ok", "ok", "error"],
                "embedding": pa.array([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0]], floats),
                "visual_vector": pa.array([[1.0, 2.0, 3.0], None, [4.0, 5.0, 6.0]], floats),
                "audio_vector": pa.array([None, None, [1.0]], floats),  # only the error row has one
            }
        ),
        path,
    )
    catalog = read_catalog(path)
    assert catalog.video_ids == ("a", "b")  # ok rows, in id order
    np.testing.assert_array_equal(catalog.embedding, [[1, 0], [0, 1]])
    assert catalog.embedding.dtype == np.float32
    np.testing.assert_array_equal(catalog.modalities["visual"], [[np.nan] * 3, [1, 2, 3]])
    assert "audio" not in catalog.modalities
    pq.write_table(
        pa.table({"video_id": ["a", "b"], "embedding": pa.array([[1.0], [1.0, 2.0]], floats)}), path
    )
    with pytest.raises(ParameterError, match=r"column 'embedding' of .*other\.parquet.* 2 different lengths"):
        read_catalog(path)


@pytest.mark.parametrize(
    ("record", "match"),
    [(b"{broken", "Expecting property name"), (b"[1]", "a JSON list")],
    ids=["not-json", "not-an-object"],
)
def test_a_damaged_fusion_record_is_named(tmp_path: Path, record: bytes, match: str) -> None:
    """A ``reelsense.fusion`` metadata that is not a JSON object ended rank and fusion with a
    JSONDecodeError or AttributeError traceback."""
    from reelsense.fusion import FusionConfig
    from reelsense.rank import apply_fusion_file, train_fusion_file

    table = pa.table(
        {
            "video_id": ["a", "b"],
            "embedding": [[0.1, 0.2], [0.3, 0.4]],
            "visual_vector": [[1.0, 0.0], [0.0, 1.0]],
        }
    )
    path = tmp_path / "damaged.parquet"
    pq.write_table(table.replace_schema_metadata({b"reelsense.fusion": record}), path)
    weights = LearnedFusion(FusionConfig(), 1, 1, 0.5, 0.5).save(tmp_path / "fusion.json")
    events = tmp_path / "events.csv"
    events.write_text("user_id,video_id,timestamp,event,watch_fraction\nu,a,1,like,1\n")
    expected = rf"'reelsense.fusion' metadata is not a JSON object \({match}"
    with pytest.raises(ParameterError, match=expected):
        read_catalog(path)
    with pytest.raises(ParameterError, match=expected):
        apply_fusion_file(path, weights, tmp_path / "out.parquet")
    with pytest.raises(ParameterError, match=expected):
        train_fusion_file(path, events, tmp_path / "out.json")


def test_a_repeated_video_id_is_named(tmp_path: Path) -> None:
    path = tmp_path / "twice.parquet"
    ids = ["a", "clip-7", "b", "clip-7", "c"]
    pq.write_table(pa.table({"video_id": ids, "embedding": [[0.1, 0.2]] * 5}), path)
    with pytest.raises(ParameterError, match=r"1 video ids are on more than one row .*e\.g\. 'clip-7'"):
        read_catalog(path)


def test_a_users_row_without_a_user_is_refused(tmp_path: Path) -> None:
    """A blank (CSV) or null (Parquet) user_id was read as a user named '' or 'None' and given
    a feed."""
    csv_path, parquet_path = tmp_path / "users.csv", tmp_path / "users.parquet"
    csv_path.write_text("user_id,request_time\nu,5\n,6\n")
    pq.write_table(pa.table({"user_id": ["u", None], "request_time": [5, 6]}), parquet_path)
    with pytest.raises(ParameterError, match=r"row 2 \(request_time='6'\) has no user_id"):
        read_users(csv_path)
    with pytest.raises(ParameterError, match=r"row 2 \(request_time=6\) has no user_id"):
        read_users(parquet_path)
