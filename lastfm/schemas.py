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
# Where a row came from: the input file (its full URI) and the batch that ingested it (the record
# of files, storage/record.py). They make the record of what `plays` holds data, not history.
SOURCE_FILE = "source_file"
BATCH = "batch"

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

# A valid line's six typed fields (parsing.valid_plays).
TYPED_PLAYS = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(TS, TimestampType(), False),
        StructField(ARTIST_ID, StringType(), True),
        StructField(ARTIST_NAME, StringType(), True),
        StructField(TRACK_ID, StringType(), True),
        StructField(TRACK_NAME, StringType(), True),
    ]
)
# A refused line as read, and why (parsing.rejected_lines).
REJECTED_LINES = StructType(
    [
        StructField(LINE, StringType(), True),
        StructField(REASON, StringType(), False),
    ]
)
_FROM = [StructField(SOURCE_FILE, StringType(), False), StructField(BATCH, LongType(), False)]
# The tables: each row with where it came from.
PLAYS = StructType([*TYPED_PLAYS.fields, *_FROM])
REJECTS = StructType([*REJECTED_LINES.fields, *_FROM])

# Quarantine: every line of a file the per-file checks refused (quality/admission.py), kept aside
# for inspection; the record of files says why.
QUARANTINE = StructType(
    [
        StructField(LINE, StringType(), True),
        StructField(SOURCE_FILE, StringType(), False),
        StructField(BATCH, LongType(), False),
    ]
)

# The record of files (storage/record.py): one row per file per event, appended; the latest row
# of a path (highest `seq`) is its state.
FILES = StructType(
    [
        StructField("path", StringType(), False),
        StructField("size", LongType(), False),
        StructField("modified", LongType(), False),  # modification time, ms since the epoch
        StructField("seq", LongType(), False),  # 2 * batch for the claim, 2 * batch + 1 for the outcome
        StructField(BATCH, LongType(), False),  # the batch that claimed it
        StructField("status", StringType(), False),  # record.STATUSES
        StructField("reason", StringType(), True),  # why it was refused, or what it duplicates
        StructField("plays_batch", LongType(), True),  # the batch whose rows of it `plays` holds, if any
        StructField("content_id", StringType(), True),  # of the content counted (admission.content_id)
        StructField("lines", LongType(), True),
        StructField("plays", LongType(), True),
        StructField("rejected", LongType(), True),
        StructField("repeated", LongType(), True),  # valid plays repeating a play held before it
        StructField("future", LongType(), True),  # valid plays after the run's start
        StructField("parse_version", IntegerType(), True),
        StructField("profile", StringType(), True),  # the input profile of the file, JSON
        StructField("sketches", StringType(), True),  # its distinct-name sketches, JSON
        StructField("run_id", StringType(), False),
        StructField("recorded_at", TimestampType(), False),
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

# The `sessions` table: the sessions, and what says what the table holds, committed with the rows
# it describes (sessions_stage.stored_state): the batch of the run that wrote each row, and the
# rules (sessions.rules) they were built by.
RULES = "rules"
SESSIONS_TABLE = StructType([*SESSIONS.fields, StructField(BATCH, LongType(), False),
                             StructField(RULES, StringType(), False)])

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
        StructField("status", StringType(), False),  # bookkeeping.STATUSES
        StructField("error", StringType(), True),  # the one line the run ended with
        StructField("input_files_ingested", ArrayType(StringType(), False), False),
        StructField("rows_added", LongType(), False),  # valid plays + rejected lines ingested
        # the versions it wrote, and those of `top_sessions` and `top_tracks` whose answer it kept
        StructField("table_versions", MapType(StringType(), LongType(), False), False),
        StructField("config", StringType(), False),  # the run's options, JSON
        StructField(BATCH, LongType(), True),  # the batch of the record the run answered from
        StructField("input_files_duplicate", ArrayType(StringType(), False), True),  # re-deliveries skipped
        StructField("input_files_quarantined", ArrayType(StringType(), False), True),  # refused by this run
        StructField("quarantine_unresolved", ArrayType(StringType(), False), True),  # every file still refused
        # what `sessions` holds after the run: the plays of batches up to `sessions_batch`, built by
        # the rules `sessions_rules` (sessions.rules); "" while a rebuild is under way
        StructField("sessions_batch", LongType(), True),
        StructField("sessions_rules", StringType(), True),
        # a finished run's summary (run_summary.json's object, JSON) and the sha256 of the
        # deliverable it wrote: what "nothing new" and a replay over the output are decided by
        StructField("summary", StringType(), True),
        StructField("output_sha256", StringType(), True),
        # the profile of the input and the sessions the run answered from (profile.json's object,
        # JSON): each run's, in the row that says what the run was (no table of its own to commit)
        StructField("profile", StringType(), True),
    ]
)
