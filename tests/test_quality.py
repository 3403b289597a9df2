"""Input and output expectations, and the known-answer check."""

from datetime import datetime, timezone

import pytest
from chispa import assert_df_equality

from lastfm.config import JobConfig
from lastfm.errors import DataQualityError, UsageError
from lastfm.quality import checks as quality
from lastfm.schemas import PLAYS as PLAYS_TABLE
from lastfm.schemas import TOP_SESSIONS, TOP_TRACKS
from lastfm.schemas import TYPED_PLAYS as PLAYS

CONFIG = JobConfig("in.tsv", "out/top.tsv", "wh", top_tracks=3)
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def facts(**changes):
    good = {"rows_valid": 100, "users": 2, "duplicate_fraction": 0.0,
            "first_play": datetime(2005, 2, 14, tzinfo=timezone.utc),
            "last_play": datetime(2013, 9, 29, tzinfo=timezone.utc)}
    return {**good, **changes}


def check_input(values):
    return quality.validate_facts("input", quality.input_expectations(CONFIG, NOW), values)


def test_good_input_facts_pass():
    assert check_input(facts()) == []


def test_each_failed_input_expectation_is_named_with_its_value():
    found = check_input(facts(users=0, duplicate_fraction=0.25, first_play=datetime(1970, 1, 1, tzinfo=timezone.utc),
                                     last_play=datetime(2031, 5, 1, tzinfo=timezone.utc)))
    assert sorted(found) == sorted([
        "input.users=0 fails greater_than(0)",
        "input.duplicate_fraction=0.25 fails less_than_or_equal_to(0.01)",
        "input.first_play=1970-01-01T00:00:00Z fails greater_than_or_equal_to(2002-01-01 00:00:00+00:00)",
        "input.last_play=2031-05-01T00:00:00Z fails less_than_or_equal_to(2026-01-01 00:00:00+00:00)",
    ])


def test_input_facts_from_a_profile():
    profile = {"rows": {"read": 10, "valid": 8, "rejected": 2}, "users": 3, "duplicate_plays": 2,
               "time_range": {"first": "2005-02-14T00:00:00Z", "last": "2013-09-29T10:00:00Z"}}
    assert quality.input_facts(profile) == facts(rows_valid=8, users=3, duplicate_fraction=0.25,
                                                 first_play=datetime(2005, 2, 14, tzinfo=timezone.utc),
                                                 last_play=datetime(2013, 9, 29, 10, tzinfo=timezone.utc))


def test_plays_schema_wants_exactly_the_tables_typed_columns(spark):
    good = spark.createDataFrame([], PLAYS_TABLE)
    assert quality.validate_plays_schema(good) == []
    seventh = good.withColumn("extra", good.user_id)
    assert quality.validate_plays_schema(seventh) == ["plays: column 'extra' not expected"]
    assert quality.validate_plays_schema(good.drop("track_name")) == ["plays.track_name missing"]
    as_text = good.withColumn("ts", good.ts.cast("string"))
    assert quality.validate_plays_schema(as_text) == ["plays.ts is string, expected timestamp"]
    reordered = good.select(*reversed(good.columns))
    assert quality.validate_plays_schema(reordered) == []


def test_enforce_raises_one_line_or_warns():
    with pytest.raises(DataQualityError, match="^input expectations failed: a; b$"):
        quality.enforce(["a", "b"], "input", warn_only=False)
    assert quality.enforce(["a"], "input", warn_only=True) == ["a"]
    assert quality.enforce([], "input", warn_only=False) == []


def test_checked_output_recounts_each_song_from_plays_in_the_top_sessions(spark):
    top = spark.createDataFrame([
        (1, "Cake", "Jolene", 3),
        (2, "Abba", "SOS ", 2),      # played once in the top session, not twice
        (3, "Abba", "SOS", 2),       # right count, but the tie on plays should have put it first
        (4, "Abba", "Waterloo", 1),  # played only outside the top session
    ], TOP_TRACKS)
    at = lambda minute: datetime(2009, 1, 1, 10, minute)  # noqa: E731
    plays = spark.createDataFrame([
        ("u1", at(0), None, "Cake", None, "Jolene"), ("u1", at(5), None, "Cake", None, "Jolene"),
        ("u1", at(10), None, "Cake", None, "Jolene"),  # at the session's end: inside (inclusive)
        ("u1", at(3), None, "Abba", None, "SOS"), ("u1", at(4), None, "Abba", None, "SOS"),
        ("u1", at(7), None, "Abba", None, "SOS "),      # once, not the 2 the ranking says
        ("u1", at(40), None, "Abba", None, "Waterloo"),  # after the session
        ("u2", at(5), None, "Abba", None, "Waterloo"),   # another user's, not a top session
    ], PLAYS)
    top_sessions = spark.createDataFrame([(1, "u1", 1, "u1/1", at(0), at(10), 7, 0)], TOP_SESSIONS)
    expected = spark.createDataFrame([
        (1, "Cake", "Jolene", 3, True, True, True),
        (2, "Abba", "SOS ", 2, True, True, False),
        (3, "Abba", "SOS", 2, False, True, True),
        (4, "Abba", "Waterloo", 1, True, False, False),
    ], "rank int, artist_name string, track_name string, play_count long, in_order boolean, "
       "in_top_sessions boolean, count_matches boolean")
    checked = quality.checked_output(top, plays, top_sessions)
    assert_df_equality(checked, expected, ignore_row_order=True, ignore_nullable=True)

    assert sorted(quality.validate_output(checked)) == ["output.count_matches fails equal_to(True)",
                                                        "output.in_order fails equal_to(True)",
                                                        "output.in_top_sessions fails equal_to(True)"]
    unnamed = spark.createDataFrame([(1, None, "Jolene", 5, True, True, True)], checked.schema)
    assert quality.validate_output(unnamed) == ["output.artist_name fails not_null"]


