"""The update of `sessions` after a batch (lastfm/question/session_update.py) equals sessionizing
everything again.

What is proved (for the cases the strategy reaches, 50 examples of 4-8 cases each a run, ~300
cases): for history plays H,
a non-empty batch of new plays N and S = the sessions of H,

    updated_sessions(H + N, S, session_bounds(S, N, gap), gap, since_batch=H's batch)

collected is, row for row and in every column of schemas.SESSIONS, the sessions of H + N.

How the expected answer stays independent of the code under test: both S and the sessions of
H + N come from `model_sessions` below, plain Python on (user, second, artist, track) tuples: a
sort by time and a comparison with the play before, no Spark, no window, no song hash, and not
lastfm's build_sessions. The rules it states are sessions.py's: a session is a maximal run of one
user's plays in time order, each at most `gap` seconds after the one before (exactly `gap` stays
in the session); sessions are numbered 1.. per user in time order; `session_id` is
"user/number"; start and end are the first and last play; `duplicate_plays` counts, per
(user, second, artist, track), the plays after the first.

The strategy aims at the boundaries the update can get wrong: new plays exactly gap, gap - 1 and
gap + 1 seconds from a history play, new plays bridging two history sessions, late plays (before
the user's last history play, some before all of it, which renumbers the sessions after them),
users with no history, and repeats of a play in the same second. `hypothesis.event` labels each
example with the cases it holds, computed from the data; run with --hypothesis-show-statistics
to see how often each occurs.

Each example runs the two transforms once (about eight small Spark jobs) on several cases side by
side, each case's users its own (`u1.3` is case 3's u1; sessions are per user, so the cases do not
meet): the Spark jobs, not the rows, are the cost, so 4-8 cases an example take about the time of
one (one case an example: 200 took 256 s; measured). The property is still marked slow; the
examples by hand at the end run in the fast set.
"""

from datetime import datetime, timedelta, timezone

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lastfm.question.session_update import session_bounds, updated_sessions
from lastfm.schemas import PLAYS, SESSIONS

GAP = 20 * 60
EPOCH = datetime(2009, 1, 1, tzinfo=timezone.utc)
USERS = ["u1", "u2", "u3"]
# Songs vary, so that same-second plays of other songs sit between repeats in the window's order.
SONGS = [("A", "x"), ("A", "y"), ("B", "x"), ("", ""), ('Johnny "Hammond" Smith', "Кино l'été")]


def when(second: int) -> datetime:
    return EPOCH + timedelta(seconds=second)


def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, datetime):
        return f"timestamp_seconds({int(value.timestamp())})"
    return str(int(value))


def local_frame(spark, rows, schema):
    """`rows` as a DataFrame of `schema`, held in the plan (an inline table, a LocalRelation).

    createDataFrame of a Python list makes an RDD, and every job then runs tasks to read it back:
    an example took ~1.8 s that way against ~0.9 s with inline tables (median of 20, measured)."""
    if not rows:
        return spark.createDataFrame([], schema)
    columns = ", ".join(f"CAST({f.name} AS {f.dataType.simpleString()}) AS {f.name}" for f in schema.fields)
    values = ", ".join("(" + ", ".join(sql_literal(value) for value in row) + ")" for row in rows)
    return spark.sql(f"SELECT {columns} FROM VALUES {values} AS t({', '.join(schema.fieldNames())})")


def plays_frame(spark, plays, batch=1):
    """(user, second, artist, track) tuples -> a `plays` DataFrame (schemas.PLAYS)."""
    return local_frame(
        spark,
        [(user, when(second), None, artist, None, track, "file:/plays.tsv", batch)
         for user, second, artist, track in plays],
        PLAYS,
    )


# --- the model ------------------------------------------------------------------------------


