"""The sessions a batch of new plays changes, recomputed: the update of `sessions` after a batch.

A new play at time t of a user can only change that user's sessions that end at or after t - gap
(it joins one of them, or bridges two, or starts a new one); the earlier ones, and their numbers,
stay. So each touched user's sessions are recomputed from the first of those (or from t, when it
starts before it), numbered on from the sessions kept. Pure transforms: `updated_sessions` of the
sessions of some plays and a batch of new plays (with those plays) equals `build_sessions` of all
of them (tests/test_session_update.py proves it against a plain-Python model).

The run writes only what changes (pipeline.py): one MERGE deletes the sessions from the first
recomputed on (`replaced_sessions`) and adds the recomputed ones; on a table with deletion
vectors that costs the changed sessions and a bitmap per file touched, not a copy of the table.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lastfm.question.sessions import assign_sessions, summarize_sessions
from lastfm.schemas import SESSION_END, SESSION_NUMBER, SESSION_START, SESSIONS, TS, USER_ID


def session_bounds(sessions: DataFrame, new_plays: DataFrame, gap_seconds: int) -> list[tuple[str, int, int]]:
    """Per user with new plays: (user, the number of the first session to recompute, the time
    to recompute from, in epoch seconds). That session is the first that ends at or after the
    user's earliest new play minus the gap, or a new one after the last; the time is its start,
    or the earliest new play when that is earlier. (Epoch seconds: a time the driver holds as a
    naive local datetime is ambiguous in a daylight-saving change.)"""
    first_new = new_plays.groupBy(USER_ID).agg(F.min(TS).alias("_first_new"))
    touched = F.unix_timestamp(SESSION_END) >= F.unix_timestamp("_first_new") - gap_seconds
    bounds = first_new.join(sessions, USER_ID, "left").groupBy(USER_ID, "_first_new").agg(
        F.min(F.when(touched, F.col(SESSION_NUMBER))).alias("_touched"),
        F.max(SESSION_NUMBER).alias("_last"),
        F.min(F.when(touched, F.col(SESSION_START))).alias("_touched_start"),
    )
    rows = bounds.select(
        USER_ID,
        F.coalesce("_touched", F.coalesce("_last", F.lit(0)) + 1).alias(SESSION_NUMBER),
        F.unix_timestamp(F.least("_touched_start", "_first_new")).alias(TS),  # least() skips a null
    ).collect()
    return [(r[USER_ID], r[SESSION_NUMBER], r[TS]) for r in rows]


def recomputed_sessions(plays: DataFrame, bounds: list[tuple], gap_seconds: int) -> DataFrame:
    """For each user in `bounds` (session_bounds), the sessions from the first to recompute on,
    from `plays` (which holds the new plays), numbered on from the sessions kept."""
    recent = plays.where(F.col(USER_ID).isin([user for user, _, _ in bounds])
                         & (F.col(TS) >= _earliest(bounds)))  # a literal: Delta skips by statistics
    return (recent.join(_cut(plays.sparkSession, bounds), USER_ID).where(F.col(TS) >= F.col(_FROM_TS))
            .transform(assign_sessions(gap_seconds))
            .withColumn(SESSION_NUMBER, (F.col(SESSION_NUMBER) + F.col(_FROM_NUMBER) - 1).cast("int"))
            .transform(summarize_sessions))


def replaced_sessions(spark: SparkSession, bounds: list[tuple]) -> tuple[DataFrame, Column]:
    """The sessions `recomputed_sessions` replace, as (one row per user in `bounds`, the condition
    on a `sessions` row `t` and such a row `s` that says `t` is replaced). The condition also
    bounds `t.session_start` by a literal, the earliest time recomputed, so that a MERGE reads
    only the files of sessions that late."""
    cut = _cut(spark, bounds)
    condition = ((F.col(f"t.{USER_ID}") == F.col(f"s.{USER_ID}"))
                 & (F.col(f"t.{SESSION_NUMBER}") >= F.col(f"s.{_FROM_NUMBER}"))
                 & (F.col(f"t.{SESSION_START}") >= _earliest(bounds)))
    return cut, condition


def updated_sessions(plays: DataFrame, sessions: DataFrame, bounds: list[tuple], gap_seconds: int) -> DataFrame:
    """The whole `sessions` table after new plays (what `replaced_sessions` and
    `recomputed_sessions` make of it): the sessions of users without new plays as they are; for
    each user in `bounds`, the sessions before the first to recompute as they are, and the rest
    recomputed."""
    cut = F.broadcast(_cut(plays.sparkSession, bounds))
    kept = (sessions.join(cut, USER_ID, "left").where(F.col(_FROM_NUMBER).isNull() | (F.col(SESSION_NUMBER) < F.col(_FROM_NUMBER)))
            .select(*SESSIONS.fieldNames()))
    return kept.unionByName(recomputed_sessions(plays, bounds, gap_seconds))


_FROM_NUMBER, _FROM_TS = "_from_number", "_from_ts"


def _cut(spark: SparkSession, bounds: list[tuple]) -> DataFrame:
    frame = spark.createDataFrame(bounds, f"{USER_ID} string, {_FROM_NUMBER} int, {_FROM_TS} long")
    return frame.withColumn(_FROM_TS, F.timestamp_seconds(_FROM_TS))


def _earliest(bounds: list[tuple]) -> Column:
    return F.timestamp_seconds(F.lit(min(seconds for _, _, seconds in bounds)))  # folded into a literal
