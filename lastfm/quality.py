"""What the job expects of its input and its output, and the checks that say so.

Two tools, each where it fits:
- Delta CHECK constraints (TABLE_CONSTRAINTS) for invariants the job guarantees by construction
  (a play has a user and a time; a session has plays). Delta enforces them inside every write,
  at no extra cost, and keeps them with the table for any later writer; a violation is a bug,
  so it always fails the run, `--warn-only` or not.
- pandera for what depends on the data: its PySpark API for the plays table's six-column
  schema (schema-only, no scan); its pandas API for the small frames the job already has on the
  driver: one row of input facts taken from the profile (time range, reject and duplicate
  fractions, users), the deliverable's rows with their order and membership flags (at most M
  rows) and its row count. (pandera's PySpark API runs each check as a Spark job: ~30 jobs,
  ~17 s a run for a handful of values, measured.)
A failed expectation raises DataQualityError (exit 3) with one line naming every failure, or,
with `--warn-only`, is logged and returned for the run summary.
"""

import logging
from datetime import datetime, timezone

import pandas as pd
import pandera.pandas as pa
import pandera.pyspark as pa_spark
from pandera.config import ValidationDepth, config_context
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lastfm.config import JobConfig
from lastfm.errors import DataQualityError
from lastfm.schemas import ARTIST_NAME, PLAY_COUNT, PLAYS, RANK, TRACK_NAME

log = logging.getLogger(__name__)

# Delta CHECK constraints per table, set in the same commit as each write (writing.write_table).
# Expressed as CHECKs, NOT NULL included: an overwrite with overwriteSchema replaces the column
# nullability flags, but keeps the table's constraints.
TABLE_CONSTRAINTS = {
    "plays": {"user_id_present": "user_id IS NOT NULL AND user_id <> ''", "ts_present": "ts IS NOT NULL"},
    "rejects": {"reason_present": "reason IS NOT NULL"},
    "sessions": {
        "plays_positive": "play_count > 0",
        "ends_after_start": "session_end >= session_start",
        "number_positive": "session_number >= 1",
    },
    "top_sessions": {"rank_positive": "rank >= 1", "plays_positive": "play_count > 0"},
    "top_tracks": {"rank_positive": "rank >= 1", "plays_positive": "play_count > 0"},
    "profile": {"metric_present": "metric IS NOT NULL"},
}

TIMESTAMP = pd.DatetimeTZDtype("ns", "UTC")

# Audioscrobbler, Last.fm's scrobbling service, started in 2002: an earlier play is a bad clock.
EARLIEST_PLAY = datetime(2002, 1, 1, tzinfo=timezone.utc)

# The real file: 19,150,868 lines and this MD5 (lastfm/dataset.py); the answer published for it
# by seven independent solutions (see the README), for the default question only.
REAL_FILE_LINES = 19_150_868
REAL_FILE_MD5 = "64747b21563e3d2aa95751e0ddc46b68"
KNOWN_ANSWER = (
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
)
KNOWN_ANSWER_QUESTION = {"session_gap_minutes": 20, "top_sessions": 50, "top_tracks": 10}


class PlaysSchema(pa_spark.DataFrameModel):
    """The plays table: exactly the six raw fields, typed."""

    user_id: T.StringType() = pa_spark.Field()
    ts: T.TimestampType() = pa_spark.Field()
    artist_id: T.StringType() = pa_spark.Field(nullable=True)
    artist_name: T.StringType() = pa_spark.Field(nullable=True)
    track_id: T.StringType() = pa_spark.Field(nullable=True)
    track_name: T.StringType() = pa_spark.Field(nullable=True)

    class Config:
        strict = True  # a seventh column, or a missing one, fails


assert tuple(PlaysSchema.to_schema().columns) == tuple(PLAYS.fieldNames())

