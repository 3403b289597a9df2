"""A profile of one run's data, from the Delta tables the job already wrote.

Every number is a Spark aggregation; only small results (one row, 24 hours, a few percentiles)
reach the driver. The plays table is read three times: the per-column counts and time range;
plays per UTC hour (the timestamp column only); the per-user counts and the duplicate count
(one shuffle).
Distinct counts per column are HyperLogLog estimates (`approx_count_distinct`, 1% relative
error): exact ones would cost one shuffle per column. Percentiles are `percentile_approx`
(accuracy 10,000): each is a value that occurs in the data.
"""

from datetime import datetime, timezone

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lastfm.schemas import (
    ARTIST_NAME,
    PLAY_COUNT,
    RAW_FIELDS,
    REASON,
    SESSION_END,
    SESSION_START,
    TRACK_NAME,
    TS,
    USER_ID,
)

TEXT_FIELDS = tuple(c for c in RAW_FIELDS if c != TS)
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}

# The `profile` Delta table: one row per metric, `metric` a dotted path into profile.json.
PROFILE = T.StructType([
    T.StructField("metric", T.StringType(), False),
    T.StructField("number", T.DoubleType(), True),
    T.StructField("text", T.StringType(), True),
])


def _iso(epoch_seconds: int | None) -> str | None:
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def column_profile(plays: DataFrame) -> dict:
    """Nulls, empties and ~distinct values per column, the time range and plays per UTC hour."""
    aggregates = []
    for c in RAW_FIELDS:
        aggregates += [
            F.count_if(F.col(c).isNull()).alias(f"{c}.nulls"),
            F.approx_count_distinct(c, 0.01).alias(f"{c}.distinct_approx"),
        ]
        if c in TEXT_FIELDS:
            aggregates.append(F.count_if(F.col(c) == "").alias(f"{c}.empty"))
    # epoch arithmetic, not hour()/date_format(): those follow the session time zone, the
    # profile is in UTC whatever it is
    seconds = F.unix_timestamp(TS)
    aggregates += [F.min(seconds).alias("first"), F.max(seconds).alias("last")]
    row = plays.agg(*aggregates).first().asDict()
    hour = F.floor(F.pmod(F.unix_timestamp(TS), 86_400) / 3_600).cast("int").alias("hour")
    by_hour = dict(plays.groupBy(hour).agg(F.count(F.lit(1))).collect())
    columns = {
        c: {k: row[f"{c}.{k}"] for k in ("nulls", "empty", "distinct_approx") if f"{c}.{k}" in row}
        for c in RAW_FIELDS
    }
    return {
        "columns": columns,
        "time_range": {"first": _iso(row["first"]), "last": _iso(row["last"])},
        "plays_by_hour_utc": [by_hour.get(h, 0) for h in range(24)],
    }


def user_profile(plays: DataFrame) -> dict:
    """Users, plays per user (min, median, p99, max), the heaviest listener (ties: lowest id)
    and the duplicate plays: rows beyond the first of each (user, timestamp, artist name, track
    name), counted and kept.

    One shuffle: plays are grouped by (user, timestamp, 64-bit hash of the two names), which
    both finds the duplicates and, summed per user, gives plays per user. A hash collision
    between two songs of one user in one second is negligible.
    """
    same_play = plays.groupBy(USER_ID, TS, F.xxhash64(ARTIST_NAME, TRACK_NAME)).agg(F.count(F.lit(1)).alias("n"))
    per_user = same_play.groupBy(USER_ID).agg(F.sum("n").alias(PLAY_COUNT), F.sum(F.col("n") - 1).alias("extra"))
    stats = per_user.agg(
        F.count(F.lit(1)).alias("users"),
        F.min(PLAY_COUNT).alias("min"),
        F.percentile_approx(PLAY_COUNT, [0.5, 0.99], 10_000).alias("pct"),
        F.max(PLAY_COUNT).alias("max"),
        F.min(F.struct(-F.col(PLAY_COUNT), F.col(USER_ID))).alias("heaviest"),  # most plays, then lowest id
        F.sum("extra").alias("duplicates"),
    ).first()
    median, p99 = stats["pct"] or (None, None)
    heaviest = stats["heaviest"]
    return {
        "users": stats["users"],
        "plays_per_user": {"min": stats["min"], "median": median, "p99": p99, "max": stats["max"]},
        "heaviest_listener": {"user_id": heaviest[1], "plays": -heaviest[0]} if heaviest else None,
        "duplicate_plays": stats["duplicates"] or 0,
    }


def rejects_by_reason(rejects: DataFrame) -> dict:
    return {r[REASON]: r["n"] for r in rejects.groupBy(REASON).agg(F.count(F.lit(1)).alias("n")).collect()}


def session_profile(sessions: DataFrame) -> dict:
    """Session count and percentiles of session length (plays) and duration (minutes)."""
    minutes = (F.unix_timestamp(SESSION_END) - F.unix_timestamp(SESSION_START)) / 60
    levels = list(PERCENTILES.values())
    row = sessions.agg(
        F.count(F.lit(1)).alias("count"),
        F.percentile_approx(PLAY_COUNT, levels, 10_000).alias("plays"),
        F.max(PLAY_COUNT).alias("max_plays"),
        F.percentile_approx(minutes, levels, 10_000).alias("minutes"),
        F.max(minutes).alias("max_minutes"),
    ).first()
    named = lambda values: dict(zip(PERCENTILES, values or [None] * len(levels)))  # noqa: E731
    return {
        "count": row["count"],
        "length_plays": {**named(row["plays"]), "max": row["max_plays"]},
        "duration_minutes": {**named(row["minutes"]), "max": row["max_minutes"]},
    }


def session_length_histogram(sessions: DataFrame) -> list[tuple[int, int]]:
    """(session length in plays, number of sessions) for every length that occurs."""
    counts = sessions.groupBy(PLAY_COUNT).agg(F.count(F.lit(1)).alias("sessions")).orderBy(PLAY_COUNT)
    return [(r[PLAY_COUNT], r["sessions"]) for r in counts.collect()]


def input_profile(plays: DataFrame, rejects: DataFrame, rows_valid: int, rows_rejected: int) -> dict:
    """Everything about the input: the part of the profile the input expectations judge."""
    return {
        "rows": {"read": rows_valid + rows_rejected, "valid": rows_valid, "rejected": rows_rejected,
                 "rejected_by_reason": rejects_by_reason(rejects)},
        **column_profile(plays),
        **user_profile(plays),
    }


def flatten(profile: dict, prefix: str = "") -> list[tuple[str, float | None, str | None]]:
    """A nested profile as `profile` table rows: (dotted metric, number, text)."""
    rows = []
    for key, value in profile.items():
        metric = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, f"{metric}.")
        elif isinstance(value, list):
            rows += flatten({str(i): v for i, v in enumerate(value)}, f"{metric}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((metric, float(value), None))
        else:
            rows.append((metric, None, None if value is None else str(value)))
    return rows
