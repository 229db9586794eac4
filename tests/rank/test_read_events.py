"""reelsense.rank.read_events: the columnar reader keeps the row-by-row rule."""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.errors import ParameterError
from reelsense.io import MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS
from reelsense.rank import EVENTS, read_events, read_users
from reelsense.rank._events import _float, _numbers, _seconds

VIDEOS = {"a": 0, "b": 1, "c": 2}
_HEADER = ["user_id", "video_id", "timestamp", "event", "watch_fraction"]


def _ymd(seconds: float) -> bool:
    """A whole number that is a valid date YYYYMMDD of the years 1900-2100."""
    if not (math.isfinite(seconds) and seconds == int(seconds) and 1900_01_01 <= seconds <= 2100_12_31):
        return False
    try:
        date(int(seconds) // 10000, int(seconds) // 100 % 100, int(seconds) % 100)
    except ValueError:
        return False
    return True


def _reference(rows: list[dict[str, object]], video_index: dict[str, int]) -> tuple[object, ...]:
    """The log as the reader built it one row at a time: (users, user, video, event, time,
    fraction, report fields)."""
    codes = {e: i for i, e in enumerate(EVENTS)}
    unknown_events: Counter[str] = Counter()
    unknown_videos: list[str] = []
    bad = 0
    users: dict[str, int] = {}
    kept: list[tuple[int, int, int, float, float]] = []
    # parse_timestamp's years 1-9999; and a column whose every time is a date YYYYMMDD (20261207)
    # holds no seconds
    seconds = [_seconds(r.get("timestamp")) for r in rows]
    seconds = [ts if MIN_TIMESTAMP_SECONDS <= ts <= MAX_TIMESTAMP_SECONDS + 1 else math.nan for ts in seconds]
    timed = [ts for ts in seconds if math.isfinite(ts)]
    dated = bool(timed) and all(_ymd(ts) for ts in timed)
    for r, ts in zip(rows, seconds, strict=True):
        user, video, event = r.get("user_id"), r.get("video_id"), r.get("event")
        user = None if user is None else str(user).strip()  # " u1" is u1
        if dated and _ymd(ts):
            ts = math.nan
        if not user or video is None or not str(video).strip() or not math.isfinite(ts):
            bad += 1
            continue
        name = str(event).strip().lower() if event is not None else ""
        key = re.sub(r"[\s_-]+", "_", name.casefold())  # "Not-Interested" is not_interested
        if key not in codes:
            unknown_events[name] += 1  # counted by the name as written, lower case
            continue
        row = video_index.get(str(video), video_index.get(str(video).strip()))  # "a " is a
        if row is None:
            unknown_videos.append(str(video))
            continue
        uid = users.setdefault(str(user), len(users))
        kept.append((uid, row, codes[key], ts, _float(r.get("watch_fraction"))))
    names = sorted(users)
    rank = {users[n]: i for i, n in enumerate(names)}
    ordered = sorted(range(len(kept)), key=lambda i: (rank[kept[i][0]], kept[i][3], i))
    return (
        tuple(names),
        [rank[kept[i][0]] for i in ordered],
        [kept[i][1] for i in ordered],
        [kept[i][2] for i in ordered],
        [kept[i][3] for i in ordered],
        [kept[i][4] for i in ordered],
        len(rows),
        len(kept),
        list(unknown_events.items()),
        len(unknown_videos),
        tuple(sorted(set(unknown_videos))[:10]),
        bad,
    )


def _got(path: Path) -> tuple[object, ...]:
    log = read_events(path, VIDEOS)
    r = log.report
    return (
        log.users,
        log.user.tolist(),
        log.video.tolist(),
        log.event.tolist(),
        log.timestamp.tolist(),
        log.watch_fraction.tolist(),
        r.rows,
        r.kept,
        list(r.unknown_events.items()),
        r.unknown_videos,
        r.unknown_video_ids,
        r.bad_rows,
    )


def _same(got: tuple[object, ...], expected: tuple[object, ...]) -> None:
    for a, b in zip(got, expected, strict=True):
        if isinstance(a, list) and a and isinstance(a[0], float):
            np.testing.assert_array_equal(np.array(a), np.array(b))  # NaN == NaN
        else:
            assert a == b


_CELLS = {
    "user_id": ["", "u1", "u2", " u1", "é", " "],
    "video_id": ["", "a", "b", "c", "zz", "a ", "\tb", " zz", "  "],
    "timestamp": [
        "",
        "1",
        "2.5",
        " 3 ",
        "1_000",
        "-0",
        "1e3",
        ".5",
        "7.",
        "+4",
        "inf",
        "nan",
        "1e400",
        "1733500000000",
        "20261207",
        " 19991231.0",
        "20261399",
        "-1e12",
        "2024-01-01T00:00:00Z",
        "2024-01-01 00:00:01",
        "soon",
        "0x10",
        "١٢",
    ],
    "event": [
        "",
        "view",
        "like",
        " Like ",
        "SHARE",
        "not_interested",
        "not interested",
        "Not-Interested",
        "NOT_INTERESTED",
        "bogus",
        "Bogus ",
        "thumbs up",
    ],
    "watch_fraction": ["", "0.5", "1", "2", "-1", "x", " 0.25", "nan"],
}


@st.composite
def _rows(draw: st.DrawFn) -> list[dict[str, object]]:
    n = draw(st.integers(1, 30))
    return [{c: draw(st.sampled_from(v)) for c, v in _CELLS.items()} for _ in range(n)]


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, _HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


@settings(max_examples=200, deadline=None)
@given(_rows())
def test_a_csv_log_reads_as_row_by_row(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]]
) -> None:
    path = _write(tmp_path_factory.mktemp("ev") / "events.csv", rows)
    expected = _reference(rows, VIDEOS)
    if expected[7] == 0:
        with pytest.raises(ParameterError, match="has no usable event"):
            read_events(path, VIDEOS)
        return
    _same(_got(path), expected)


