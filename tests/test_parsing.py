from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import StringType, StructField, StructType

from lastfm import compat, ingest
from lastfm.question import parsing
from lastfm.question.parsing import (
    BAD_TIMESTAMP,
    EMPTY_USER_ID,
    PARSE_VERSION,
    WRONG_FIELD_COUNT,
    parse_lines,
    rejected_lines,
    valid_plays,
)
from lastfm.schemas import REJECTED_LINES as REJECTS
from lastfm.schemas import TYPED_PLAYS as PLAYS
from lastfm.storage.reading import read_lines
from lastfm.testing.versions import code_digest

LINES = StructType([StructField("value", StringType())])


def lines(spark, *values):
    return spark.createDataFrame([(v,) for v in values], LINES)


@pytest.mark.usefixtures("ansi_mode")
def test_valid_line_is_typed_and_empty_mbids_become_null(spark):
    parsed = lines(
        spark,
        "user_000001\t2009-05-04T23:08:57Z\tf1b1cf71-bd35-4e99-8624-24a6e15f133a\tDeep Dish\t\tFuck Me Im Famous",
        "user_000001\t2009-05-04T13:54:10Z\t\tCake\t6e1d48f9-e0b9-4b3d-9b74-2a9cb2d1c8a6\tJolene",
    ).transform(parse_lines)
    expected = spark.createDataFrame(
        [
            ("user_000001", datetime(2009, 5, 4, 23, 8, 57), "f1b1cf71-bd35-4e99-8624-24a6e15f133a", "Deep Dish", None,
             "Fuck Me Im Famous"),
            ("user_000001", datetime(2009, 5, 4, 13, 54, 10), None, "Cake", "6e1d48f9-e0b9-4b3d-9b74-2a9cb2d1c8a6",
             "Jolene"),
        ],
        PLAYS,
    )
    assert_df_equality(valid_plays(parsed), expected, ignore_row_order=True, ignore_nullable=True)
    assert rejected_lines(parsed).count() == 0


def test_quotes_and_non_latin_names_are_kept_verbatim(spark):
    parsed = lines(
        spark,
        'user_000001\t2008-01-01T00:00:00Z\t\tJohnny "Hammond" Smith\t\t"Heroes"',
        "user_000002\t2008-01-01T00:00:00Z\t\t坂本龍一\t\tКино",
    ).transform(parse_lines)
    names = {(r.artist_name, r.track_name) for r in valid_plays(parsed).collect()}
    assert names == {('Johnny "Hammond" Smith', '"Heroes"'), ("坂本龍一", "Кино")}


def test_lf_crlf_and_lone_cr_line_ends_all_read_from_a_file(spark, tmp_path):
    # the whole path, reader included: no line keeps a CR, none is lost or empty
    play = "user_000001\t2008-01-01T00:00:0{}Z\t\tCake\t\tJolene"
    (tmp_path / "mixed.tsv").write_bytes((play.format(1) + "\r\n" + play.format(2) + "\r" + play.format(3) + "\n"
                                          + play.format(4) + "\r").encode())
    parsed = read_lines(spark, str(tmp_path / "mixed.tsv")).transform(parse_lines)
    assert rejected_lines(parsed).count() == 0
    plays = valid_plays(parsed).orderBy("ts").collect()
    assert [(p.ts.second, p.track_name) for p in plays] == [(1, "Jolene"), (2, "Jolene"), (3, "Jolene"), (4, "Jolene")]


@pytest.mark.usefixtures("ansi_mode")
def test_each_reject_reason(spark):
    raw = [
        "user_000001\t2008-01-01T00:00:00Z\t\tCake\tJolene",  # five fields
        "user_000001\t2008-01-01T00:00:00Z\t\tCake\t\tJolene\textra",  # seven fields
        "",  # blank line
        "\t2008-01-01T00:00:00Z\t\tCake\t\tJolene",
        "user_000001\t2008-02-30T00:00:00Z\t\tCake\t\tJolene",  # no such day
        "user_000001\t2008-01-01 00:00:00\t\tCake\t\tJolene",  # wrong shape
        "user_000001\t2008-01-01T00:00:00+01:00\t\tCake\t\tJolene",  # not Z
        "user_000001\t\t\tCake\t\tJolene",
    ]
    expected = spark.createDataFrame(
        [
            (raw[0], WRONG_FIELD_COUNT),
            (raw[1], WRONG_FIELD_COUNT),
            (raw[2], WRONG_FIELD_COUNT),
            (raw[3], EMPTY_USER_ID),
            (raw[4], BAD_TIMESTAMP),
            (raw[5], BAD_TIMESTAMP),
            (raw[6], BAD_TIMESTAMP),
            (raw[7], BAD_TIMESTAMP),
        ],
        REJECTS,
    )
    parsed = lines(spark, *raw).transform(parse_lines)
    assert_df_equality(rejected_lines(parsed), expected, ignore_row_order=True, ignore_nullable=True)
    assert valid_plays(parsed).count() == 0


def test_timestamp_is_the_utc_instant_whatever_the_session_time_zone(spark):
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        parsed = lines(spark, "user_000001\t2009-03-08T06:59:00Z\t\tA\t\tB").transform(parse_lines)
        (row,) = valid_plays(parsed).selectExpr("unix_timestamp(ts) AS seconds").collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert row.seconds == 1236495540  # date -u -d 2009-03-08T06:59:00Z +%s


@pytest.mark.usefixtures("ansi_mode")
def test_only_real_utc_instants_are_valid(spark):
    # seconds since the epoch from `date -u -d ... +%s`; None: no such instant
    expected = {
        "2008-02-29T00:00:00Z": 1204243200,  # leap day
        "2009-02-29T00:00:00Z": None,
        "2008-04-31T00:00:00Z": None,
        "2008-13-01T00:00:00Z": None,
        "2008-00-01T00:00:00Z": None,
        "2008-01-00T00:00:00Z": None,
        "2008-01-01T24:00:00Z": None,
        "2008-01-01T23:60:00Z": None,
        "2008-01-01T23:59:60Z": None,  # no leap seconds
        "2008-12-31T23:59:59Z": 1230767999,
        "1970-01-01T00:00:00Z": 0,
    }
    raw = [f"user_000001\t{stamp}\t\tA\t\tB" for stamp in expected]
    spark.conf.set("spark.sql.session.timeZone", "Asia/Kolkata")
    try:
        parsed = lines(spark, *raw).transform(parse_lines)
        rows = parsed.selectExpr("unix_timestamp(ts) AS seconds", "reason").collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert [r.seconds for r in rows] == list(expected.values())
    assert [r.reason for r in rows] == [None if s is not None else BAD_TIMESTAMP for s in expected.values()]


# (PARSE_VERSION, the digest of the code it covers), pinned: lastfm/testing/versions.py
PARSE_PIN = (1, "fd1919404db8f13c")


def test_the_parse_version_is_bumped_with_the_parse():
    digest = code_digest("PARSE_VERSION", parsing, compat.valid_utf8, ingest.lines_of, ingest.parse_files)
    assert (PARSE_VERSION, digest) == PARSE_PIN, (
        "the parse's code changed (lastfm/question/parsing.py, compat.valid_utf8, ingest.lines_of, "
        "ingest.parse_files): bump PARSE_VERSION if the change can change the rows a line gives (a full run then "
        f"parses every file again), and pin ({PARSE_VERSION}, {digest!r}) as PARSE_PIN")
