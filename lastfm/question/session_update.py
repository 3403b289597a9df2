"""The sessions a batch of new plays changes, recomputed: the update of `sessions` after a batch.

A new play at time t of a user can only change that user's sessions that end at or after t - gap
(it joins one of them, or bridges two, or starts a new one); the earlier ones, and their numbers,
stay. The later ones are merged with the new plays without reading their plays (`merged_sessions`):
a session's plays are at most gap apart, so the sessions of all the plays are the user's sessions
and new plays (each a session of one second), ordered by start, where one opens a session when it
starts more than gap after the latest end before it; their counts add up. A new play is a
duplicate (sessions.py) when its second and song repeat another new play's or a held play's: the
held plays looked up are those in the new plays' (user, second) pairs. So an update reads the
touched users' later sessions, the new plays and the held plays of their seconds, never the plays
of the sessions it changes (for a late play, years of a user's listening).

Pure transforms: `updated_sessions` of the sessions of some plays and a batch of new plays (with
those plays) equals `build_sessions` of all of them (tests/test_session_update.py proves it
against a plain-Python model). The run writes only what changes (pipeline.py): one MERGE deletes
the sessions from the first recomputed on (`replaced_sessions`) and adds the recomputed ones; on
a table with deletion vectors that costs the changed sessions and a bitmap per file touched, not
a copy of the table.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lastfm.question.sessions import play_key, session_id
from lastfm.schemas import (
    BATCH,
    DUPLICATE_PLAYS,
    PLAY_COUNT,
    SESSION_END,
    SESSION_ID,
    SESSION_NUMBER,
    SESSION_START,
    SESSIONS,
    TS,
    USER_ID,
)


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


def recomputed_sessions(plays: DataFrame, sessions: DataFrame, bounds: list[tuple], gap_seconds: int,
                        since_batch: int, held_plays: DataFrame | None = None) -> DataFrame:
    """For each user in `bounds` (session_bounds), the sessions from the first to recompute on:
    the user's `sessions` from that one on merged with the plays of `plays` in batches after
    `since_batch`, numbered on from the sessions kept. `held_plays`, when the caller has looked
    them up already (the ingest's repeats check does): plays (user, ts, artist and track names)
    holding every play of the batches up to `since_batch` at the new plays' (user, second) pairs,
    and none of a later batch; else they are looked up in `plays`."""
    cut = F.broadcast(_cut(plays.sparkSession, bounds))
    earliest, users = _earliest(bounds), [user for user, _, _ in bounds]
    later = (sessions.where(F.col(SESSION_START) >= earliest)  # a literal: Delta skips by statistics
             .join(cut, USER_ID).where(F.col(SESSION_NUMBER) >= F.col(_FROM_NUMBER))
             .select(USER_ID, SESSION_START, SESSION_END, PLAY_COUNT, DUPLICATE_PLAYS, _FROM_NUMBER))
    new = plays.where(F.col(BATCH) > since_batch).select(USER_ID, TS, play_key().alias(_KEY))
    if held_plays is None:
        held_plays = plays.where((F.col(BATCH) <= since_batch) & F.col(USER_ID).isin(users) & (F.col(TS) >= earliest))
    held = (held_plays.join(new.select(USER_ID, TS).distinct(), [USER_ID, TS], "left_semi")
            .select(USER_ID, play_key().alias(_KEY)).distinct().withColumn(_HELD, F.lit(1)))
    # one row per new (user, second, song): its plays after the first held or new one are duplicates
    seconds = (new.groupBy(USER_ID, _KEY).agg(F.min(TS).alias(SESSION_START), F.count(F.lit(1)).alias(PLAY_COUNT))
               .join(held, [USER_ID, _KEY], "left").join(cut, USER_ID)
               .select(USER_ID, SESSION_START, F.col(SESSION_START).alias(SESSION_END), PLAY_COUNT,
                       (F.col(PLAY_COUNT) - 1 + F.coalesce(_HELD, F.lit(0))).alias(DUPLICATE_PLAYS), _FROM_NUMBER))
    return merged_sessions(later.unionByName(seconds), gap_seconds, F.col(_FROM_NUMBER))


def merged_sessions(pieces: DataFrame, gap_seconds: int, first_number: Column) -> DataFrame:
    """The sessions of `pieces`: rows of (user, start, end, play count, duplicate plays), each a
    session or a second of plays, where a user's pieces of one session are at most gap apart. In
    order of start, a piece opens a session when it starts more than gap after the latest end
    before it; the sessions are numbered from `first_number` (a column of `pieces`, one value per
    user) and sum their pieces' counts."""
    start, end = F.unix_timestamp(SESSION_START), F.unix_timestamp(SESSION_END)
    by_user = Window.partitionBy(USER_ID).orderBy(start)
    reach = F.max(end).over(by_user.rowsBetween(Window.unboundedPreceding, -1))
    # pieces starting together: the first in the window's order may open, the rest start 0 s after
    # its end, so the numbering does not depend on how ties are ordered
    opens = F.coalesce(start - reach > gap_seconds, F.lit(True)).cast("int")
    running = F.sum("_opens").over(by_user.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    numbered = pieces.withColumn("_opens", opens).withColumn(SESSION_NUMBER, (running + first_number - 1).cast("int"))
    merged = numbered.groupBy(USER_ID, SESSION_NUMBER).agg(
        F.min(SESSION_START).alias(SESSION_START), F.max(SESSION_END).alias(SESSION_END),
        F.sum(PLAY_COUNT).alias(PLAY_COUNT), F.sum(DUPLICATE_PLAYS).alias(DUPLICATE_PLAYS))
    return (merged.withColumn(SESSION_ID, session_id(F.col(USER_ID), F.col(SESSION_NUMBER)))
            .select(*SESSIONS.fieldNames()))


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


def updated_sessions(plays: DataFrame, sessions: DataFrame, bounds: list[tuple], gap_seconds: int,
                     since_batch: int, held_plays: DataFrame | None = None) -> DataFrame:
    """The whole `sessions` table after the plays of batches after `since_batch` (what
    `replaced_sessions` and `recomputed_sessions` make of it): the sessions of users without new
    plays as they are; for each user in `bounds`, the sessions before the first to recompute as
    they are, and the rest recomputed (`held_plays` as in `recomputed_sessions`)."""
    cut = F.broadcast(_cut(plays.sparkSession, bounds))
    kept = (sessions.join(cut, USER_ID, "left")
            .where(F.col(_FROM_NUMBER).isNull() | (F.col(SESSION_NUMBER) < F.col(_FROM_NUMBER)))
            .select(*SESSIONS.fieldNames()))
    return kept.unionByName(recomputed_sessions(plays, sessions, bounds, gap_seconds, since_batch, held_plays))


_FROM_NUMBER, _KEY, _HELD = "_from_number", "_key", "_held"


def _cut(spark: SparkSession, bounds: list[tuple]) -> DataFrame:
    return spark.createDataFrame([(user, number) for user, number, _ in bounds],
                                 f"{USER_ID} string, {_FROM_NUMBER} int")


def _earliest(bounds: list[tuple]) -> Column:
    return F.timestamp_seconds(F.lit(min(seconds for _, _, seconds in bounds)))  # folded into a literal
