"""A profile of one run's data, computed where the job already passes over it.

- The input profile (rows read, valid and rejected by reason; per column nulls and empties;
  ~distinct artist and track names; the time range and the plays per UTC hour) of each input
  file comes from one aggregate per batch, grouped by file (`input_metrics`), over the parsed
  rows the batch holds in memory for its per-file checks (ingest.py): no extra pass over the
  input. Each file's profile and sketches are kept in the record of files, and the profile of
  the warehouse is the combination of its counted files' (`combine`).
- Users, plays per user, the heaviest listener and the duplicate plays come from the sessions
  table (one row per session, which counts its plays and duplicate plays).
- Session lengths and durations come from the sessions table as well.
Only small results (one row, a few percentiles) reach the driver.
Distinct artist and track names are HyperLogLog estimates (`hll_sketch_agg`, Apache DataSketches,
lgConfigK 12: ~1.6% relative error): exact ones would cost one shuffle per column. The sketches
themselves are kept per file, so the profile of a warehouse unions its files' sketches
(`distinct_estimates`) and gets the estimate a single sketch of all its files would get.
Percentiles are `percentile_approx` (accuracy 10,000): each is a value that occurs in the data.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lastfm.question.parsing import REJECT_REASONS
from lastfm.schemas import (
    ARTIST_NAME,
    DUPLICATE_PLAYS,
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


def _iso(epoch_seconds: int | None) -> str | None:
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# HyperLogLog sketches cost ~1.4 s of CPU per column per million lines when observed (measured):
# distinct values are estimated for the names only (users are counted exactly from the sessions).
DISTINCT_FIELDS = (ARTIST_NAME, TRACK_NAME)
SKETCH_SIZE = 12  # lgConfigK: 2^12 buckets, ~2 KB per sketch
HOUR = "_hour"


def input_metrics(parsed: DataFrame) -> list:
    """The aggregates over `parsed` (parsing.parse_lines, with `with_hour`) that `input_profile`
    turns into an input profile: of a whole input, or, grouped, of each file."""
    valid = F.col(REASON).isNull()
    metrics = [F.count(F.lit(1)).alias("read"), F.count_if(F.col(REPLACED)).alias("replacement_characters")]
    metrics += [F.count_if(F.col(REASON) == reason).alias(f"rejected.{reason}") for reason in REJECT_REASONS]
    for c in RAW_FIELDS:
        metrics.append(F.count_if(valid & F.col(c).isNull()).alias(f"{c}.nulls"))
        if c in TEXT_FIELDS:
            metrics.append(F.count_if(valid & (F.col(c) == "")).alias(f"{c}.empty"))
        if c in DISTINCT_FIELDS:
            # prefixed: a DataSketches sketch ignores the empty string, which is a name here
            metrics.append(F.hll_sketch_agg(F.when(valid, F.concat(F.lit("="), c)), SKETCH_SIZE).alias(f"{c}.sketch"))
    seconds = F.when(valid, F.unix_timestamp(TS))
    metrics += [F.min(seconds).alias("first"), F.max(seconds).alias("last")]
    metrics += [F.count_if(valid & (F.col(HOUR) == h)).alias(f"hour.{h}") for h in range(24)]
    return metrics


# Spark's text reader passes bytes that are not UTF-8 through; the parse replaces them with U+FFFD
# (compat.valid_utf8) and counts the lines it changed (`rows.with_replacement_character`), so that
# a mis-encoded file does not pass unnoticed. A column of the parsed rows, made as the line is read.
REPLACED = "_replacement_character"


def replaced(line, valid_line) -> dict:
    """The column that says `line` held bytes that are not UTF-8 (`valid_line` is it made valid)."""
    return {REPLACED: valid_line != line}


def with_hour(parsed: DataFrame) -> DataFrame:
    """`parsed` with the UTC hour of each play (`input_metrics` counts plays per hour)."""
    # epoch arithmetic, not hour(): that follows the session time zone, the profile is in UTC
    # whatever it is; the hour once per row, not 24 times
    return parsed.withColumn(HOUR, F.floor(F.pmod(F.unix_timestamp(TS), 86_400) / 3_600))


def distinct_estimate_columns() -> list:
    """Per distinct-name column, its estimate from the sketch `input_metrics` made (`<c>.sketch`)."""
    return [F.hll_sketch_estimate(F.col(f"`{c}.sketch`")).alias(f"{c}.distinct_approx") for c in DISTINCT_FIELDS]


def sketches(metrics: dict) -> dict[str, str]:
    """The distinct-value sketches among the metrics, as base64 text (for the record of files)."""
    return {c: base64.b64encode(bytes(metrics[f"{c}.sketch"])).decode("ascii") for c in DISTINCT_FIELDS}


def distinct_estimates(spark: SparkSession, sketch_sets: list[dict[str, str]]) -> dict[str, int]:
    """Per column, the distinct values estimated from the union of the sketches (`sketches`) of
    every batch: what one sketch over all their rows estimates."""
    rows = [tuple(base64.b64decode(s[c]) for c in DISTINCT_FIELDS) for s in sketch_sets]
    frame = spark.createDataFrame(rows, ", ".join(f"`{c}` binary" for c in DISTINCT_FIELDS))
    union = frame.agg(*[F.hll_sketch_estimate(F.hll_union_agg(c)).alias(c) for c in DISTINCT_FIELDS]).first()
    return {c: union[c] for c in DISTINCT_FIELDS}


def input_profile(metrics: dict) -> dict:
    """The input profile (JSON-ready) from the values of `input_metrics` and `distinct_estimate_columns`."""
    rejected = {reason: metrics[f"rejected.{reason}"] for reason in REJECT_REASONS if metrics[f"rejected.{reason}"]}
    columns = {
        c: {k: metrics[f"{c}.{k}"] for k in ("nulls", "empty", "distinct_approx") if f"{c}.{k}" in metrics}
        for c in RAW_FIELDS
    }
    return {
        "rows": {"read": metrics["read"], "valid": metrics["read"] - sum(rejected.values()),
                 "rejected": sum(rejected.values()), "rejected_by_reason": rejected,
                 "with_replacement_character": metrics["replacement_characters"]},
        "columns": columns,
        "time_range": {"first": _iso(metrics["first"]), "last": _iso(metrics["last"])},
        "plays_by_hour_utc": [metrics[f"hour.{h}"] for h in range(24)],
    }


def combine(profiles: list[dict], distinct: dict[str, int]) -> dict:
    """The input profile of several batches' input profiles: counts added, the time range
    widened, the distinct names from the union of their sketches (`distinct_estimates`)."""
    total = lambda pick: sum(pick(p) or 0 for p in profiles)  # noqa: E731
    reasons = [r for r in REJECT_REASONS if any(r in p["rows"]["rejected_by_reason"] for p in profiles)]
    firsts = [p["time_range"]["first"] for p in profiles if p["time_range"]["first"]]
    lasts = [p["time_range"]["last"] for p in profiles if p["time_range"]["last"]]
    columns = {}
    for c in RAW_FIELDS:
        columns[c] = {k: total(lambda p, c=c, k=k: p["columns"][c][k])
                      for k in ("nulls", "empty") if k in profiles[0]["columns"][c]}
        if c in distinct:
            columns[c]["distinct_approx"] = distinct[c]
    return {
        "rows": {**{k: total(lambda p, k=k: p["rows"].get(k)) for k in ("read", "valid", "rejected",
                                                                         "with_replacement_character")},
                 "rejected_by_reason": {r: total(lambda p, r=r: p["rows"]["rejected_by_reason"].get(r))
                                        for r in reasons}},
        "columns": columns,
        # ISO UTC strings of one width sort as the instants do
        "time_range": {"first": min(firsts, default=None), "last": max(lasts, default=None)},
        "plays_by_hour_utc": [total(lambda p, h=h: p["plays_by_hour_utc"][h]) for h in range(24)],
    }


def user_profile(sessions: DataFrame) -> dict:
    """Users, plays per user (min, median, p99, max), the heaviest listener (ties: lowest id)
    and the duplicate plays (counted and kept), from the sessions table."""
    per_user = sessions.groupBy(USER_ID).agg(F.sum(PLAY_COUNT).alias(PLAY_COUNT), F.sum(DUPLICATE_PLAYS).alias("extra"))
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
