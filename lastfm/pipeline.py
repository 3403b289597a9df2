"""The whole job: raw TSV -> Delta tables -> the single-TSV deliverable.

This is the one module that composes the others. Each stage writes a Delta table and the
next stage reads it back, so every intermediate result is inspectable and versioned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lastfm import bookkeeping, ingest, tables
from lastfm.bookkeeping import RunRecord
from lastfm.config import JobConfig
from lastfm.errors import DataQualityError, UsageError
from lastfm.ingest import Ingested
from lastfm.quality import checks, profiling, report
from lastfm.question import sessions as sessions_module
from lastfm.question.rankings import plays_in_sessions, top_sessions, top_tracks
from lastfm.question.session_update import recomputed_sessions, replaced_sessions, session_bounds
from lastfm.question.sessions import build_sessions
from lastfm.schemas import (
    BATCH,
    OUTPUT_COLUMNS,
    PROFILE,
    RANK,
    SESSION_END,
    SESSION_START,
)
from lastfm.storage.reading import latest_commit, path_exists, read_table
from lastfm.storage.writing import remove_stale_staging, replace_rows, write_single_tsv, write_table, write_text

log = logging.getLogger(__name__)


class Stopwatch:
    """Wall time per named stage, in the order the stages ran."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        log.info("stage %s ...", name)
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        log.info("stage %s done in %.1f s", name, self.seconds[name])


def ranked_rows(top) -> list[dict]:
    """The top tracks as OUTPUT_COLUMNS dicts, in rank order."""
    return [row.asDict() for row in top.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]


def profile_rows(spark: SparkSession, profile: dict):
    """The profile as the `profile` table's rows (one per metric)."""
    return spark.createDataFrame(profiling.flatten(profile), PROFILE)


def draw_report(summary: dict, profile: dict) -> str | None:
    """report.html's page, drawn from what run_summary.json and profile.json hold; None, with the
    reason logged, where the driver has no matplotlib."""
    try:
        return report.render_run(summary, profile)
    except ModuleNotFoundError as missing:
        if missing.name != "matplotlib":
            raise
        log.warning("%s", REPORT_SKIPPED)
        return None


REPORT_SKIPPED = ("report.html not drawn: matplotlib is not installed on the driver; every other file is written, "
                  "and `python scripts/render_report.py <folder of run_summary.json and profile.json>` draws it later")


def top_session_rows(longest) -> list[dict]:
    """The top sessions in rank order, times as UTC ISO strings (epoch seconds, so that neither
    the session's nor the driver's time zone shifts them)."""
    times = {c: F.unix_timestamp(c) for c in (SESSION_START, SESSION_END)}
    rows = [r.asDict() for r in longest.withColumns(times).orderBy(RANK).collect()]
    return [{**r, **{c: iso_instant(r[c]) for c in times}} for r in rows]


