"""Plays -> listening sessions.

A session is a maximal run of one user's plays, in time order, where each play starts at
most `gap` after the previous one (inclusive: a gap of exactly `gap` stays in the session).

The same window (one shuffle of user, time and a 64-bit hash of the song) also finds the
duplicate plays: a play of the same song (artist and track name) at the same second as another
play of the user. Ordering by the hash after the time puts such plays next to each other; a
hash collision between two songs of one user in one second is negligible.
"""

from typing import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lastfm.schemas import (
    ARTIST_NAME,
    DUPLICATE_PLAYS,
    PLAY_COUNT,
    SESSION_END,
    SESSION_ID,
    SESSION_NUMBER,
    SESSION_START,
    TRACK_NAME,
    TS,
    USER_ID,
)

DUPLICATE = "_duplicate"


def session_id(user_id, session_number):
    """`user_000001/17`: the user and the session's 1-based position in that user's history.

    Both parts depend only on the data, never on partitioning or run order.
    """
    return F.concat_ws("/", user_id, session_number.cast("string"))


def assign_sessions(gap_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Add `session_number`, `session_id` and `_duplicate` (a repeat of the play before it) to
    every play.

    Plays may arrive in any order. Plays with the same timestamp always share a session, so
    the numbering does not depend on how ties are ordered.
    """

    def transform(plays: DataFrame) -> DataFrame:
        song = F.xxhash64(ARTIST_NAME, TRACK_NAME)
        by_user = Window.partitionBy(USER_ID).orderBy(TS, song)
        seconds = F.unix_timestamp(TS)
        before = lambda column: F.lag(column).over(by_user)  # noqa: E731
        starts_session = F.coalesce(seconds - before(seconds) > gap_seconds, F.lit(True))
        duplicate = F.coalesce((before(seconds) == seconds) & (before(song) == song), F.lit(False))
        # of plays in one second only the first can start a session (the others are 0 s after
        # the play before), so the running sum gives them all the same number, in any order
        numbered = plays.withColumns({
            SESSION_NUMBER: F.sum(starts_session.cast("int")).over(by_user).cast("int"),
            DUPLICATE: duplicate,
        })
        return numbered.withColumn(SESSION_ID, session_id(F.col(USER_ID), F.col(SESSION_NUMBER)))

    return transform


def summarize_sessions(sessionized_plays: DataFrame) -> DataFrame:
    """One row per session: user, number, id, first and last play start, play count and
    duplicate plays."""
    return sessionized_plays.groupBy(USER_ID, SESSION_NUMBER, SESSION_ID).agg(
        F.min(TS).alias(SESSION_START),
        F.max(TS).alias(SESSION_END),
        F.count(F.lit(1)).alias(PLAY_COUNT),
        F.count_if(DUPLICATE).alias(DUPLICATE_PLAYS),
    )


def build_sessions(gap_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Plays -> the `sessions` table."""
    return lambda plays: plays.transform(assign_sessions(gap_seconds)).transform(summarize_sessions)