def test_output_row_count_expectation():
    expectations = quality.output_expectations(CONFIG)  # M = 3
    check = lambda rows, songs: quality.validate_facts(  # noqa: E731
        "output", expectations, quality.output_facts(rows, songs, CONFIG))
    assert check(3, 10) == [] and check(2, 2) == []
    assert check(2, 10) == ["output.row_shortfall=1 fails equal_to(0)"]
    assert check(4, 10) == ["output.rows=4 fails less_than_or_equal_to(3)", "output.row_shortfall=-1 fails equal_to(0)"]


# The answer published for the real file (../shared/data/README.md, seven solutions), by hand.
PUBLISHED = [
    ("Cake", "Jolene", 1214),
    ("The Knife", "Heartbeats", 868),
    ("Jeff Buckley & Gary Lucas", "How Long Will It Take", 726),
    ("Broken Social Scene", "Anthems For A Seventeen Year Old Girl", 659),
    ("Elliott Smith", "St. Ides Heaven", 646),
    ("The Killers", "Bonus Track", 634),
    ("2Pac", "Starin' Through My Rear View", 617),
    ("The Rolling Stones", "Beast Of Burden", 613),
    ("Everclear", "The Swing", 604),
    ("Kanye West", "See You In My Nightmares", 536),
]


def test_known_answer_hashes_only_a_file_with_the_real_line_count():
    asked = []

    def md5():
        asked.append(1)
        return "64747b21563e3d2aa95751e0ddc46b68"  # the real file's MD5, as its fetch verifies it

    answer = [{"artist_name": a, "track_name": t, "play_count": n} for a, t, n in PUBLISHED]
    default = JobConfig("in.tsv", "o.tsv", "wh")
    assert (quality.known_answer_check(default, 1000, md5, answer)
            == {"checked": False, "reason": "input is not the real Last.fm 1K file"})
    assert asked == []
    assert (quality.known_answer_check(default, 19_150_868, md5, answer)
            == {"checked": True, "matches": True, "differences": []})
    wrong = [dict(answer[0], play_count=1215), *answer[1:]]
    result = quality.known_answer_check(default, 19_150_868, md5, wrong)
    assert result["matches"] is False and result["differences"] == [
        "#1 ('Cake', 'Jolene', 1215) != ('Cake', 'Jolene', 1214)"]
    other_file = quality.known_answer_check(default, 19_150_868, lambda: "0" * 32, answer)
    assert other_file["checked"] is False
    assert quality.known_answer_check(CONFIG, 19_150_868, md5, answer)["reason"] == "not the default question"


def test_reject_fraction_threshold_is_inclusive_and_warn_only_returns_the_failure():
    config = JobConfig("in.tsv", "o.tsv", "wh", max_reject_fraction=0.01)
    assert quality.check_reject_fraction(99, 1, config, "wh/rejects") == []  # exactly 1%: allowed
    with pytest.raises(DataQualityError, match=r"^2 of 100 lines rejected \(2.0000%\) in in.tsv, "
                                               r"above --max-reject-fraction 0.01 \(see wh/rejects\)$"):
        quality.check_reject_fraction(98, 2, config, "wh/rejects")
    (warning,) = quality.check_reject_fraction(
        98, 2, JobConfig("in.tsv", "o.tsv", "wh", max_reject_fraction=0.01, warn_only=True), "wh/rejects")
    assert warning.startswith("2 of 100 lines rejected")
    with pytest.raises(UsageError, match="no valid rows in input in.tsv: all 5 lines rejected"):
        quality.check_reject_fraction(0, 5, config, "wh/rejects")


def test_the_reject_fraction_leaves_out_the_files_an_operator_readmitted_as_they_are():
    config = JobConfig("in.tsv", "o.tsv", "wh", max_reject_fraction=0.01)
    # 99 + 1 lines admitted on their own, and a file of 30 valid and 40 rejected lines re-admitted
    assert quality.check_reject_fraction(129, 41, config, "wh/rejects", readmitted=(30, 40)) == []
    with pytest.raises(DataQualityError, match=r"^2 of 100 lines rejected \(2.0000%\) in in.tsv \(the files "
                                               r"re-admitted as they are aside\), above"):
        quality.check_reject_fraction(128, 42, config, "wh/rejects", readmitted=(30, 40))
    # only re-admitted lines: nothing left to judge; still no valid row at all is unusable
    assert quality.check_reject_fraction(30, 40, config, "wh/rejects", readmitted=(30, 40)) == []
    with pytest.raises(UsageError, match="no valid rows"):
        quality.check_reject_fraction(0, 40, config, "wh/rejects", readmitted=(0, 40))
