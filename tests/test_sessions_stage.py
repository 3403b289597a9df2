"""What `sessions` holds, read from the table itself (sessions_stage.stored_state), on tables
written by hand: the rows' batch and rules, checked against the plays of those batches."""

from datetime import datetime

from lastfm import sessions_stage
from lastfm.config import JobConfig
from lastfm.schemas import PLAYS, SESSIONS, SESSIONS_TABLE
from lastfm.storage.reading import read_table
from lastfm.storage.writing import write_table

RULES = "v1 gap=1200s"


def at(minute):
    return datetime(2009, 5, 4, 10, minute)


def play(user, minute, batch):
    return (user, at(minute), None, "a", None, "t", f"day{batch}.tsv", batch)


def session(user, number, first, last, count, batch, rules=RULES):
    return (user, number, f"{user}/{number}", at(first), at(last), count, 0, batch, rules)


def state(spark, tmp_path, plays, sessions, batch, schema=SESSIONS_TABLE):
    config = JobConfig(input="in", output=str(tmp_path / "top.tsv"), warehouse=str(tmp_path / "wh"))
    write_table(spark.createDataFrame(plays, PLAYS), config.table_path("plays"))
    write_table(spark.createDataFrame(sessions, schema), config.table_path("sessions"))
    return sessions_stage.stored_state(spark, config, read_table(spark, config.table_path("plays")), batch)


# two days: u1's plays at 0 and 5 (batch 0) and at 30 (batch 1)
PLAYS_ROWS = [play("u1", 0, 0), play("u1", 5, 0), play("u1", 30, 1)]


def test_the_sessions_say_the_batch_they_hold_and_the_rules_they_were_built_by(spark, tmp_path):
    both = [session("u1", 1, 0, 5, 2, 0), session("u1", 2, 30, 30, 1, 1)]
    assert state(spark, tmp_path / "a", PLAYS_ROWS, both, batch=1) == (1, RULES)
    # they hold day 0 only: a daily run updates them from batch 0 (a later empty batch changes nothing)
    assert state(spark, tmp_path / "b", PLAYS_ROWS, both[:1], batch=1) == (0, RULES)
    assert state(spark, tmp_path / "c", PLAYS_ROWS[:2], both[:1], batch=3) == (3, RULES)


def test_sessions_that_disagree_with_plays_hold_nothing_known(spark, tmp_path):
    # plays rebuilt by a full run: every row stamped with its batch, 2
    rebuilt = [(*p[:-1], 2) for p in PLAYS_ROWS]
    assert state(spark, tmp_path / "a", rebuilt, [session("u1", 1, 0, 5, 2, 0)], batch=2) is None
    # a file's rows replaced: batch 0's plays are fewer than the sessions of batch 0 count
    assert state(spark, tmp_path / "b", PLAYS_ROWS[1:], [session("u1", 1, 0, 5, 2, 0)], batch=1) is None
    # rows of two rules (a table no run leaves), and a table of the layout before these columns
    mixed = [session("u1", 1, 0, 5, 2, 0), session("u1", 2, 30, 30, 1, 1, rules="v1 gap=60s")]
    assert state(spark, tmp_path / "c", PLAYS_ROWS, mixed, batch=1) is None
    old = [row[:7] for row in [session("u1", 1, 0, 5, 2, 0)]]
    assert state(spark, tmp_path / "d", PLAYS_ROWS[:2], old, batch=0, schema=SESSIONS) is None