def sessions_of(plays, gap):
    """Plain-Python sessionization: {(user, number): [plays in time order]}."""
    sessions = {}
    for user in sorted({play[0] for play in plays}):
        number, previous = 0, None
        for play in sorted((p for p in plays if p[0] == user), key=lambda p: (p[1], p[2], p[3])):
            if previous is None or play[1] - previous > gap:
                number += 1
            sessions.setdefault((user, number), []).append(play)
            previous = play[1]
    return sessions


def model_sessions(plays, gap):
    """The `sessions` rows of `plays`, sorted: (user, number, id, start second, end second,
    play count, duplicate plays)."""
    rows = []
    for (user, number), found in sessions_of(plays, gap).items():
        repeats = len(found) - len(set(found))  # per (user, second, artist, track): count - 1
        rows.append((user, number, f"{user}/{number}", found[0][1], found[-1][1], len(found), repeats))
    return sorted(rows)


def sessions_frame(spark, rows):
    """model_sessions rows -> a `sessions` DataFrame (schemas.SESSIONS)."""
    return local_frame(spark, [(user, number, sid, when(start), when(end), count, dups)
                               for user, number, sid, start, end, count, dups in rows], SESSIONS)


# --- the strategy ---------------------------------------------------------------------------


@st.composite
def history_and_batch(draw, gap):
    """(history plays, new plays) under `gap`, each play (user, second, artist, track).

    History: per user, times built from steps on or next to the boundary, so that sessions end
    and start gap + 1 or 2 * gap apart (one new play can bridge them), or further. Each new play
    is one of: 0, 1, gap - 1, gap or gap + 1 seconds after a history session's end or before its
    start (before its start: a late play); a point between two history sessions within gap of
    both (a bridge); an exact repeat of an earlier play (same user, second and song); or a time
    anywhere on the grid, for any user, with or without history (a new user).
    """
    song = st.sampled_from(SONGS)
    steps = st.sampled_from([0, 1, gap - 1, gap, gap + 1, gap + 1, 2 * gap, 2 * gap, 2 * gap + 1, 5 * gap])
    history = []
    for user in draw(st.lists(st.sampled_from(USERS), max_size=3, unique=True)):
        t = draw(st.integers(0, 4)) * gap
        for step in draw(st.lists(steps, max_size=5)):
            history.append((user, t, *draw(song)))
            t += step
        history.append((user, t, *draw(song)))
    spans = {}
    for (user, _), found in sessions_of(history, gap).items():
        spans.setdefault(user, []).append((found[0][1], found[-1][1]))
    distances = st.sampled_from([0, 1, gap - 1, gap, gap + 1])
    new = []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["after end", "before start", "bridge", "bridge", "repeat", "anywhere"]))
        user = draw(st.sampled_from(USERS))
        mine = spans.get(user, [])
        bridgeable = [(end, start) for (_, end), (start, _) in zip(mine, mine[1:]) if start - end <= 2 * gap]
        if kind == "bridge" and bridgeable:
            end, start = draw(st.sampled_from(bridgeable))
            new.append((user, draw(st.integers(start - gap, end + gap)), *draw(song)))
        elif kind == "repeat" and history + new:
            new.append(draw(st.sampled_from(history + new)))
        elif kind != "anywhere" and mine:
            start, end = draw(st.sampled_from(mine))
            t = end + draw(distances) if kind == "after end" else start - draw(distances)
            new.append((user, t, *draw(song)))
        else:
            new.append((user, draw(st.integers(-2 * gap, 12 * gap)), *draw(song)))
    return history, draw(st.permutations(new))


def side_by_side(cases):
    """The cases' plays as one history and one batch, each case's users renamed apart
    (`<user>.<case>`)."""
    def renamed(plays, case):
        return [(f"{user}.{case}", *rest) for user, *rest in plays]
    history = [play for case, (old, _) in enumerate(cases) for play in renamed(old, case)]
    new = [play for case, (_, batch) in enumerate(cases) for play in renamed(batch, case)]
    return history, new


gaps_and_cases = st.sampled_from([60, GAP]).flatmap(
    lambda gap: st.tuples(st.just(gap), st.lists(history_and_batch(gap), min_size=4, max_size=8)))