def test_short_rows_and_no_watch_column(tmp_path: Path) -> None:
    """A row with fewer cells than the header (csv reads None) and a log without watch_fraction."""
    path = tmp_path / "events.csv"
    path.write_text("user_id,video_id,timestamp,event,watch_fraction\nu,a,1,like\nv,b,2,view,0.9\nw,c\n")
    rows = [
        dict(zip(_HEADER, r, strict=False))
        for r in (["u", "a", "1", "like"], ["v", "b", "2", "view", "0.9"], ["w", "c"])
    ]
    _same(_got(path), _reference(rows, VIDEOS))
    path.write_text("event,timestamp,video_id,user_id\nlike,5,a,u\nskip,4,a,u\n")
    log = read_events(path, VIDEOS)
    assert log.event.tolist() == [1, 2] and np.isnan(log.watch_fraction).all()


def test_a_parquet_log_of_typed_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "user_id": pa.array([7, 7, None, 8], pa.int64()),
            "video_id": pa.array(["a", "b", "a", "zz"]).dictionary_encode(),
            "timestamp": pa.array([3, 1, 2, 4], pa.int64()),
            "event": ["like", "VIEW", "view", "view"],
            "watch_fraction": pa.array([None, 0.5, 0.1, 0.2]),
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    log = read_events(tmp_path / "events.parquet", VIDEOS)
    assert log.users == ("7",)
    assert log.video.tolist() == [1, 0] and log.timestamp.tolist() == [1.0, 3.0]
    assert log.report.bad_rows == 1 and log.report.unknown_video_ids == ("zz",)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.text("0123456789.eE+-_ infa", max_size=8), st.sampled_from(_CELLS["timestamp"])))
)
def test_numbers_read_as_float_and_seconds(values: list[str]) -> None:
    column = pa.array(values, pa.string())
    np.testing.assert_array_equal(
        _numbers(column, times=False), np.array([_float(v) for v in values], dtype=np.float64)
    )
    np.testing.assert_array_equal(
        _numbers(column, times=True), np.array([_seconds(v) for v in values], dtype=np.float64)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["s", "ms", "us"]),
    st.sampled_from([None, "UTC", "Asia/Kolkata"]),
    st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), max_size=20),
)
def test_a_parquet_timestamp_column_is_read_as_each_cells_datetime(
    unit: str, zone: str | None, ticks: list[int | None]
) -> None:
    """A timestamp column is read from its stored integers at once; the seconds are those of
    each cell's Python datetime (what it was read as before, 2 us a cell), to the bit."""
    scale = {"s": 1, "ms": 10**3, "us": 10**6}[unit]
    column = pa.array([None if t is None else t * scale // 2**10 for t in ticks], pa.timestamp(unit, tz=zone))
    each = np.array([_seconds(v) for v in column.to_pylist()], dtype=np.float64)
    np.testing.assert_array_equal(_numbers(column, times=True), each)


def test_a_missing_column_is_named_with_every_column_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,video_id,when,event,extra\nu,a,1,like,x\n")
    with pytest.raises(
        ParameterError,
        match=r"lacks the columns \['timestamp'\] \(has \['event', 'extra', 'user_id', 'video_id', "
        r"'when'\]\)",
    ):
        read_events(path, VIDEOS)


@pytest.mark.parametrize("short_row", ["", "w,c\n"], ids=["regular", "irregular"])
def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path, short_row: str) -> None:
    """Excel's "CSV UTF-8" starts with a BOM: the first column is still ``user_id`` (on the
    pyarrow path and on the csv path that an irregular row takes), in the users file too."""
    text = "user_id,video_id,timestamp,event,watch_fraction\nu,a,1,like,\nv,b,2,view,0.9\n" + short_row
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_text(text, encoding="utf-8")
    marked.write_text(text, encoding="utf-8-sig")
    _same(_got(marked), _got(plain))
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\nu,5\n", encoding="utf-8-sig")
    assert read_users(users) == {"u": 5.0}


def test_a_table_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    events, users = tmp_path / "events.csv", tmp_path / "users.csv"
    events.write_bytes(b"user_id,video_id,timestamp,event,watch_fraction\nj\xfcrgen,a,1,like,\n")
    users.write_bytes(b"user_id,request_time\nj\xfcrgen,5\n")
    for call in (lambda: read_events(events, VIDEOS), lambda: read_users(users)):
        with pytest.raises(
            ParameterError, match=r"not UTF-8 text \(byte \d+ is b'\\xfc'\): save it as UTF-8"
        ):
            call()


def test_a_long_field_reads_whatever_the_process_read_before(tmp_path: Path) -> None:
    # the csv module's limit is process-wide; the rank readers raise it as the other readers
    # of reelsense's tables do, so a fresh process reads what one that read a trends table reads
    users = tmp_path / "users.csv"
    users.write_text('user_id,request_time\n"' + "x" * 200_000 + '",5\n')
    before = csv.field_size_limit(131_072)  # the module's default, as in a fresh process
    try:
        assert read_users(users) == {"x" * 200_000: 5.0}
    finally:
        csv.field_size_limit(before)


def test_a_field_over_the_csv_limit_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reelsense.io._text as text

    monkeypatch.setattr(text, "MAX_CSV_FIELD_CHARS", 150_000)
    users = tmp_path / "users.csv"
    users.write_text('user_id,request_time\n"' + "x" * 200_000 + '",5\n')
    before = csv.field_size_limit(131_072)
    try:
        with pytest.raises(ParameterError, match="is not a readable CSV table: field larger than"):
            read_users(users)
    finally:
        csv.field_size_limit(before)


def test_watch_fractions_outside_0_1_are_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A log of watch percentages (85 for 85 %) made every view a full watch without a word:
    the views whose fraction is clipped are counted, in the report and the warning."""
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,video_id,timestamp,event,watch_fraction\n"
        "u,a,1,view,85\nu,b,2,view,-0.2\nu,c,3,view,0.4\nu,a,4,like,7\nu,b,5,view,\nu,c,6,view,inf\n"
    )
    with caplog.at_level("WARNING", logger="reelsense.rank._events"):
        report = read_events(path, VIDEOS).report
    assert report.kept == report.rows == 6 and report.watch_outside == 2
    assert "2 views with a watch_fraction outside 0-1, clipped to it" in report.summary()
    assert "2 views with a watch_fraction outside 0-1" in caplog.text


def test_a_parquet_log_named_csv_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    pq.write_table(pa.table({"user_id": ["u"], "video_id": ["a"], "timestamp": [1], "event": ["like"]}), path)
    with pytest.raises(ParameterError, match=r"is a Parquet file: name it \.parquet"):
        read_events(path, VIDEOS)


def test_watch_fractions_that_are_not_numbers_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A watch_fraction written as "50%" or "abc" (or inf) read as no fraction, the neutral
    value, without a word: the kept views whose cell holds something that is not a finite
    number are counted with an example; empty cells stay silent."""
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,video_id,timestamp,event,watch_fraction\n"
        "u,a,1,view,50%\nu,b,2,view,abc\nu,c,3,view,inf\nu,a,4,view,nan\nu,b,5,view,\nu,c,6,view, \n"
        "u,a,7,like,50%\nu,b,8,view,0.4\n"
    )
    with caplog.at_level("WARNING", logger="reelsense.rank._events"):
        report = read_events(path, VIDEOS).report
    assert report.kept == report.rows == 8 and report.watch_unreadable == 4
    assert report.watch_unreadable_example == "'50%'"
    assert "4 views with a watch_fraction that is not a number (e.g. '50%')" in report.summary()
    assert "4 views with a watch_fraction that is not a number" in caplog.text
    caplog.clear()
    path.write_text("user_id,video_id,timestamp,event,watch_fraction\nu,a,1,view,\nu,b,2,view,0.3\n")
    with caplog.at_level("WARNING", logger="reelsense.rank._events"):
        report = read_events(path, VIDEOS).report
    assert report.watch_unreadable == 0 and not caplog.text
    parquet = tmp_path / "events.parquet"
    table = {"user_id": ["u"] * 4, "video_id": ["a", "b", "c", "a"], "timestamp": [1, 2, 3, 4]}
    pq.write_table(
        pa.table({**table, "event": ["view"] * 4, "watch_fraction": [math.inf, math.nan, None, 0.5]}), parquet
    )
    report = read_events(parquet, VIDEOS).report
    assert report.watch_unreadable == 1 and report.watch_unreadable_example == "inf"
    categories = pa.array(["", "x", None, "0.5"]).dictionary_encode()  # pandas' category dtype
    pq.write_table(pa.table({**table, "event": ["view"] * 4, "watch_fraction": categories}), parquet)
    report = read_events(parquet, VIDEOS).report
    assert report.watch_unreadable == 1 and report.watch_unreadable_example == "'x'"