def input_facts(profile: dict) -> dict:
    """The numbers the input expectations judge, taken from a profile (profiling.py)."""
    rows = profile["rows"]
    return {
        "rows_valid": rows["valid"],
        "users": profile["users"],
        "reject_fraction": rows["rejected"] / rows["read"] if rows["read"] else 0.0,
        "duplicate_fraction": profile["duplicate_plays"] / rows["valid"] if rows["valid"] else 0.0,
        "first_play": _instant(profile["time_range"]["first"]),
        "last_play": _instant(profile["time_range"]["last"]),
    }


def _instant(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def input_expectations(config: JobConfig, now: datetime) -> pa.DataFrameSchema:
    """The input facts must show a usable input: valid rows and users, at most the allowed
    fractions of rejected and duplicated rows, and every play between 2002 and `now`."""
    return pa.DataFrameSchema(
        {
            "rows_valid": pa.Column(int, pa.Check.gt(0)),
            "users": pa.Column(int, pa.Check.gt(0)),
            "reject_fraction": pa.Column(float, pa.Check.le(config.max_reject_fraction)),
            "duplicate_fraction": pa.Column(float, pa.Check.le(config.max_duplicate_fraction)),
            "first_play": pa.Column(TIMESTAMP, pa.Check.ge(EARLIEST_PLAY)),
            "last_play": pa.Column(TIMESTAMP, pa.Check.le(now)),
        },
        name="input",
        strict=True,
    )


def output_expectations(config: JobConfig) -> tuple[pa.DataFrameSchema, pa.DataFrameSchema]:
    """(schema for the checked rows of `checked_output`, schema for its one-row facts)."""
    rows = pa.DataFrameSchema(
        {
            RANK: pa.Column("int32", pa.Check.ge(1)),  # IntegerType
            ARTIST_NAME: pa.Column(str),
            TRACK_NAME: pa.Column(str),
            PLAY_COUNT: pa.Column(int, pa.Check.gt(0)),
            "in_order": pa.Column(bool, pa.Check.eq(True)),
            "in_top_sessions": pa.Column(bool, pa.Check.eq(True)),
        },
        name="output",
        strict=True,
    )
    facts = pa.DataFrameSchema(
        {
            "rows": pa.Column(int, pa.Check.le(config.top_tracks)),
            # fewer than M rows only when the top sessions hold fewer than M songs
            "row_shortfall": pa.Column(int, pa.Check.eq(0)),
        },
        name="output",
        strict=True,
    )
    return rows, facts


def checked_output(top_tracks: DataFrame, plays_in_top_sessions: DataFrame) -> DataFrame:
    """The top_tracks rows plus `in_order` (each row ranks after the one before under the
    documented order: play_count desc, artist_name asc, track_name asc) and `in_top_sessions`
    (the song is played in one of the top sessions: a row of `plays_in_top_sessions`, plays or
    song play counts)."""
    by_rank = Window.orderBy(RANK)
    before = lambda c: F.lag(c).over(by_rank)  # noqa: E731
    follows = (
        (before(PLAY_COUNT) > F.col(PLAY_COUNT))
        | ((before(PLAY_COUNT) == F.col(PLAY_COUNT)) & (before(ARTIST_NAME) < F.col(ARTIST_NAME)))
        | ((before(PLAY_COUNT) == F.col(PLAY_COUNT)) & (before(ARTIST_NAME) == F.col(ARTIST_NAME))
           & (before(TRACK_NAME) < F.col(TRACK_NAME)))
    )
    songs = plays_in_top_sessions.select(ARTIST_NAME, TRACK_NAME).distinct().withColumn("in_top_sessions", F.lit(True))
    return (
        top_tracks.select(RANK, ARTIST_NAME, TRACK_NAME, PLAY_COUNT)
        .withColumn("in_order", F.coalesce(follows, F.row_number().over(by_rank) == 1))
        .join(F.broadcast(songs), [ARTIST_NAME, TRACK_NAME], "left")
        .select(RANK, ARTIST_NAME, TRACK_NAME, PLAY_COUNT, "in_order",
                F.coalesce("in_top_sessions", F.lit(False)).alias("in_top_sessions"))
    )


def output_facts(rows: int, songs_in_top_sessions: int, config: JobConfig) -> dict:
    return {"rows": rows, "row_shortfall": min(config.top_tracks, songs_in_top_sessions) - rows}


def failures(schema: pa.DataFrameSchema, frame: pd.DataFrame, facts: dict | None = None) -> list[str]:
    """Validate the pandas `frame` with `schema`; one short text per failed check (empty when
    all pass), with the value from `facts` when the frame is one row of facts."""
    try:
        schema.validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    found = []
    for case in cases.drop_duplicates(["column", "check"]).itertuples():
        if case.check == "column_in_schema":  # strict: the failure case names the column
            found.append(f"{schema.name}: column '{case.failure_case}' not in DataFrameSchema")
            continue
        value = f"={_show(facts[case.column])}" if facts and case.column in facts else ""
        found.append(f"{schema.name}.{case.column}{value} fails {case.check}")
    return found


def _show(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else f"{value:.6g}" if isinstance(value, float) else str(value)


def validate_facts(schema: pa.DataFrameSchema, facts: dict) -> list[str]:
    """Validate one row of named values (input or output facts) with `schema`."""
    return failures(schema, pd.DataFrame([facts]), facts=facts)


def validate_output(schema: pa.DataFrameSchema, checked: DataFrame) -> list[str]:
    """Validate the rows of `checked_output` (at most M: collected) with `schema`."""
    return failures(schema, checked.toPandas())


def validate_plays_schema(plays: DataFrame) -> list[str]:
    """The plays table's columns and types, with pandera's PySpark API (schema only: no scan)."""
    with config_context(validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_ONLY):
        errors = PlaysSchema.to_schema().validate(plays).pandera.errors
    found = []
    for by_type in errors.values():
        for reports in by_type.values():
            for report in reports:
                column, check = report.get("column"), report.get("check")
                table = report.get("schema") or "PlaysSchema"
                if check == "column_in_schema":  # strict: `column` is the table, the error names the column
                    found.append(f"{table}: {str(report.get('error')).split(' {', 1)[0]}")
                    continue
                found.append(f"{table}.{column} fails {check}")
    return found


def enforce(found: list[str], what: str, warn_only: bool) -> list[str]:
    """Raise DataQualityError listing `found`, or with `warn_only` log them; return them."""
    if found and not warn_only:
        raise DataQualityError(f"{what} expectations failed: {'; '.join(found)}")
    for failure in found:
        log.warning("%s expectation failed (--warn-only): %s", what, failure)
    return found


def is_real_file(rows_read: int, md5) -> bool:
    """True for the real Last.fm 1K file. The line count (free: the job counts lines) is checked
    first, so the MD5 (`md5()`, which may hash the whole file) is only asked for a likely match."""
    return rows_read == REAL_FILE_LINES and md5() == REAL_FILE_MD5


def known_answer_check(config: JobConfig, rows_read: int, md5, top_rows: list[dict]) -> dict:
    """Compare the answer with the published one when the input is the real file."""
    question = {name: getattr(config, name) for name in KNOWN_ANSWER_QUESTION}
    if question != KNOWN_ANSWER_QUESTION:
        return {"checked": False, "reason": "not the default question"}
    if not is_real_file(rows_read, md5):
        return {"checked": False, "reason": "input is not the real Last.fm 1K file"}
    got = tuple((r[ARTIST_NAME], r[TRACK_NAME], r[PLAY_COUNT]) for r in top_rows)
    wrong = [f"#{i + 1} {g} != {k}" for i, (g, k) in enumerate(zip(got, KNOWN_ANSWER)) if g != k]
    if len(got) != len(KNOWN_ANSWER):
        wrong.append(f"{len(got)} rows != {len(KNOWN_ANSWER)}")
    return {"checked": True, "matches": not wrong, "differences": wrong}
