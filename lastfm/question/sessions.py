"""Plays -> listening sessions.

A session is a maximal run of one user's plays, in time order, where each play starts at
most `gap` after the previous one (inclusive: a gap of exactly `gap` stays in the session).

The same window also finds the duplicate plays: a play of the same song (artist and track name)
at the same second as another play of the user. The window orders each user's plays by one
64-bit key, the epoch second in the high bits and 24 bits of a hash of the song in the low
bits: time order, with plays of one song in one second next to each other. Sorting on one long
instead of (time, hash) took the sessions from ~42 s to ~25 s on 19M plays (measured). Two
different songs of one user in one second collide with probability 2^-24: negligible. The key
holds any second of the years 0001-9999 (|second| < 2^38, shifted by 24 bits: < 2^62).
"""

from __future__ import annotations

from typing import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lastfm.schemas import (
    ARTIST_NAME,
    DUPLICATE_PLAYS,
    PLAY_COUNT,
    SESSION_END,
    SESSION_ID,
    SESSION_NUMBER,
    SESSION_START,
    SESSIONS,
    TRACK_NAME,
    TS,
    USER_ID,
)

# How sessions are built from plays: bump it with any change here or in session_update.py that
# can change the sessions of the same plays, so that the next run builds `sessions` anew
# (tests/test_sessions.py pins it to a digest of that code, as PARSE_VERSION is pinned).
RULES_VERSION = 1

DUPLICATE = "_duplicate"
_KEY = "_key"
_SONG_BITS = 24


def session_id(user_id, session_number):
    """`user_000001/17`: the user and the session's 1-based position in that user's history.

    Both parts depend only on the data, never on partitioning or run order.
    """
    return F.concat_ws("/", user_id, session_number.cast("string"))


def play_key() -> Column:
    """A play's window key (see the module docstring): its epoch second, then 24 bits of its song."""
    song_bits = F.xxhash64(ARTIST_NAME, TRACK_NAME).bitwiseAND(F.lit((1 << _SONG_BITS) - 1).cast("long"))
    return F.shiftleft(F.unix_timestamp(TS), _SONG_BITS).bitwiseOR(song_bits)


def assign_sessions(gap_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Add `session_number` and `_duplicate` (a repeat of the play before it) to every play.

    Plays may arrive in any order. Plays with the same timestamp always share a session, so
    the numbering does not depend on how ties are ordered.
    """

    def transform(plays: DataFrame) -> DataFrame:
        by_user = Window.partitionBy(USER_ID).orderBy(_KEY)
        before = F.lag(_KEY).over(by_user)
        seconds = lambda k: F.shiftright(k, _SONG_BITS)  # noqa: E731
        starts_session = F.coalesce(seconds(F.col(_KEY)) - seconds(before) > gap_seconds, F.lit(True))
        # of plays in one second only the first can start a session (the others are 0 s after
        # the play before), so the running sum gives them all the same number, in any order
        numbered = plays.withColumn(_KEY, play_key()).withColumns({
            SESSION_NUMBER: F.sum(starts_session.cast("int")).over(by_user).cast("int"),
            DUPLICATE: F.coalesce(before == F.col(_KEY), F.lit(False)),
        })
        return numbered.drop(_KEY)

    return transform


def summarize_sessions(sessionized_plays: DataFrame) -> DataFrame:
    """One row per session: user, number, id, first and last play start, play count and
    duplicate plays."""
    sessions = sessionized_plays.groupBy(USER_ID, SESSION_NUMBER).agg(
        F.min(TS).alias(SESSION_START),
        F.max(TS).alias(SESSION_END),
        F.count(F.lit(1)).alias(PLAY_COUNT),
        F.count_if(DUPLICATE).alias(DUPLICATE_PLAYS),
    )
    return (sessions.withColumn(SESSION_ID, session_id(F.col(USER_ID), F.col(SESSION_NUMBER)))
            .select(*SESSIONS.fieldNames()))


def rules(gap_seconds: int) -> str:
    """What the sessions of the same plays depend on: these rules' version and the gap."""
    return f"v{RULES_VERSION} gap={gap_seconds}s"


def build_sessions(gap_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Plays -> the `sessions` table."""
    return lambda plays: plays.transform(assign_sessions(gap_seconds)).transform(summarize_sessions)