def test_timestamps_in_milliseconds_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Events in milliseconds (year ~56,900 as seconds) against request times in seconds were
    all "after the request": every history empty, without a word. A number outside the years
    1-9999 is no timestamp, as reelsense.io.parse_timestamp reads one: the row is dropped and
    counted with parse_timestamp's "milliseconds?" hint, and a request time refused."""
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,video_id,timestamp,event,watch_fraction\n"
        "u,a,1733500000000,view,0.5\nu,b,1733500001,like,\nu,c,1e20,like,\n"
    )
    with caplog.at_level("WARNING", logger="reelsense.rank._events"):
        log = read_events(path, VIDEOS)
    assert log.report.kept == 1 and log.report.bad_rows == 2 and log.report.timestamps_outside == 2
    assert (
        "2 of them a value that is no time, e.g. row 1: timestamp '1733500000000' is outside "
        "the years 1-9999 (milliseconds? it takes unix seconds)" in log.report.summary()
    )
    assert "(milliseconds? it takes unix seconds)" in caplog.text
    parquet = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["u", "u"],
                "video_id": ["a", "b"],
                "timestamp": pa.array([1733500000000, 1733500001000], pa.int64()),
                "event": ["like", "like"],
            }
        ),
        parquet,
    )
    with pytest.raises(
        ParameterError, match=r"has no usable event.*\(milliseconds\? it takes unix seconds\)"
    ):
        read_events(parquet, VIDEOS)
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\nu,1733500000000\n")
    with pytest.raises(ParameterError, match=r"'1733500000000' is outside the years 1-9999 \(milliseconds\?"):
        read_users(users)


