from datetime import datetime, timedelta

from chispa import assert_df_equality

from lastfm.question.rankings import plays_in_sessions, top_sessions, top_tracks
from lastfm.schemas import SESSIONS, TOP_SESSIONS, TOP_TRACKS
from lastfm.schemas import TYPED_PLAYS as PLAYS

T0 = datetime(2009, 5, 4, 12, 0, 0)


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def session(user, number, start, plays):
    return (user, number, f"{user}/{number}", at(start), at(start + plays - 1), plays, 0)


def test_sessions_tied_at_the_cut_go_by_start_then_user(spark):
    sessions = spark.createDataFrame(
        [
            session("u1", 1, 0, 9),
            session("u2", 1, 50, 5),  # ties u3's count, starts later: out
            session("u3", 1, 10, 5),  # ties u4's count and start, user id sorts first: in
            session("u4", 1, 10, 5),
            session("u5", 1, 0, 2),
        ],
        SESSIONS,
    )
    expected = spark.createDataFrame(
        [(1, *session("u1", 1, 0, 9)), (2, *session("u3", 1, 10, 5)), (3, *session("u4", 1, 10, 5))],
        TOP_SESSIONS,
    )
    assert_df_equality(sessions.transform(top_sessions(3)), expected, ignore_nullable=True)


def track_plays(spark, rows):
    return spark.createDataFrame([("u1", T0, None, a, None, t) for a, t in rows], PLAYS)


def test_same_title_by_two_artists_are_two_songs_and_ties_go_by_artist_then_track(spark):
    rows = (
        [("Cake", "Jolene")] * 3
        + [("Dolly Parton", "Jolene")] * 2
        + [("Cake", "Bonus Track")] * 2
        + [("Abba", "Zebra")] * 2
        + [("Abba", "Alpha")] * 2
        + [("Zed", "Last")] * 1
    )
    expected = spark.createDataFrame(
        [(1, "Cake", "Jolene", 3), (2, "Abba", "Alpha", 2), (3, "Abba", "Zebra", 2), (4, "Cake", "Bonus Track", 2)],
        TOP_TRACKS,
    )
    assert_df_equality(track_plays(spark, rows).transform(top_tracks(4)), expected, ignore_nullable=True)


def test_fewer_songs_than_asked_gives_them_all(spark):
    got = track_plays(spark, [("A", "x"), ("A", "x"), ("B", "y")]).transform(top_tracks(10))
    assert [(r.rank, r.artist_name, r.track_name, r.play_count) for r in got.collect()] == [
        (1, "A", "x", 2),
        (2, "B", "y", 1),
    ]


def test_plays_in_sessions_keeps_plays_inside_each_users_session_bounds(spark):
    plays = spark.createDataFrame(
        [
            ("u1", at(0), None, "A", None, "in, first play"),
            ("u1", at(5), None, "A", None, "in, last play"),
            ("u1", at(6), None, "A", None, "out, after the session"),
            ("u2", at(3), None, "A", None, "out, other user"),
        ],
        PLAYS,
    )
    sessions = spark.createDataFrame([("u1", 1, "u1/1", at(0), at(5), 2, 0)], SESSIONS)
    kept = {r.track_name for r in plays.transform(plays_in_sessions(sessions)).collect()}
    assert kept == {"in, first play", "in, last play"}
