"""The profile on a hand-made input whose every number is counted by hand below."""

from datetime import datetime, timezone

from pyspark.sql import functions as F

from lastfm import compat
from lastfm.quality import admission, profiling
from lastfm.question.parsing import parse_lines, valid_plays
from lastfm.schemas import SESSIONS


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


LINES = [
    "u1\t2009-01-01T10:00:00Z\ta1\tA\tt1\tT1",
    "u1\t2009-01-01T10:10:00Z\ta1\tA\tt1\tT1",
    "u1\t2009-01-01T10:10:00Z\ta1\tA\tt1\tT1",  # the one duplicate
    "u1\t2009-01-01T12:00:00Z\t\tB\t\t",
    "u2\t2009-01-02T23:30:00Z\ta1\tA\tt1\tT1",
    "x",
    "y\ty",
    "\t2009-01-01T10:00:00Z\ta\tb\tc\td",
]
SESSION_ROWS = [
    ("u1", 1, "u1/1", ts("2009-01-01T10:00:00"), ts("2009-01-01T10:10:00"), 3, 1),
    ("u1", 2, "u1/2", ts("2009-01-01T12:00:00"), ts("2009-01-01T12:00:00"), 1, 0),
    ("u2", 1, "u2/1", ts("2009-01-02T23:30:00"), ts("2009-01-02T23:30:00"), 1, 0),
]


def file_profiles(spark, files: dict[str, list[str]]) -> dict[str, dict]:
    """The profile of each file, as a batch's parse gives it: one aggregate over all their lines,
    grouped by file (admission.file_facts)."""
    lines = spark.createDataFrame([(line, path) for path, part in files.items() for line in part],
                                  "value string, source_file string")
    hashed = lines.withColumns({**admission.line_hashes(lines.value), **profiling.replaced(lines.value, lines.value)}
                               ).transform(parse_lines)
    return {facts["path"]: (profiling.input_profile(facts), profiling.sketches(facts))
            for facts in admission.file_facts(hashed, now_epoch_seconds=2**40)}


def observed_profile(spark, lines):
    return file_profiles(spark, {"f": lines})["f"][0]


def test_input_profile_of_a_file_comes_from_one_aggregate_over_its_parsed_lines(spark):
    hours = [0] * 24
    hours[10], hours[12], hours[23] = 3, 1, 1
    assert observed_profile(spark, LINES) == {
        "rows": {"read": 8, "valid": 5, "rejected": 3,
                 "rejected_by_reason": {"wrong_field_count": 2, "empty_user_id": 1},
                 "with_replacement_character": 0},
        "columns": {
            "user_id": {"nulls": 0, "empty": 0},
            "ts": {"nulls": 0},
            "artist_id": {"nulls": 1, "empty": 0},
            "artist_name": {"nulls": 0, "empty": 0, "distinct_approx": 2},
            "track_id": {"nulls": 1, "empty": 0},
            "track_name": {"nulls": 0, "empty": 1, "distinct_approx": 2},
        },
        "time_range": {"first": "2009-01-01T10:00:00Z", "last": "2009-01-02T23:30:00Z"},
        "plays_by_hour_utc": hours,
    }


def test_the_files_of_one_batch_get_a_profile_each(spark):
    both = file_profiles(spark, {"a": LINES[:4], "b": LINES[4:]})
    assert both["a"][0] == observed_profile(spark, LINES[:4]) and both["b"][0] == observed_profile(spark, LINES[4:])
    # counted by hand: the first four lines are u1's four valid plays, the rest one play and three rejects
    assert both["a"][0]["rows"] == {"read": 4, "valid": 4, "rejected": 0, "rejected_by_reason": {},
                                    "with_replacement_character": 0}
    assert both["b"][0]["rows"]["rejected_by_reason"] == {"wrong_field_count": 2, "empty_user_id": 1}


def test_hours_are_utc_whatever_the_session_time_zone(spark):
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        profile = observed_profile(spark, LINES)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert profile["plays_by_hour_utc"][10] == 3 and profile["time_range"]["first"] == "2009-01-01T10:00:00Z"


def test_user_profile_from_the_sessions(spark):
    assert profiling.user_profile(spark.createDataFrame(SESSION_ROWS, SESSIONS)) == {
        "users": 2,
        # nearest-rank percentiles of [1, 4]
        "plays_per_user": {"min": 1, "median": 1, "p99": 4, "max": 4},
        "heaviest_listener": {"user_id": "u1", "plays": 4},
        "duplicate_plays": 1,
    }


def test_heaviest_listener_tie_goes_to_the_lowest_id(spark):
    one_play = lambda user: (user, 1, f"{user}/1", ts("2009-01-01T00:00:00"), ts("2009-01-01T00:00:00"), 1, 0)  # noqa: E731
    sessions = spark.createDataFrame([one_play("u9"), one_play("u3")], SESSIONS)
    assert profiling.user_profile(sessions)["heaviest_listener"] == {"user_id": "u3", "plays": 1}


def test_session_profile_and_histogram(spark):
    sessions = spark.createDataFrame(SESSION_ROWS, SESSIONS)
    assert profiling.session_profile(sessions) == {
        "count": 3,
        "length_plays": {"p50": 1, "p90": 3, "p99": 3, "max": 3},
        "duration_minutes": {"p50": 0.0, "p90": 10.0, "p99": 10.0, "max": 10.0},
    }
    assert profiling.session_length_histogram(sessions) == [(1, 2), (3, 1)]


def test_profiles_of_files_combine_into_the_profile_of_all_their_lines(spark):
    halves = file_profiles(spark, {"a": LINES[:4], "b": LINES[4:]})
    combined = profiling.combine([halves[f][0] for f in "ab"],
                                 profiling.distinct_estimates(spark, [halves[f][1] for f in "ab"]))
    # counted by hand from LINES, as in the first test: the two halves hold all of them
    assert combined == observed_profile(spark, LINES)
    assert halves["a"][0]["rows"]["read"] == 4 and halves["b"][0]["rows"]["read"] == 4


def test_lines_with_bytes_that_are_not_utf8_are_made_valid_and_counted(spark, tmp_path):
    # Latin-1 bytes where UTF-8 is expected: the parse makes them U+FFFD, and the profile counts the line
    path = tmp_path / "latin1.tsv"
    path.write_bytes("u1\t2009-01-01T10:00:00Z\t\tBj\u00f6rk\t\tJ\u00f3ga\nu1\t2009-01-01T10:05:00Z\t\tA\t\tB\n"
                     .encode("latin-1"))
    raw = spark.read.text(str(path))
    valid = compat.valid_utf8(raw.value)
    lines = raw.select(valid.alias("value"), F.lit("f").alias("source_file"),
                       *[c.alias(n) for n, c in
                         {**admission.line_hashes(valid), **profiling.replaced(raw.value, valid)}.items()])
    (facts,) = admission.file_facts(lines.transform(parse_lines), now_epoch_seconds=2**40)
    assert profiling.input_profile(facts)["rows"]["with_replacement_character"] == 1
    names = [r.artist_name for r in valid_plays(lines.transform(parse_lines)).orderBy("ts").collect()]
    assert names == ["Bj\ufffdrk", "A"]
