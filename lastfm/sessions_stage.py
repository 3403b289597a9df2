"""The sessions stage of a run: the `sessions` table the run answers from, built, updated or
reused, and the last answer, kept where it still stands.

`sessions` holds the plays of the batches up to some N under some rules (what the table's own
rows say, `stored_state`): the run's plan (planning.sessions_action) reuses it as it is when that
is this run's batch; in an incremental run, updates it for the users with plays in the batches
since (a MERGE of the sessions question/session_update.py recomputes); else builds it anew from
all plays. When the top sessions
after an update are those the last answering run wrote, its top tracks are this run's answer
(`kept_answer`), with no play read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lastfm import bookkeeping, planning, tables
from lastfm.config import JobConfig
from lastfm.ingest import Ingested
from lastfm.planning import Plan
from lastfm.question import sessions as sessions_module
from lastfm.question.session_update import recomputed_sessions, replaced_sessions, session_bounds
from lastfm.question.sessions import build_sessions
from lastfm.schemas import BATCH, PLAY_COUNT, RULES, SESSION_START
from lastfm.storage.reading import latest_commit, read_table
from lastfm.storage.writing import replace_rows, write_table

log = logging.getLogger(__name__)


def stored_state(spark: SparkSession, config: JobConfig, plays: DataFrame, batch: int) -> tuple[int, str] | None:
    """What `sessions` holds, read from the table itself: (the batch through which it holds every
    play of `plays`, the rules it was built by), or None: no table, one that an older version of
    the job wrote (without the state columns), or one that disagrees with `plays`.

    Every write of `sessions` stamps the rows it writes with its batch and rules (schemas.BATCH,
    schemas.RULES) in the same commit: every row of a rebuild, the rows a MERGE adds. So a run
    killed anywhere leaves the table describing itself. It holds the plays of batches up to S, the
    highest batch it carries, exactly when the plays of `plays` of those batches are as many as
    its sessions count: a rebuild of `plays` stamps all its rows with a later batch, and a file's
    rows replaced take rows of earlier batches away, so either shows as a difference. It then holds
    every play up to the batch before the next one that has plays (`batch`, the latest completed,
    when none has)."""
    uri = config.table_path(tables.SESSIONS.name)
    if not DeltaTable.isDeltaTable(spark, uri):
        return None
    sessions = read_table(spark, uri)
    if not {BATCH, RULES} <= set(sessions.columns):
        return None
    held, first_rules, last_rules, counted = sessions.agg(
        F.max(BATCH), F.min(RULES), F.max(RULES), F.sum(PLAY_COUNT)).first()
    if held is None or first_rules != last_rules:
        return None
    up_to, after = plays.agg(F.count_if(F.col(BATCH) <= held), F.min(F.when(F.col(BATCH) > held, F.col(BATCH)))).first()
    if up_to != counted:
        return None
    return (batch if after is None else after - 1), first_rules


def build_or_update_sessions(spark: SparkSession, config: JobConfig, ingested: Ingested, plays: DataFrame,
                             the_plan: Plan) -> tuple[DataFrame, bool, tuple[int, str] | None, int | None]:
    """The `sessions` of `plays`, the plays the run answers from, as the plan says (planning.py):
    (the sessions, reused, the state they were reused or updated from: (batch, rules), or None when
    built anew, the version of `sessions` written, or None).

    Reused as the table holds them; updated for the users with plays in the batches since
    `the_plan.sessions_from` (question/session_update.py: reused after all when those batches
    added no valid play); or built from all plays. An --as-of-version run computes them and
    writes no table (the run caches them)."""
    gap, path = config.session_gap_seconds, config.table_path
    if the_plan.sessions == planning.COMPUTE:
        return plays.transform(build_sessions(gap)), False, None, None
    rules = sessions_module.rules(gap)
    stamp = {BATCH: F.lit(ingested.batch).cast("long"), RULES: F.lit(rules)}
    state = (the_plan.sessions_from, rules)
    if the_plan.sessions == planning.REUSE:
        return read_table(spark, path("sessions")), True, state, None
    if the_plan.sessions == planning.UPDATE:
        sessions = read_table(spark, path("sessions"))
        bounds = session_bounds(sessions, plays.where(F.col(BATCH) > state[0]), gap)
        if not bounds:  # the batches since added no valid play
            return sessions, True, state, None
        log.info("updating the sessions of %d users with the plays of batches %d-%d", len(bounds), state[0] + 1,
                 ingested.batch)
        replaced, condition = replaced_sessions(spark, bounds)
        # cached: the MERGE reads its source twice (to find the rows it replaces, then to write)
        # the held plays the repeats check looked up, where they are those of the new plays' seconds
        held = ingested.held if state[0] == ingested.batch - 1 else None
        recomputed = recomputed_sessions(plays, sessions, bounds, gap, state[0], held).withColumns(stamp).cache()
        try:
            written = replace_rows(path("sessions"), recomputed, replaced, condition)
        finally:
            recomputed.unpersist()
        updated_from = state
    else:
        # in time order, so that an update's MERGE reads only the files of its late sessions
        built = plays.transform(build_sessions(gap)).withColumns(stamp).repartitionByRange(SESSION_START)
        written = write_table(built, path("sessions"), constraints=tables.SESSIONS.constraints,
                              properties=tables.SESSIONS.properties)
        updated_from = None
    return read_table(spark, path("sessions")), False, updated_from, written.version


@dataclass(frozen=True)
class KeptAnswer:
    top_tracks: DataFrame
    versions: dict[str, int]  # the versions of `top_sessions` and `top_tracks` that hold it


def kept_answer(spark: SparkSession, config: JobConfig, runs: list[dict], sessions_from: tuple[int, str] | None,
                longest: DataFrame) -> KeptAnswer | None:
    """The answer of the run that answered last, where it is this run's without a play read: that
    run passed its checks on the same question from the sessions this run's were updated from
    (bookkeeping.answer_to_keep), the tables still hold its top sessions and tracks (nothing wrote
    them since), and its top sessions are `longest`, row for row. Exact: the plays since were
    appended only (else the sessions are built anew), and a session's plays are its user's from its
    start to its end, so the same sessions with the same counts hold the same plays. The run then
    writes neither table: its row names the versions it kept, for the next run to keep them too.
    None otherwise."""
    row = bookkeeping.answer_to_keep(runs, config, sessions_from) if sessions_from is not None else None
    versions = {name: row["table_versions"].get(name) for name in ("top_sessions", "top_tracks")} if row else {}
    if not versions or any((latest_commit(spark, config.table_path(name)) or {}).get("version") != version
                           for name, version in versions.items()):
        return None
    before = read_table(spark, config.table_path("top_sessions"), versions["top_sessions"]).select(*longest.columns)
    if sorted(before.collect()) != sorted(longest.collect()):
        return None
    return KeptAnswer(read_table(spark, config.table_path("top_tracks"), versions["top_tracks"]), versions)