def label(gap, history, new, expected):
    """`hypothesis.event` the cases this example holds, from the data alone."""
    old = sessions_of(history, gap)
    spans = {}
    for (user, _), found in old.items():
        spans.setdefault(user, []).append((found[0][1], found[-1][1]))
    if not history:
        event("no history")
    for user, t, *_ in new:
        if user not in spans:
            event("new user")
            continue
        if t < spans[user][-1][1]:
            event("late play (before the user's last history play)")
        if t < spans[user][0][0] - gap:
            event("late play more than gap before all of the user's history")
        for start, end in spans[user]:
            for name, distance in (("gap", gap), ("gap - 1", gap - 1), ("gap + 1", gap + 1)):
                if t - end == distance:
                    event(f"within gap of a session end: exactly {name} after it")
                if start - t == distance:
                    event(f"exactly {name} before a session start")
    new_key = {p: key for key, found in sessions_of(history + new, gap).items() for p in found}
    merged = {}
    for key, found in old.items():
        merged.setdefault(new_key[found[0]], set()).add(key)
    if any(len(keys) > 1 for keys in merged.values()):
        event("bridge (one session holds two history sessions)")
    if any(new_key[found[0]] != key for key, found in old.items()):
        event("history sessions renumbered")
    if any(dups for *_, dups in expected):
        event("duplicate in same second")
    if set(history) & set(new):
        event("duplicate in same second: a new play repeats a history play")


def update_of(spark, sessions, history, new, gap):
    """`sessions` (of the `history` plays, batch 1) updated with the `new` plays (batch 2)."""
    new_plays = plays_frame(spark, new, batch=2)
    bounds = session_bounds(sessions, new_plays, gap)
    return updated_sessions(plays_frame(spark, history).unionByName(new_plays), sessions, bounds, gap, since_batch=1)


# --- the property ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.e2e  # Spark functions of each line: CI runs it on 3.5 and 4.0 too
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gap_and_cases=gaps_and_cases)
def test_updated_sessions_equal_a_plain_python_sessionization_of_all_plays(spark, gap_and_cases):
    gap, cases = gap_and_cases
    for old, batch in cases:
        label(gap, old, batch, model_sessions(old + batch, gap))
    history, new = side_by_side(cases)
    expected = model_sessions(history + new, gap)
    sessions = sessions_frame(spark, model_sessions(history, gap))
    updated = update_of(spark, sessions, history, new, gap)
    assert [(f.name, f.dataType) for f in updated.schema] == [(f.name, f.dataType) for f in SESSIONS]
    epoch = int(EPOCH.timestamp())
    got = sorted(  # collected timestamps are naive local time: .timestamp() reads them back as such
        (r.user_id, r.session_number, r.session_id, int(r.session_start.timestamp()) - epoch,
         int(r.session_end.timestamp()) - epoch, r.play_count, r.duplicate_plays)
        for r in updated.collect()
    )
    assert got == expected


# --- examples by hand -----------------------------------------------------------------------


def minutes(m, s=0):
    return m * 60 + s


def session(user, number, start, end, count, dups=0):
    return (user, number, f"{user}/{number}", when(start), when(end), count, dups)


def update(spark, history_sessions, history, new, gap=GAP):
    return update_of(spark, local_frame(spark, history_sessions, SESSIONS), history, new, gap)