def iso_instant(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime(report.ISO)


# Deletion vectors (Delta 2.4+; a table feature: reader 3, writer 7, which Delta 3.3, 4.0, 4.4 and
# delta-rs 1.x read): an update's MERGE marks the replaced sessions in a bitmap instead of
# rewriting the files that hold them.
SESSIONS_PROPERTIES = {"delta.enableDeletionVectors": "true"}


def build_or_update_sessions(spark: SparkSession, config: JobConfig, ingested: Ingested, runs: list[dict],
                             run: RunRecord):
    """The `sessions` of the plays the run answers from: (the sessions, reused, the state they were
    reused or updated from: (batch, rules), or None when built anew).

    Reused when the runs say they hold the plays of this batch under these rules; in an
    incremental run whose sessions hold an earlier batch under these rules, updated for the users
    with plays in the batches since (question/session_update.py); else built from all plays, after
    a `rebuilding` row (bookkeeping.py). An --as-of-version run builds them in memory and writes no
    table."""
    gap, path = config.session_gap_seconds, config.table_path
    plays = read_table(spark, path("plays"), ingested.plays.version if config.as_of_version is not None else None)
    if config.as_of_version is not None:
        return plays.transform(build_sessions(gap)).cache(), False, None
    rules = sessions_module.rules(gap)
    state = bookkeeping.sessions_state(runs) if DeltaTable.isDeltaTable(spark, path("sessions")) else None
    if state == (ingested.batch, rules) and not ingested.rebuilt:
        run.sessions_batch, run.sessions_rules = state
        return read_table(spark, path("sessions")), True, state
    if (config.incremental and state is not None and state[1] == rules and state[0] < ingested.batch
            and not ingested.rebuilt):
        sessions = read_table(spark, path("sessions"))
        bounds = session_bounds(sessions, plays.where(F.col(BATCH) > state[0]), gap)
        if not bounds:  # the batches since added no valid play
            run.sessions_batch, run.sessions_rules = ingested.batch, rules
            return sessions, True, state
        log.info("updating the sessions of %d users with the plays of batches %d-%d", len(bounds), state[0] + 1,
                 ingested.batch)
        replaced, condition = replaced_sessions(spark, bounds)
        # cached: the MERGE reads its source twice (to find the rows it replaces, then to write)
        # the held plays the repeats check looked up, where they are those of the new plays' seconds
        held = ingested.held if state[0] == ingested.batch - 1 else None
        recomputed = recomputed_sessions(plays, sessions, bounds, gap, state[0], held).cache()
        try:
            written = replace_rows(path("sessions"), recomputed, replaced, condition)
        finally:
            recomputed.unpersist()
        updated_from = state
    else:
        bookkeeping.mark_rebuilding(spark, config, run)
        # in time order, so that an update's MERGE reads only the files of its late sessions
        built = plays.transform(build_sessions(gap)).repartitionByRange(SESSION_START)
        written = write_table(built, path("sessions"), constraints=tables.SESSIONS.constraints,
                              properties=SESSIONS_PROPERTIES)
        updated_from = None
    run.written["sessions"] = written.version
    run.sessions_batch, run.sessions_rules = ingested.batch, rules
    return read_table(spark, path("sessions")), False, updated_from


def kept_answer(spark: SparkSession, config: JobConfig, runs: list[dict], sessions_from: tuple[int, str] | None,
                longest: DataFrame) -> DataFrame | None:
    """The top tracks of the run that answered last, where they are this run's answer without a play
    read: that run passed its checks on the same question from the sessions this run's were updated
    from (bookkeeping.answer_to_keep), the tables still hold its top sessions and tracks (called
    before this run writes them), and its top sessions are `longest`, row for row. Exact: the plays
    since were appended only (else the sessions are built anew), and a session's plays are its
    user's from its start to its end, so the same sessions with the same counts hold the same
    plays. None otherwise."""
    row = bookkeeping.answer_to_keep(runs, config, sessions_from) if sessions_from is not None else None
    versions = {name: row["table_versions"].get(name) for name in ("top_sessions", "top_tracks")} if row else {}
    if not versions or any((latest_commit(spark, config.table_path(name)) or {}).get("version") != version
                           for name, version in versions.items()):
        return None
    before = read_table(spark, config.table_path("top_sessions"), versions["top_sessions"]).select(*longest.columns)
    if sorted(before.collect()) != sorted(longest.collect()):
        return None
    tracks = read_table(spark, config.table_path("top_tracks"), versions["top_tracks"])
    return spark.createDataFrame(tracks.collect(), tracks.schema)  # held: this run writes the table anew


def run(spark: SparkSession, config: JobConfig) -> dict:
    """Run the job once, and append its row to the `runs` table whether it succeeds or fails;
    return the run summary (counts, timings, table versions, output). A run that refused an input
    file (or retries one that did) raises DataQualityError once everything else is written."""
    record = RunRecord(run_id=str(uuid.uuid4()), started_at=datetime.now(timezone.utc))
    try:
        summary = answer(spark, config, record)
    except Exception as error:
        if config.as_of_version is None:
            bookkeeping.append_run(spark, config, record, bookkeeping.FAILED, error)
        raise
    alert = summary.pop("alert")  # the run's outcome, not part of the summary it wrote
    if config.as_of_version is None:
        status = bookkeeping.QUARANTINED if alert else bookkeeping.NOTHING_NEW if summary.get("nothing_new") \
            else bookkeeping.SUCCEEDED
        bookkeeping.append_run(spark, config, record, status, DataQualityError(alert) if alert else None)
    if alert:
        raise DataQualityError(alert)
    return summary


def refuse_replay_over_daily_output(spark: SparkSession, config: JobConfig) -> None:
    """--as-of-version writes over an output that runs which ingest own only when told to."""
    summary = config.beside_output("run_summary.json")
    if config.as_of_version is None or config.replace_output or not path_exists(spark, summary):
        return
    mode = json.loads(spark.read.text(summary, wholetext=True).first()[0]).get("mode")
    if mode != "as_of":
        raise UsageError(f"--output {config.output} is the answer of the {mode} runs (see {summary}): write the "
                         "--as-of-version answer elsewhere, or pass --replace-output to replace it")


def answer(spark: SparkSession, config: JobConfig, record: RunRecord) -> dict:
    """The run itself (see `run`).

    Each stage's result is computed once: the small ones (the top sessions, the top tracks) are
    cached and feed their table, the checks, the summary and the deliverable alike. The Delta
    writes of the small tables, which nothing later reads, and the drawing of the report run in
    the background beside the next stages; all finish before any file is written.
    """
    started, clock = time.time(), Stopwatch()
    path, written = config.table_path, record.written
    refuse_replay_over_daily_output(spark, config)
    runs = bookkeeping.past_runs(spark, config) if config.as_of_version is None else []
    with clock.stage("parse"):
        if config.as_of_version is not None:
            ingested = ingest.as_of(spark, config)
        else:
            ingested = ingest.ingest(spark, config, record.run_id)
        record.files, record.added, record.batch = ingested.files, ingested.rows_added, ingested.batch
        record.duplicates, record.quarantined = list(ingested.duplicates), list(ingested.quarantined)
        record.unresolved = ingested.unresolved
        written.update(ingested.written)
    landed = bool(ingested.files or ingested.duplicates or ingested.quarantined or ingested.rows_added)
    warnings = [f"input file {p} skipped: {r}" for p, r in ingested.duplicates.items()]
    if config.incremental and not landed:
        warnings.append(bookkeeping.freshness(ingested.record.first_seen, datetime.now(timezone.utc), config))
    if ingested.unresolved:
        warnings.append(f"{len(ingested.unresolved)} input file(s) refused and not re-admitted: "
                        f"{', '.join(ingested.unresolved)} (see {path('files')})")
    for warning in warnings:
        log.warning("%s", warning)
    alert = None if config.as_of_version is not None else \
        bookkeeping.quarantine_alert(ingested.quarantined, landed, runs, config)
    input_profile, counts = ingested.profile, ingested.profile["rows"]
    if config.incremental and not landed and not ingested.rebuilt:
        # a run with nothing new whose predecessor left everything in place: nothing to redo
        previous = bookkeeping.unchanged_result(spark, config, ingested.batch, runs)
        if previous is not None and bookkeeping.sessions_state(runs) == (ingested.batch, sessions_module.rules(
                config.session_gap_seconds)):
            log.info("nothing new in %s since the last run: tables and %s unchanged", config.input, config.output)
            record.sessions_batch, record.sessions_rules = bookkeeping.sessions_state(runs)
            return {**previous, "nothing_new": True, "stage_seconds": clock.seconds, "expectation_warnings": warnings,
                    "quarantine_unresolved": ingested.unresolved, "alert": alert}
    warnings += checks.check_reject_fraction(counts["valid"], counts["rejected"], config, path("rejects"))
    if counts.get("with_replacement_character"):
        warnings.append(f"{counts['with_replacement_character']} input lines held bytes that are not UTF-8, read as "
                        "U+FFFD (rows.with_replacement_character in the profile)")

    plays = read_table(spark, path("plays"), ingested.plays.version if config.as_of_version is not None else None)
    save = config.as_of_version is None  # an --as-of-version run rebuilds the deliverable only
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="background") as background:
        with clock.stage("sessions"):
            sessions, sessions_reused, sessions_from = build_or_update_sessions(spark, config, ingested, runs, record)
            if ingested.held is not None:
                ingested.held.unpersist()
        with clock.stage("check_input"):
            profile = {**input_profile, **profiling.user_profile(sessions)}
            warnings += checks.check_input(plays, profile, config)
        with clock.stage("top_sessions"):
            longest = sessions.transform(top_sessions(config.top_sessions)).cache()
            top_session_list = top_session_rows(longest)
            kept = kept_answer(spark, config, runs, sessions_from, longest)  # before this run's tables are written
            top_sessions_written = save and background.submit(write_table, longest, path("top_sessions"),
                                                              constraints=tables.TOP_SESSIONS.constraints)
        with clock.stage("top_tracks"):
            top = (kept if kept is not None else
                   plays.transform(plays_in_sessions(longest)).transform(top_tracks(config.top_tracks))).cache()
            top_rows = ranked_rows(top)
            top_tracks_written = save and background.submit(write_table, top, path("top_tracks"),
                                                            constraints=tables.TOP_TRACKS.constraints)
        with clock.stage("check_output"):
            found, known_answer = checks.check_output(top, top_rows, plays, longest, config, counts["read"],
                                                      kept is not None)
            warnings += found
        with clock.stage("profile_report"):
            profile["sessions"] = profiling.session_profile(sessions)
            profile_written = save and background.submit(write_table, profile_rows(spark, profile), path("profile"),
                                                         constraints=tables.PROFILE.constraints)
            summary = {
                "run_at": iso_instant(int(started)),
                "run_id": record.run_id,
                "mode": config.mode,
                "input": config.input,
                "batch": ingested.batch,
                "input_files_ingested": ingested.files,
                "input_files_duplicate": ingested.duplicates,
                "input_files_quarantined": ingested.quarantined,
                "quarantine_unresolved": ingested.unresolved,
                "rows_added": ingested.rows_added,
                "plays_reused": ingested.reused,
                "sessions_reused": sessions_reused,
                "top_tracks_reused": kept is not None,
                "rows_read": counts["read"],
                "rows_valid": counts["valid"],
                "rows_rejected": counts["rejected"],
                "rows_with_replacement_character": counts.get("with_replacement_character", 0),
                "sessions": profile["sessions"]["count"],
                "users": profile["users"],
                "duplicate_plays": profile["duplicate_plays"],
                "config": asdict(config),
                "stage_seconds": clock.seconds,
                "output": config.output,
                "output_sha256": hashlib.sha256(tsv_text(top_rows).encode("utf-8")).hexdigest(),
                "top_tracks": top_rows,
                "top_sessions": top_session_list,
                "session_length_histogram": profiling.session_length_histogram(sessions),
                "expectation_warnings": warnings,
                "known_answer": known_answer,
                "profile": config.beside_output("profile.json"),
                "report": config.beside_output("report.html"),
                "run_summary": config.beside_output("run_summary.json"),
            }
            drawn = background.submit(draw_report, dict(summary), profile)
            for name, write in (("top_sessions", top_sessions_written), ("top_tracks", top_tracks_written),
                                ("profile", profile_written)):
                if write:
                    written[name] = write.result().version
            page = drawn.result()
            if page is None:
                summary["report"], summary["report_skipped"] = None, REPORT_SKIPPED
            versions = {"plays": ingested.plays.version} if not save else {
                **{name: latest_commit(spark, path(name))["version"] for name in ("plays", "rejects", "sessions")},
                **written}
            summary["tables"] = {name: {"path": path(name), "version": versions[name]}
                                 for name in tables.ANSWER_TABLES if name in versions}
    # Every file is rendered before any is written, so a failure up to here leaves the earlier
    # run's files as they were; the side files go first and the deliverable, which a reader
    # takes as the sign of a finished run, last. The summary names the deliverable it belongs to
    # (`output_sha256`): a run killed between the two leaves a summary that says so.
    with clock.stage("deliverable"):
        write_text(spark, json.dumps(profile, indent=2) + "\n", summary["profile"])
        if page is not None:
            write_text(spark, page, summary["report"])
        write_text(spark, json.dumps(summary, indent=2, default=str) + "\n", summary["run_summary"])
        write_single_tsv(top, config.output)  # the rows check_output passed and top_tracks holds
        remove_stale_staging(spark, config.output)
    summary["alert"] = alert
    return summary


def tsv_text(top_rows: list[dict]) -> str:
    """The deliverable's text, as write_single_tsv writes it (for its checksum in the summary)."""
    lines = ["\t".join(OUTPUT_COLUMNS), *("\t".join(str(row[c]) for c in OUTPUT_COLUMNS) for row in top_rows)]
    return "".join(line + "\n" for line in lines)