def test_ids_with_surrounding_spaces_match(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A CSV written with ", " between cells gave video ids " a" that matched no video and
    user ids " u" that matched no user of the users file (an empty history), the warning
    listing ids whose space is invisible. User ids are read without surrounding spaces (in
    both files), a video id that is unknown as given is matched without them, and an id
    still unknown is shown as repr writes it."""
    path = tmp_path / "events.csv"
    path.write_text(
        "video_id,user_id,timestamp,event,watch_fraction\n"
        "a, u, 1, like, \nb , u,2,view,0.9\n zz ,u,3,like,\n   ,u,4,like,\n"
    )
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\n u ,10\n")
    with caplog.at_level("WARNING", logger="reelsense.rank._events"):
        log = read_events(path, VIDEOS)
    assert log.users == ("u",) and log.video.tolist() == [0, 1]
    assert log.report.unknown_video_ids == (" zz ",) and log.report.bad_rows == 1
    assert "(e.g. ' zz ')" in caplog.text
    assert read_users(users) == {"u": 10.0}
    assert len(log.before(read_users(users))) == 2
    users.write_text("user_id,request_time\nu,10\n u,11\n")
    with pytest.raises(ParameterError, match="lists user 'u' twice"):
        read_users(users)
    spaced = {" a": 0, "a": 1}  # an id that has the spaces is matched as it is
    path.write_text("video_id,user_id,timestamp,event\n a,u,1,like\na,u,2,like\n")
    assert read_events(path, spaced).video.tolist() == [0, 1]


def test_a_users_file_without_request_times_is_refused(tmp_path: Path) -> None:
    """A users file whose request_time column is misnamed ranked every user after all of
    their events, without a word: it is refused, naming the columns it has (" request_time",
    after ", ", is request_time); an empty cell, or a file of user ids alone, still means
    after every event."""
    users = tmp_path / "users.csv"
    users.write_text("user_id, request_time\nu, 5\n")
    assert read_users(users) == {"u": 5.0}
    users.write_text("user_id,when\nu,5\n")
    with pytest.raises(ParameterError, match=r"no 'request_time' column \(has \['user_id', 'when'\]\)"):
        read_users(users)
    users.write_text("user_id\nu\n")  # the users alone: every event counts, as documented
    assert read_users(users) == {"u": math.inf}
    users.write_text("user_id,request_time\nu,\n")
    assert read_users(users) == {"u": math.inf}


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    """A CSV header that names a column twice read the last of them without a word (pyarrow
    refuses such a Parquet file): it is refused, as the Parquet one; empty names (trailing
    commas of a spreadsheet) may repeat."""
    path = tmp_path / "events.csv"
    path.write_text("user_id,video_id,timestamp,event,user_id\nu,a,1,like,w\n")
    with pytest.raises(ParameterError, match=r"events.csv' names the column 'user_id' twice"):
        read_events(path, VIDEOS)
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time,request_time\nu,5,6\n")
    with pytest.raises(ParameterError, match=r"users.csv' names the column 'request_time' twice"):
        read_users(users)
    path.write_text("user_id,video_id,timestamp,event,,\nu,a,1,like,,\n")
    assert read_events(path, VIDEOS).users == ("u",)


def test_event_names_are_read_without_case_spaces_or_hyphens(tmp_path: Path) -> None:
    """``not interested``, ``not-interested``, ``Not_Interested`` and ``LIKE`` are known events;
    an unknown one is still counted by its name (lower case, as written)."""
    names = ["not interested", "not-interested", "Not_Interested", "LIKE", " Save ", "thumbs-up", "Thumbs-Up"]
    rows = [
        {"user_id": "u1", "video_id": "a", "timestamp": str(i), "event": e, "watch_fraction": ""}
        for i, e in enumerate(names)
    ]
    log = read_events(_write(tmp_path / "e.csv", rows), VIDEOS)
    assert [EVENTS[e] for e in log.event] == ["not_interested"] * 3 + ["like", "save"]
    assert log.report.unknown_events == {"thumbs-up": 2}


def test_timestamps_written_yyyymmdd_are_named(tmp_path: Path) -> None:
    """A column of dates YYYYMMDD read as unix seconds is August 1970: its rows are dropped and
    counted with parse_timestamp's message naming the value (here every row: the log has no
    usable event), and such request times refused."""
    path = _write(
        tmp_path / "events.csv",
        [
            {"user_id": "u", "video_id": "a", "timestamp": "20261207", "event": "view", "watch_fraction": ""},
            {"user_id": "u", "video_id": "b", "timestamp": "20261130", "event": "like", "watch_fraction": ""},
        ],
    )
    with pytest.raises(ParameterError, match=r"has no usable event.*row 1: timestamp '20261207'.*2026-12-07"):
        read_events(path, VIDEOS)
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\nu,20261207\n")
    with pytest.raises(ParameterError, match=r"'20261207'.*2026-12-07"):
        read_users(users)
    parquet = tmp_path / "events.parquet"  # an integer column: the same rule
    table = {"user_id": ["u"], "video_id": ["a"], "timestamp": pa.array([20261207], pa.int64())}
    pq.write_table(pa.table({**table, "event": ["like"]}), parquet)
    with pytest.raises(ParameterError, match=r"has no usable event.*20261207.*2026-12-07"):
        read_events(parquet, VIDEOS)


def test_a_column_of_seconds_through_date_like_numbers_stays_seconds(tmp_path: Path) -> None:
    """Relative times (seconds since a simulation's start) pass through numbers that read as
    dates YYYYMMDD (20261207 s is 234 days in): only a column of dates alone is refused, so
    such a log and users file keep every row, as seconds."""
    times = ["86400", "20261207", "20261399", "30000000"]
    rows = [
        {"user_id": "u", "video_id": "a", "timestamp": t, "event": "view", "watch_fraction": "0.5"}
        for t in times
    ]
    log = read_events(_write(tmp_path / "events.csv", rows), VIDEOS)
    assert log.report.kept == 4 and log.report.timestamps_outside == 0
    assert log.timestamp.tolist() == sorted(float(t) for t in times)
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\nu,20261207\nv,30000000\nw,\n")
    assert read_users(users) == {"u": 20261207.0, "v": 30000000.0, "w": math.inf}
    users.write_text("user_id,request_time\nu,20261207\nv,20261208\nw,\n")  # dates alone
    with pytest.raises(ParameterError, match=r"'20261207'.*2026-12-07"):
        read_users(users)


def test_views_in_a_log_without_watch_fractions(tmp_path: Path) -> None:
    """A log without the (optional) watch_fraction column and with a view raised KeyError
    'watch_fraction' (its views were taken for views with an unreadable fraction)."""
    path = tmp_path / "events.csv"
    path.write_text("user_id,video_id,timestamp,event\nu,a,1,view\nu,b,2,like\n")
    log = read_events(path, VIDEOS)
    assert log.event.tolist() == [0, 2] and np.isnan(log.watch_fraction).all()
    assert log.report.watch_unreadable == 0 and log.report.watch_unreadable_example == ""


@pytest.mark.parametrize("short_row", ["", "w,c\n"], ids=["regular", "irregular"])
def test_header_names_are_read_without_surrounding_spaces(tmp_path: Path, short_row: str) -> None:
    """A header written with ``, `` between names (`` video_id``) was refused as lacking its
    columns, on the pyarrow path and on the csv path (an irregular row), in the users file
    too; names that are one name once stripped are still refused as named twice."""
    spaced, plain = tmp_path / "spaced.csv", tmp_path / "plain.csv"
    rows = "u,a,1,like,\nv,b,2,view,0.9\n" + short_row
    spaced.write_text("user_id, video_id , timestamp,\tevent, watch_fraction\n" + rows)
    plain.write_text(",".join(_HEADER) + "\n" + rows)
    _same(_got(spaced), _got(plain))
    users = tmp_path / "users.csv"
    users.write_text("user_id , request_time\nu,5\n")
    assert read_users(users) == {"u": 5.0}
    spaced.write_text("user_id,video_id,timestamp,event, user_id\nu,a,1,like,w\n")
    with pytest.raises(ParameterError, match=r"spaced.csv' names the column 'user_id' twice"):
        read_events(spaced, VIDEOS)
    users.write_text("user_id,request_time, request_time\nu,5,6\n")
    with pytest.raises(ParameterError, match=r"users.csv' names the column 'request_time' twice"):
        read_users(users)


def test_rows_with_more_cells_than_the_header_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A row with more cells than the header (an unquoted comma in a cell, say) was read from
    its first cells and the rest dropped without a word: such rows are counted with the first
    row's number (empty cells past the header's, a spreadsheet's trailing commas, hold nothing
    and are not), in the users file too; their first cells are still read as before."""
    path = tmp_path / "events.csv"
    path.write_text("user_id,video_id,timestamp,event\nu,a,1,like,,\nv,b,2,like,x\nw,c,3,like,Smith, J\n")
    log = read_events(path, VIDEOS)
    assert log.users == ("u", "v", "w") and log.video.tolist() == [0, 1, 2]
    assert log.report.long_rows == 2 and log.report.long_rows_first == 2
    assert "2 rows with more cells than the header (first: row 2)" in caplog.text
    caplog.clear()
    path.write_text("user_id,video_id,timestamp,event\nu,a,1,like,,\nv,b,2,like\n")
    assert read_events(path, VIDEOS).report.long_rows == 0 and not caplog.text
    users = tmp_path / "users.csv"
    users.write_text("user_id,request_time\nu,5\nv,6,7\n")
    assert read_users(users) == {"u": 5.0, "v": 6.0}
    assert "1 rows with more cells than the header (first: row 2)" in caplog.text


@pytest.mark.parametrize("kind", [pa.date32(), pa.date64()], ids=["date32", "date64"])
def test_a_parquet_date_column_is_midnight_utc(tmp_path: Path, kind: pa.DataType) -> None:
    """A Parquet date column (``timestamp``, ``request_time``) was no timestamp: every event
    dropped, every request time refused. A date is read as midnight UTC of that day."""
    days = [date(2024, 1, 2), date(2024, 1, 1), None]
    table = pa.table(
        {
            "user_id": ["u", "u", "u"],
            "video_id": ["a", "b", "c"],
            "timestamp": pa.array(days, kind),
            "event": ["like", "view", "view"],
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    log = read_events(tmp_path / "events.parquet", VIDEOS)
    assert log.video.tolist() == [1, 0] and log.timestamp.tolist() == [1_704_067_200.0, 1_704_153_600.0]
    assert log.report.bad_rows == 1
    after_9999 = pa.array([19_723, 3_000_000], pa.int32()).cast(pa.date32()).cast(kind)  # no Python date
    pq.write_table(table.slice(0, 2).set_column(2, "timestamp", after_9999), tmp_path / "events.parquet")
    log = read_events(tmp_path / "events.parquet", VIDEOS)
    assert log.report.timestamps_outside == 1 and "row 2" in log.report.timestamps_outside_note
    pq.write_table(
        pa.table({"user_id": ["u", "v"], "request_time": pa.array(days[:2], kind)}), tmp_path / "u.pq"
    )
    assert read_users(tmp_path / "u.pq") == {"u": 1_704_153_600.0, "v": 1_704_067_200.0}


_DAY_SECONDS = 86_400
_PAST_9999_DAYS = 3_000_000  # 10183-09-..., no Python date
_BEFORE_1_SECONDS = -70_000_000_000  # the year -249


@pytest.mark.parametrize(
    ("kind", "far"),
    [
        (pa.date32(), _PAST_9999_DAYS),
        (pa.date64(), _PAST_9999_DAYS * _DAY_SECONDS * 1000),
        (pa.timestamp("s"), _PAST_9999_DAYS * _DAY_SECONDS),
        (pa.timestamp("us", tz="UTC"), _PAST_9999_DAYS * _DAY_SECONDS * 10**6),
        (pa.timestamp("ms", tz="Asia/Tokyo"), _PAST_9999_DAYS * _DAY_SECONDS * 1000),
        (pa.timestamp("s"), _BEFORE_1_SECONDS),
        (pa.date32(), 2**31 - 1),  # its milliseconds are past float64's whole numbers
    ],
    ids=[
        "date32",
        "date64",
        "timestamp",
        "timestamp-utc",
        "timestamp-tokyo",
        "timestamp-year-249",
        "date32-max",
    ],
)
def test_a_parquet_time_outside_the_years_is_named(
    tmp_path: Path, kind: pa.DataType, far: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A Parquet date or timestamp column holding a time outside the years 1-9999 (no Python
    datetime) raised pyarrow's OverflowError (or ArrowInvalid) from read_users and read_events:
    the request time is refused and the event dropped and counted as a number outside the
    years is, named with the column's type and no "milliseconds?" hint (a typed time is no
    number in the wrong unit); the other rows are read as before."""
    normal = {pa.date32(): 19_723, pa.date64(): 19_723 * _DAY_SECONDS * 1000}.get(kind)
    if normal is None:
        normal = 19_723 * _DAY_SECONDS * {"s": 1, "ms": 1000, "us": 10**6}[kind.unit]
    storage = pa.int32() if kind == pa.date32() else pa.int64()
    times = pa.array([normal, far], storage).cast(kind)
    pq.write_table(pa.table({"user_id": ["u", "v"], "request_time": times}), tmp_path / "users.parquet")
    with pytest.raises(ParameterError) as error:
        read_users(tmp_path / "users.parquet")
    message = str(error.value)
    assert "request_time of user 'v'" in message and "outside the years 1-9999" in message
    family = "date" if pa.types.is_date(kind) else "timestamp"  # Parquet keeps a date64 as date32
    assert "milliseconds?" not in message and f"(a Parquet {family}" in message
    events = pa.table(
        {"user_id": ["u", "v"], "video_id": ["a", "b"], "timestamp": times, "event": ["like", "like"]}
    )
    pq.write_table(events, tmp_path / "events.parquet")
    log = read_events(tmp_path / "events.parquet", VIDEOS)
    assert log.users == ("u",) and log.timestamp.tolist() == [1_704_067_200.0]
    report = log.report
    assert report.bad_rows == 1 and report.timestamps_outside == 1
    note = report.timestamps_outside_note
    assert note.startswith("row 2: ") and "outside the years 1-9999" in note
    assert "milliseconds?" not in note and f"(a Parquet {family}" in note
    assert note in caplog.text


def test_parquet_column_names_are_read_without_surrounding_spaces(tmp_path: Path) -> None:
    """CSV header names were read without surrounding spaces but Parquet column names were not:
    a Parquet log or users file whose columns are `` video_id`` was refused as lacking them.
    Both are read by one rule now, and names that are one name once stripped are refused as
    a column named twice, as in a CSV header."""
    columns = {
        " user_id": ["u", "v"],
        "video_id ": ["a", "b"],
        "\ttimestamp": [1, 2],
        "event": ["like", "view"],
        " watch_fraction ": [None, 0.9],
    }
    pq.write_table(pa.table(columns), tmp_path / "spaced.parquet")
    pq.write_table(pa.table({k.strip(): v for k, v in columns.items()}), tmp_path / "plain.parquet")
    _same(_got(tmp_path / "spaced.parquet"), _got(tmp_path / "plain.parquet"))
    pq.write_table(pa.table({"user_id ": ["u"], " request_time": [5]}), tmp_path / "users.parquet")
    assert read_users(tmp_path / "users.parquet") == {"u": 5.0}
    pq.write_table(pa.table({**columns, "user_id": ["w", "x"]}), tmp_path / "twice.parquet")
    with pytest.raises(ParameterError, match=r"twice.parquet' names the column 'user_id' twice"):
        read_events(tmp_path / "twice.parquet", VIDEOS)
    pq.write_table(
        pa.table({"user_id": ["u"], "request_time": [5], "request_time ": [6]}), tmp_path / "u2.pq"
    )
    with pytest.raises(ParameterError, match=r"u2.pq' names the column 'request_time' twice"):
        read_users(tmp_path / "u2.pq")
