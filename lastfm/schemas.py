"""Column names and schemas of every table the job reads or writes."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# The raw file: six tab-separated fields, no header, no quoting.
USER_ID = "user_id"
TS = "ts"
ARTIST_ID = "artist_id"
ARTIST_NAME = "artist_name"
TRACK_ID = "track_id"
TRACK_NAME = "track_name"
RAW_FIELDS = (USER_ID, TS, ARTIST_ID, ARTIST_NAME, TRACK_ID, TRACK_NAME)

# Rejects: the line as read and why it was refused.
LINE = "line"
REASON = "reason"

# Sessions and rankings.
SESSION_ID = "session_id"
SESSION_NUMBER = "session_number"
SESSION_START = "session_start"
SESSION_END = "session_end"
PLAY_COUNT = "play_count"
DUPLICATE_PLAYS = "duplicate_plays"
RANK = "rank"

PLAYS = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(TS, TimestampType(), False),
        StructField(ARTIST_ID, StringType(), True),
        StructField(ARTIST_NAME, StringType(), True),
        StructField(TRACK_ID, StringType(), True),
        StructField(TRACK_NAME, StringType(), True),
    ]
)

REJECTS = StructType(
    [
        StructField(LINE, StringType(), True),
        StructField(REASON, StringType(), False),
    ]
)

SESSIONS = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(SESSION_NUMBER, IntegerType(), False),
        StructField(SESSION_ID, StringType(), False),
        StructField(SESSION_START, TimestampType(), False),
        StructField(SESSION_END, TimestampType(), False),
        StructField(PLAY_COUNT, LongType(), False),
        # plays repeating an earlier play of the session: same second, same artist and track name
        StructField(DUPLICATE_PLAYS, LongType(), False),
    ]
)

TOP_SESSIONS = StructType([StructField(RANK, IntegerType(), False), *SESSIONS.fields])

TOP_TRACKS = StructType(
    [
        StructField(RANK, IntegerType(), False),
        StructField(ARTIST_NAME, StringType(), True),
        StructField(TRACK_NAME, StringType(), True),
        StructField(PLAY_COUNT, LongType(), False),
    ]
)

# The deliverable's header, in order.
OUTPUT_COLUMNS = (ARTIST_NAME, TRACK_NAME, PLAY_COUNT)

# The `runs` table: one row per run, appended when it ends (succeeded or failed).
RUNS = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("mode", StringType(), False),  # full, incremental or as_of
        StructField("started_at", TimestampType(), False),
        StructField("ended_at", TimestampType(), False),
        StructField("status", StringType(), False),  # succeeded, nothing_new or failed
        StructField("error", StringType(), True),  # the one line the run ended with
        StructField("input_files_ingested", ArrayType(StringType(), False), False),
        StructField("rows_added", LongType(), False),  # valid plays + rejected lines ingested
        StructField("table_versions", MapType(StringType(), LongType(), False), False),  # the versions it wrote
        StructField("config", StringType(), False),  # the run's options, JSON
    ]
)
