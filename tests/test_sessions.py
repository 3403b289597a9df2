from datetime import datetime, timedelta

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastfm.question import session_update
from lastfm.question import sessions as sessions_module
from lastfm.question.sessions import RULES_VERSION, assign_sessions, build_sessions
from lastfm.schemas import SESSIONS
from lastfm.schemas import TYPED_PLAYS as PLAYS
from lastfm.testing.versions import code_digest

GAP = 20 * 60
T0 = datetime(2009, 5, 4, 12, 0, 0)


def at(minutes, seconds=0):
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def plays(spark, rows):
    return spark.createDataFrame([(u, ts, None, "Artist", None, "Track") for u, ts in rows], PLAYS)


@pytest.mark.usefixtures("ansi_mode")
def test_gap_of_exactly_twenty_minutes_joins_and_one_second_more_splits(spark):
    rows = [("u1", at(0)), ("u1", at(20)), ("u1", at(40, 1)), ("u1", at(41))]
    expected = spark.createDataFrame(
        [("u1", 1, "u1/1", at(0), at(20), 2, 0), ("u1", 2, "u1/2", at(40, 1), at(41), 2, 0)], SESSIONS
    )
    sessions = plays(spark, rows).transform(build_sessions(GAP))
    assert_df_equality(sessions, expected, ignore_row_order=True, ignore_nullable=True, ignore_column_order=True)


@pytest.mark.usefixtures("ansi_mode")
def test_the_rule_holds_before_1970_and_after_2038(spark):
    # the window orders by one long key built from the epoch second: negative and large ones too
    for start in (datetime(1965, 3, 1), datetime(2105, 3, 1)):
        times = [start, start + timedelta(minutes=20), start + timedelta(minutes=40, seconds=1)]
        counts = sorted(r.play_count
                        for r in plays(spark, [("u1", t) for t in times]).transform(build_sessions(GAP)).collect())
        assert counts == [1, 2], start


def test_rows_out_of_order_and_users_interleaved(spark):
    rows = [("u2", at(100)), ("u1", at(30)), ("u1", at(0)), ("u2", at(0)), ("u1", at(15)), ("u1", at(200))]
    expected = spark.createDataFrame(
        [
            ("u1", 1, "u1/1", at(0), at(30), 3, 0),
            ("u1", 2, "u1/2", at(200), at(200), 1, 0),
            ("u2", 1, "u2/1", at(0), at(0), 1, 0),
            ("u2", 2, "u2/2", at(100), at(100), 1, 0),
        ],
        SESSIONS,
    )
    sessions = plays(spark, rows).transform(build_sessions(GAP))
    assert_df_equality(sessions, expected, ignore_row_order=True, ignore_nullable=True, ignore_column_order=True)


def test_repeated_timestamps_share_a_session_and_ids_do_not_depend_on_partitioning(spark):
    rows = [("u1", at(0)), ("u1", at(50)), ("u1", at(50)), ("u1", at(50)), ("u1", at(60))]
    df = plays(spark, rows)
    one = {(r.ts, r.session_number) for r in df.coalesce(1).transform(assign_sessions(GAP)).collect()}
    many = {(r.ts, r.session_number) for r in df.repartition(7).transform(assign_sessions(GAP)).collect()}
    assert one == many == {(at(0), 1), (at(50), 2), (at(60), 2)}


def test_duplicate_plays_are_counted_whatever_the_order(spark):
    songs = [(at(0), "A", "x"), (at(0), "B", "y"), (at(0), "A", "x"), (at(0), "A", "x"), (at(5), "A", "x"),
             (at(5), "A", "y"), (at(5), "B", "x")]  # three of A/x at 0: two repeats; nothing else repeats
    df = spark.createDataFrame([("u1", t, None, a, None, n) for t, a, n in songs], PLAYS)
    for order in (df.coalesce(1), df.repartition(5), df.orderBy("track_name")):
        (session,) = order.transform(build_sessions(GAP)).collect()
        assert (session.play_count, session.duplicate_plays) == (7, 2)


