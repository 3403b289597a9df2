"""Plays -> listening sessions.

A session is a maximal run of one user's plays, in time order, where each play starts at
most `gap` after the previous one (inclusive: a gap of exactly `gap` stays in the session).
"""

from typing import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lastfm.schemas import (
    PLAY_COUNT,
    SESSION_END,
    SESSION_ID,
    SESSION_NUMBER,
    SESSION_START,
    TS,
    USER_ID,
)


def session_id(user_id, session_number):
    """`user_000001/17`: the user and the session's 1-based position in that user's history.

    Both parts depend only on the data, never on partitioning or run order.
    """
    return F.concat_ws("/", user_id, session_number.cast("string"))


def assign_sessions(gap_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Add `session_number` and `session_id` to every play.

    Plays may arrive in any order. Plays with the same timestamp always share a session, so
    the numbering does not depend on how ties are ordered.
    """

    def transform(plays: DataFrame) -> DataFrame:
        by_user = Window.partitionBy(USER_ID).orderBy(TS)
        seconds = F.unix_timestamp(TS)
        starts_session = F.coalesce(seconds - F.lag(seconds).over(by_user) > gap_seconds, F.lit(True))
        # a running sum over the default frame (RANGE, unbounded preceding .. current row) gives
        # equal timestamps the same value, which is what makes the numbering tie-proof
        numbered = plays.withColumn(
            SESSION_NUMBER, F.sum(starts_session.cast("int")).over(by_user).cast("int")
        )
        return numbered.withColumn(SESSION_ID, session_id(F.col(USER_ID), F.col(SESSION_NUMBER)))

    return transform


def summarize_sessions(sessionized_plays: DataFrame) -> DataFrame:
    """One row per session: user, number, id, first and last play start, and play count."""
    return sessionized_plays.groupBy(USER_ID, SESSION_NUMBER, SESSION_ID).agg(
        F.min(TS).alias(SESSION_START),
        F.max(TS).alias(SESSION_END),
        F.count(F.lit(1)).alias(PLAY_COUNT),
    )


def build_sessions(gap_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Plays -> the `sessions` table."""
    return lambda plays: plays.transform(assign_sessions(gap_seconds)).transform(summarize_sessions)