def test_a_late_play_bridges_two_sessions_and_the_later_ones_are_renumbered(spark):
    history = [("u1", minutes(0), "A", "x"), ("u1", minutes(10), "A", "x"),
               ("u1", minutes(40), "A", "x"), ("u1", minutes(45), "A", "x"),
               ("u1", minutes(100), "A", "x"),
               ("u2", minutes(30), "B", "y")]
    history_sessions = [session("u1", 1, minutes(0), minutes(10), 2), session("u1", 2, minutes(40), minutes(45), 2),
                        session("u1", 3, minutes(100), minutes(100), 1), session("u2", 1, minutes(30), minutes(30), 1)]
    # 15 min after session 1's end and before session 2's start: one session; 3 becomes 2
    new = [("u1", minutes(25), "B", "y")]
    expected = spark.createDataFrame(
        [session("u1", 1, minutes(0), minutes(45), 5), session("u1", 2, minutes(100), minutes(100), 1),
         session("u2", 1, minutes(30), minutes(30), 1)],
        SESSIONS,
    )
    assert_df_equality(update(spark, history_sessions, history, new), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_a_new_user_gets_sessions_from_one_and_the_others_are_kept(spark):
    history = [("u1", minutes(0), "A", "x"), ("u1", minutes(5), "A", "x")]
    history_sessions = [session("u1", 1, minutes(0), minutes(5), 2)]
    new = [("u2", minutes(0), "A", "x"), ("u2", minutes(0), "A", "x"), ("u2", minutes(0), "B", "x"),
           ("u2", minutes(30), "A", "x")]
    expected = spark.createDataFrame(
        [session("u1", 1, minutes(0), minutes(5), 2),
         session("u2", 1, minutes(0), minutes(0), 3, dups=1), session("u2", 2, minutes(30), minutes(30), 1)],
        SESSIONS,
    )
    assert_df_equality(update(spark, history_sessions, history, new), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_a_play_exactly_gap_after_a_session_end_joins_it_and_one_second_more_does_not(spark):
    history = [("u1", minutes(0), "A", "x"), ("u1", minutes(5), "A", "x"), ("u2", minutes(0), "A", "x")]
    history_sessions = [session("u1", 1, minutes(0), minutes(5), 2), session("u2", 1, minutes(0), minutes(0), 1)]
    new = [("u1", minutes(25), "A", "x"), ("u2", minutes(20, 1), "A", "x")]
    expected = spark.createDataFrame(
        [session("u1", 1, minutes(0), minutes(25), 3),
         session("u2", 1, minutes(0), minutes(0), 1), session("u2", 2, minutes(20, 1), minutes(20, 1), 1)],
        SESSIONS,
    )
    assert_df_equality(update(spark, history_sessions, history, new), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_a_repeat_of_a_held_play_is_found_in_the_held_plays_the_caller_looked_up(spark):
    history = [("u1", minutes(0), "A", "x"), ("u1", minutes(5), "B", "x")]
    history_sessions = [session("u1", 1, minutes(0), minutes(5), 2)]
    new = [("u1", minutes(0), "A", "x"), ("u1", minutes(0), "B", "x"), ("u1", minutes(30), "A", "x")]
    sessions = local_frame(spark, history_sessions, SESSIONS)
    new_plays = plays_frame(spark, new, batch=2)
    plays = plays_frame(spark, history).unionByName(new_plays)
    bounds = session_bounds(sessions, new_plays, GAP)

    def updated(held_plays):
        return updated_sessions(plays, sessions, bounds, GAP, since_batch=1, held_plays=held_plays)

    # the new (u1, 0:00, A/x) repeats the held one: 4 plays of which 1 a duplicate
    expected = spark.createDataFrame(
        [session("u1", 1, minutes(0), minutes(5), 4, dups=1), session("u1", 2, minutes(30), minutes(30), 1)], SESSIONS)
    looked_up = plays_frame(spark, [("u1", minutes(0), "A", "x")])  # the held plays at the new plays' seconds
    assert_df_equality(updated(looked_up), expected, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(updated(None), expected, ignore_row_order=True, ignore_nullable=True)
    # the update counts against what it is given: no held play given, no repeat of one found
    none_held = spark.createDataFrame(
        [session("u1", 1, minutes(0), minutes(5), 4), session("u1", 2, minutes(30), minutes(30), 1)], SESSIONS)
    assert_df_equality(updated(looked_up.limit(0)), none_held, ignore_row_order=True, ignore_nullable=True)
