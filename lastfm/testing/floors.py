"""The benchmark's floors (scripts/spark_bare.py, scripts/spark_bare_increment.py): the job's
transforms with nothing else around them, to tell what the job's design adds from what Spark
itself costs for the question here. Not ways to run the job: nothing here ships to a cluster."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lastfm import schemas
from lastfm.question.parsing import parse_lines, valid_plays
from lastfm.question.rankings import plays_in_sessions, top_sessions, top_tracks
from lastfm.question.session_update import merged_sessions
from lastfm.question.sessions import build_sessions
from lastfm.schemas import (
    BATCH,
    DUPLICATE_PLAYS,
    OUTPUT_COLUMNS,
    PLAY_COUNT,
    RANK,
    SESSION_END,
    SESSION_START,
    TS,
    USER_ID,
)
from lastfm.storage import record as files_record
from lastfm.storage.reading import read_lines, read_table
from lastfm.storage.writing import write_table


def bare_top_tracks(spark: SparkSession, input_uri: str, gap_seconds: int, sessions: int, tracks: int) -> list[dict]:
    """The job's answer from its transforms alone, as OUTPUT_COLUMNS dicts in rank order: no
    table written, no rejects, checks or profile; the input is parsed twice (for the sessions,
    then for their songs). What Spark itself costs for the question, for the benchmark
    (scripts/spark_bare.py); not a way to run the job."""
    plays = valid_plays(read_lines(spark, input_uri).transform(parse_lines))
    longest = plays.transform(build_sessions(gap_seconds)).transform(top_sessions(sessions))
    longest = spark.createDataFrame(longest.collect(), longest.schema)  # N rows, kept rather than recomputed
    ranked = plays.transform(plays_in_sessions(longest)).transform(top_tracks(tracks))
    return [row.asDict() for row in ranked.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]


def bare_increment(spark: SparkSession, day_uri: str, warehouse: str, gap_seconds: int, sessions: int,
                   tracks: int) -> list[dict]:
    """The least an incremental run can do here, for the benchmark's floor
    (scripts/spark_bare_increment.py); not a way to run the job. On a warehouse the job built: read
    the record of files, append one day's file to `plays`, merge
    `sessions` with the day's plays and write it whole in one commit, then the longest sessions and
    their songs, as OUTPUT_COLUMNS dicts in rank order. Nothing else: no ledger bookkeeping, rejects,
    checks, profile, report, runs row or small tables, and no look at older plays for a day's play
    repeating one at the same second (so `duplicate_plays` may come out low; sessions, play counts and
    the answer are right). The sessions and the day's plays merged as the job's update merges them
    (session_update.merged_sessions), for every user."""
    plays_uri, sessions_uri = f"{warehouse.rstrip('/')}/plays", f"{warehouse.rstrip('/')}/sessions"
    files_record.read_record(spark, f"{warehouse.rstrip('/')}/files")
    day = valid_plays(read_lines(spark, day_uri).transform(parse_lines)).cache()
    write_table(day.withColumns({schemas.SOURCE_FILE: F.lit(day_uri), BATCH: F.lit(-1).cast("long")}), plays_uri,
                append=True)
    pieces = (read_table(spark, sessions_uri).select(USER_ID, SESSION_START, SESSION_END, PLAY_COUNT, DUPLICATE_PLAYS)
              .unionByName(day.select(USER_ID, F.col(TS).alias(SESSION_START), F.col(TS).alias(SESSION_END),
                                      F.lit(1).cast("long").alias(PLAY_COUNT),
                                      F.lit(0).cast("long").alias(DUPLICATE_PLAYS))))
    merged = merged_sessions(pieces, gap_seconds, F.lit(1))
    write_table(merged, sessions_uri)
    longest = read_table(spark, sessions_uri).transform(top_sessions(sessions)).cache()
    ranked = read_table(spark, plays_uri).transform(plays_in_sessions(longest)).transform(top_tracks(tracks))
    return [row.asDict() for row in ranked.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]
