"""The profile on a hand-made input whose every number is counted by hand below."""

from datetime import datetime, timezone

from lastfm import profiling
from lastfm.schemas import PLAYS, REJECTS, SESSIONS


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


PLAY_ROWS = [
    ("u1", ts("2009-01-01T10:00:00"), "a1", "A", "t1", "T1"),
    ("u1", ts("2009-01-01T10:10:00"), "a1", "A", "t1", "T1"),
    ("u1", ts("2009-01-01T10:10:00"), "a1", "A", "t1", "T1"),  # the one duplicate
    ("u1", ts("2009-01-01T12:00:00"), None, "B", None, ""),
    ("u2", ts("2009-01-02T23:30:00"), "a1", "A", "t1", "T1"),
]
SESSION_ROWS = [
    ("u1", 1, "u1/1", ts("2009-01-01T10:00:00"), ts("2009-01-01T10:10:00"), 3),
    ("u1", 2, "u1/2", ts("2009-01-01T12:00:00"), ts("2009-01-01T12:00:00"), 1),
    ("u2", 1, "u2/1", ts("2009-01-02T23:30:00"), ts("2009-01-02T23:30:00"), 1),
]


def test_input_profile(spark):
    plays = spark.createDataFrame(PLAY_ROWS, PLAYS)
    rejects = spark.createDataFrame([("x", "wrong_field_count"), ("y", "wrong_field_count"), ("\tz", "empty_user_id")], REJECTS)
    profile = profiling.input_profile(plays, rejects, rows_valid=5, rows_rejected=3)
    hours = [0] * 24
    hours[10], hours[12], hours[23] = 3, 1, 1
    assert profile == {
        "rows": {"read": 8, "valid": 5, "rejected": 3, "rejected_by_reason": {"wrong_field_count": 2, "empty_user_id": 1}},
        "columns": {
            "user_id": {"nulls": 0, "empty": 0, "distinct_approx": 2},
            "ts": {"nulls": 0, "distinct_approx": 4},
            "artist_id": {"nulls": 1, "empty": 0, "distinct_approx": 1},
            "artist_name": {"nulls": 0, "empty": 0, "distinct_approx": 2},
            "track_id": {"nulls": 1, "empty": 0, "distinct_approx": 1},
            "track_name": {"nulls": 0, "empty": 1, "distinct_approx": 2},
        },
        "time_range": {"first": "2009-01-01T10:00:00Z", "last": "2009-01-02T23:30:00Z"},
        "plays_by_hour_utc": hours,
        "users": 2,
        # nearest-rank percentiles of [1, 4]
        "plays_per_user": {"min": 1, "median": 1, "p99": 4, "max": 4},
        "heaviest_listener": {"user_id": "u1", "plays": 4},
        "duplicate_plays": 1,
    }


def test_hours_are_utc_whatever_the_session_time_zone(spark):
    plays = spark.createDataFrame(PLAY_ROWS, PLAYS)
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        profile = profiling.column_profile(plays)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert profile["plays_by_hour_utc"][10] == 3 and profile["time_range"]["first"] == "2009-01-01T10:00:00Z"


def test_heaviest_listener_tie_goes_to_the_lowest_id(spark):
    plays = spark.createDataFrame([("u9", ts("2009-01-01T00:00:00"), None, "A", None, "T"),
                                   ("u3", ts("2009-01-01T00:00:00"), None, "A", None, "T")], PLAYS)
    assert profiling.user_profile(plays)["heaviest_listener"] == {"user_id": "u3", "plays": 1}


def test_session_profile_and_histogram(spark):
    sessions = spark.createDataFrame(SESSION_ROWS, SESSIONS)
    assert profiling.session_profile(sessions) == {
        "count": 3,
        "length_plays": {"p50": 1, "p90": 3, "p99": 3, "max": 3},
        "duration_minutes": {"p50": 0.0, "p90": 10.0, "p99": 10.0, "max": 10.0},
    }
    assert profiling.session_length_histogram(sessions) == [(1, 2), (3, 1)]


def test_flatten_gives_one_row_per_leaf():
    rows = profiling.flatten({"rows": {"read": 8}, "time_range": {"first": "2009"}, "hours": [1, 2], "heaviest": None})
    assert rows == [("rows.read", 8.0, None), ("time_range.first", None, "2009"), ("hours.0", 1.0, None),
                    ("hours.1", 2.0, None), ("heaviest", None, None)]