def test_session_across_a_daylight_saving_change_under_a_non_utc_time_zone(spark):
    # US clocks jumped 02:00 -> 03:00 local on 2009-03-08 (07:00 UTC). These plays are 15 and
    # 14 minutes apart in real time; read as New York wall-clock they would look 75 min apart.
    from lastfm.question.parsing import parse_lines, valid_plays

    raw = [
        "u1\t2009-03-08T06:50:00Z\t\tA\t\tB",
        "u1\t2009-03-08T07:05:00Z\t\tA\t\tB",
        "u1\t2009-03-08T07:19:00Z\t\tA\t\tB",
    ]
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        parsed = spark.createDataFrame([(r,) for r in raw], "value string").transform(parse_lines)
        counts = [r.play_count for r in valid_plays(parsed).transform(build_sessions(GAP)).collect()]
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert counts == [3]


def model_sessions(rows, gap):
    """Plain-Python statement of the rules: {(user, number): (sorted play times, duplicate plays)};
    a duplicate repeats another play of the session in the same second with the same song."""
    sessions = {}
    for user in {row[0] for row in rows}:
        number, previous = 0, None
        for t, artist, track in sorted(row[1:] for row in rows if row[0] == user):
            if previous is None or t - previous > gap:
                number += 1
            sessions.setdefault((user, number), []).append((t, artist, track))
            previous = t
    return {key: (sorted(t for t, _, _ in found), len(found) - len(set(found))) for key, found in sessions.items()}


# Songs vary, so that the song bits of the window's key (sessions.py) are exercised: repeats of
# one song in one second, and other songs in the same second, in any order.
SONGS = [("A", "x"), ("A", "y"), ("B", "x"), ("", ""), ('Johnny "Hammond" Smith', "Кино")]


@st.composite
def plays_and_gap(draw):
    """Per user, times built from steps that sit on the boundary (gap, gap + 1) or near it, each
    play of one of a few songs."""
    gap = draw(st.sampled_from([0, 60, GAP]))
    steps = st.sampled_from([0, 0, 1, max(gap - 1, 0), gap, gap + 1, 3 * gap + 7])
    song = st.sampled_from(SONGS)
    rows = []
    for user in draw(st.lists(st.sampled_from(["u1", "u2", "u3"]), min_size=1, max_size=3, unique=True)):
        t = draw(st.integers(min_value=0, max_value=86400))
        for step in draw(st.lists(steps, min_size=0, max_size=12)):
            rows.append((user, t, *draw(song)))
            t += step
        rows.append((user, t, *draw(song)))
    return draw(st.permutations(rows)), gap


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=plays_and_gap())
def test_sessions_match_a_plain_python_model(spark, case):
    rows, gap = case
    epoch = datetime(2009, 1, 1)
    when = lambda s: epoch + timedelta(seconds=s)  # noqa: E731
    df = spark.createDataFrame([(u, when(s), None, a, None, t) for u, s, a, t in rows], PLAYS)
    got = {}
    for r in df.transform(assign_sessions(gap)).collect():
        got.setdefault((r.user_id, r.session_number), []).append(int((r.ts - epoch).total_seconds()))
    model = model_sessions(rows, gap)
    assert {k: sorted(v) for k, v in got.items()} == {k: times for k, (times, _) in model.items()}
    summary = {(r.user_id, r.session_number):
               (r.session_id, r.session_start, r.session_end, r.play_count, r.duplicate_plays)
               for r in df.transform(build_sessions(gap)).collect()}
    assert summary == {(u, n): (f"{u}/{n}", when(times[0]), when(times[-1]), len(times), duplicates)
                       for (u, n), (times, duplicates) in model.items()}


# (RULES_VERSION, the digest of the code it covers), pinned: lastfm/testing/versions.py
RULES_PIN = (1, "3d1072f20fd2babe")


def test_the_sessions_rules_version_is_bumped_with_the_rules():
    digest = code_digest("RULES_VERSION", sessions_module, session_update)
    assert (RULES_VERSION, digest) == RULES_PIN, (
        "the sessions' code changed (lastfm/question/sessions.py, session_update.py): bump RULES_VERSION if the "
        "change can change the sessions of the same plays (the next run then builds `sessions` anew), and pin "
        f"({RULES_VERSION}, {digest!r}) as RULES_PIN")
