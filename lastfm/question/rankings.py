"""Sessions -> the longest sessions; plays in them -> the most played songs.

Every ranking has a total, stated order so that ties at a cut are decided the same way on
every run:
- sessions: play count desc, session start asc, user id asc;
- songs (artist name + track name): play count desc, artist name asc, track name asc.
"""

from __future__ import annotations

from typing import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lastfm.schemas import (
    ARTIST_NAME,
    PLAY_COUNT,
    RANK,
    SESSION_END,
    SESSION_START,
    TOP_SESSIONS,
    TOP_TRACKS,
    TRACK_NAME,
    TS,
    USER_ID,
)

# (column, descending?) in order of precedence; Columns are built lazily, inside a session.
SESSION_ORDER = ((PLAY_COUNT, True), (SESSION_START, False), (USER_ID, False))
TRACK_ORDER = ((PLAY_COUNT, True), (ARTIST_NAME, False), (TRACK_NAME, False))


def _top(n: int, precedence, columns) -> Callable[[DataFrame], DataFrame]:
    def transform(rows: DataFrame) -> DataFrame:
        order = [F.col(c).desc() if descending else F.col(c).asc() for c, descending in precedence]
        ranked = rows.orderBy(*order).limit(n)
        # one global window over at most n rows: cheap, and gives ranks 1..n in `order`
        rank = F.row_number().over(Window.orderBy(*order)).cast("int")
        return ranked.withColumn(RANK, rank).select(*columns)

    return transform


def top_sessions(n: int) -> Callable[[DataFrame], DataFrame]:
    """The n longest sessions of the `sessions` table, with `rank` 1..n."""
    return _top(n, SESSION_ORDER, TOP_SESSIONS.fieldNames())


def plays_in_sessions(sessions: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Plays that fall inside one of `sessions` (a small table: it is broadcast).

    A user's sessions never overlap, so (user, start <= ts <= end) finds each play's session
    without recomputing the window. The sessions' user ids (a few) are collected and filtered
    on first, so that Delta and Parquet skip the files and row groups of other users.
    """

    def transform(plays: DataFrame) -> DataFrame:
        users = [row[USER_ID] for row in sessions.select(USER_ID).distinct().collect()]
        bounds = F.broadcast(sessions.select(USER_ID, SESSION_START, SESSION_END))
        return plays.where(F.col(USER_ID).isin(users)).join(bounds, on=USER_ID).where(
            F.col(TS).between(F.col(SESSION_START), F.col(SESSION_END))
        )

    return transform


def song_play_counts(plays: DataFrame) -> DataFrame:
    """Plays -> one row per song (artist_name, track_name) with its `play_count`."""
    return plays.groupBy(ARTIST_NAME, TRACK_NAME).agg(F.count(F.lit(1)).alias(PLAY_COUNT))


def most_played(n: int) -> Callable[[DataFrame], DataFrame]:
    """Song play counts -> the n most played songs, with `rank`."""
    return _top(n, TRACK_ORDER, TOP_TRACKS.fieldNames())


def top_tracks(n: int) -> Callable[[DataFrame], DataFrame]:
    """Plays -> the n most played songs, keyed by (artist_name, track_name), with `rank`."""
    return lambda plays: song_play_counts(plays).transform(most_played(n))
