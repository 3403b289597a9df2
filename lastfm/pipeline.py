"""The whole job: raw TSV -> Delta tables -> the single-TSV deliverable.

This is the one module that composes the others, and it reads as the table of contents of a
run: `answer` calls one function per stage, in the order they run; what a stage does lives in the
module of its idea (ingest, sessions_stage, question/, quality/, summary, storage/). Each stage
writes a Delta table and the next stage reads it back, so every intermediate result is
inspectable and versioned.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from lastfm import bookkeeping, ingest, planning, sessions_stage, tables
from lastfm.bookkeeping import RunRecord
from lastfm.config import JobConfig
from lastfm.errors import DataQualityError
from lastfm.ingest import Ingested
from lastfm.planning import Held, Plan
from lastfm.quality import checks, profiling, report
from lastfm.question.rankings import plays_in_sessions, top_sessions, top_tracks
from lastfm.question.sessions import rules
from lastfm.storage.reading import cached, input_files, latest_commit, path_exists, qualified, read_table
from lastfm.storage.record import profile_of, read_record
from lastfm.storage.writing import remove_stale_staging, write_single_tsv, write_table, write_text
from lastfm.summary import RunSummary, Stopwatch, ranked_rows, top_session_rows


def run(spark: SparkSession, config: JobConfig) -> RunSummary:
    """Run the job once, and append its row to the `runs` table whether it succeeds or fails;
    return the run summary (counts, timings, table versions, output). A run that refused an input
    file (or retries one that did) raises DataQualityError once everything else is written."""
    record = RunRecord(run_id=str(uuid.uuid4()), started_at=datetime.now(timezone.utc))
    try:
        summary, alert = answer(spark, config, record)  # the alert: the run's outcome, not part of its summary
    except Exception as error:
        if config.as_of_version is None:
            bookkeeping.append_run(spark, config, record, bookkeeping.FAILED, error)
        raise
    if config.as_of_version is None:
        status = bookkeeping.QUARANTINED if alert else bookkeeping.NOTHING_NEW if summary.nothing_new \
            else bookkeeping.SUCCEEDED
        record.summary = summary  # what a later run decides "nothing new" by
        bookkeeping.append_run(spark, config, record, status, DataQualityError(alert) if alert else None)
    if alert:
        raise DataQualityError(alert)
    return summary


def answer(spark: SparkSession, config: JobConfig, record: RunRecord) -> tuple[RunSummary, str | None]:
    """The run itself (see `run`): (its summary, the line it exits 3 with, or None).

    Each stage's result is computed once: `sessions` and the small results (the top sessions, the
    top tracks) are cached until the run ends, and feed their table, the checks, the profile, the
    summary and the deliverable alike. The Delta writes of the small tables, which nothing later
    reads, and the drawing of the report run in the background beside the next stages; all finish
    before any file is written.
    """
    # Arguments
    started, clock, save = time.time(), Stopwatch(), config.as_of_version is None  # as-of: the deliverable only
    runs = bookkeeping.past_runs(spark, config)
    bookkeeping.refuse_replay_over_daily_output(spark, config, runs)
    # Read: what the warehouse holds, once; the plan; its batches
    with clock.stage("parse"):
        ingested, the_plan = parse(spark, config, record)
    warnings = bookkeeping.admission_warnings(config, ingested)
    refused = bookkeeping.refusals_to_report(ingested.record, runs) if save else {}
    record.quarantined = list(refused)  # its row says which refusals it reported
    alert = bookkeeping.quarantine_alert(refused, config)
    plays = read_table(spark, config.table_path("plays"), None if save else ingested.plays.version)
    previous = bookkeeping.unchanged_result(spark, config, ingested, runs, the_plan)
    sessions_after = (ingested.batch, rules(config.session_gap_seconds)) if save else (None, None)  # for the row
    if previous is not None:
        record.sessions_batch, record.sessions_rules = sessions_after
        return replace(previous, nothing_new=True, stage_seconds=clock.seconds, expectation_warnings=warnings,
                       quarantine_unresolved=ingested.unresolved), alert
    warnings += checks.check_parse(ingested.profile["rows"], config,
                                   [profile_of(row)["rows"] for row in ingested.record.readmitted.values()])
    # Transform, and write the small tables in the background
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=4, thread_name_prefix="background") as background:
        write, cache = table_writer(background, config, save), partial(cached, held=stack)
        with clock.stage("sessions"):
            sessions, sessions_reused, sessions_from, written = sessions_stage.build_or_update_sessions(
                spark, config, ingested, plays, the_plan)
            if written is not None:
                record.written["sessions"] = written
            record.sessions_batch, record.sessions_rules = sessions_after
            sessions = cache(sessions)  # read by four stages
            if ingested.held is not None:
                ingested.held.unpersist()
        with clock.stage("check_input"):
            profile = {**ingested.profile, **profiling.user_profile(sessions)}
            warnings += checks.check_input(plays, profile, config)
        with clock.stage("top_sessions"):
            longest = cache(sessions.transform(top_sessions(config.top_sessions)))
            top_session_list = top_session_rows(longest)
            kept = sessions_stage.kept_answer(spark, config, runs, sessions_from, longest)
            writes = {} if kept else {"top_sessions": write("top_sessions", longest)}
            record.written.update(kept.versions if kept else {})  # the answer's tables, as they stand
        with clock.stage("top_tracks"):
            top = cache(kept.top_tracks if kept else
                        plays.transform(plays_in_sessions(longest)).transform(top_tracks(config.top_tracks)))
            top_rows = ranked_rows(top)
            if not kept:
                writes["top_tracks"] = write("top_tracks", top)
        with clock.stage("check_output"):
            found, known_answer = checks.check_output(top, top_rows, plays, longest, config,
                                                      ingested.profile["rows"]["read"], kept is not None)
            warnings += found
        with clock.stage("profile_report"):
            profile["sessions"] = profiling.session_profile(sessions)
            record.profile = profile  # in the run's row
            summary = RunSummary.of_run(
                config, record.run_id, started, ingested, profile, sessions_reused=sessions_reused,
                top_tracks_reused=kept is not None, stage_seconds=clock.seconds, top_rows=top_rows,
                top_session_list=top_session_list, histogram=profiling.session_length_histogram(sessions),
                warnings=warnings, known_answer=known_answer)
            page = finish_in_background(spark, config, background, summary, profile, writes, ingested, record)
        # Write
        with clock.stage("deliverable"):
            write_files(spark, config, profile, page, summary, top)
    return summary, alert


def parse(spark: SparkSession, config: JobConfig, record: RunRecord) -> tuple[Ingested, Plan]:
    """The plays the run answers from, and the plan it carried out: the input files' the plan takes
    (ingest.py), or `plays` as of --as-of-version."""
    if config.as_of_version is not None:
        ingested, the_plan = ingest.as_of(spark, config), planning.plan(Held(), [], config)
    else:
        ingested, the_plan = ingest.ingest(spark, config, read_held(spark, config), input_files(spark, config.input),
                                           record.run_id)
    record.took(ingested)
    return ingested, the_plan


def read_held(spark: SparkSession, config: JobConfig) -> Held:
    """What the warehouse holds (planning.Held), read once at the run's start."""
    files = read_record(spark, config.table_path(tables.FILES.name))
    plays_uri = config.table_path("plays")
    plays_exist = DeltaTable.isDeltaTable(spark, plays_uri)
    sessions = sessions_stage.stored_state(spark, config, read_table(spark, plays_uri), files.completed_batch) \
        if plays_exist and files.completed_batch is not None else None
    gone = frozenset(c.path for c in files.pending if not path_exists(spark, c.path))
    return Held(files=files, sessions=sessions, plays_exist=plays_exist, gone=gone)


def plan_of(spark: SparkSession, config: JobConfig) -> Plan:
    """The plan a run would carry out now (--plan): read, never written."""
    if config.as_of_version is not None:
        return planning.plan(Held(), [], config)
    return planning.plan(read_held(spark, config), input_files(spark, config.input), config,
                         qualified(spark, config.input))


def table_writer(background: ThreadPoolExecutor, config: JobConfig, save: bool):
    """A small table's Delta write, submitted to run beside the next stages (False where no table is saved)."""
    return lambda name, rows: save and background.submit(write_table, rows, config.table_path(name),
                                                         constraints=tables.ANSWER_TABLES[name].constraints)


def finish_in_background(spark: SparkSession, config: JobConfig, background: ThreadPoolExecutor,
                         summary: RunSummary, profile: dict, writes: dict, ingested: Ingested,
                         record: RunRecord) -> str | None:
    """report.html's page (None where not drawn), once it and the tables' writes are done; the
    summary gets where the page is and the tables' versions."""
    drawn = background.submit(report.draw_report, copy.copy(summary), profile)
    for name, write in writes.items():
        if write:
            record.written[name] = write.result().version
    page = drawn.result()
    if page is None:
        summary.report, summary.report_skipped = None, report.REPORT_SKIPPED
    versions = {"plays": ingested.plays.version} if config.as_of_version is not None else {
        **{name: latest_commit(spark, config.table_path(name))["version"] for name in ("plays", "rejects", "sessions")},
        **record.written}
    summary.tables = {name: {"path": config.table_path(name), "version": versions[name]}
                      for name in tables.ANSWER_TABLES if name in versions}
    return page


def write_files(spark: SparkSession, config: JobConfig, profile: dict, page: str | None, summary: RunSummary,
                top: DataFrame) -> None:
    """profile.json, report.html, run_summary.json, then the deliverable."""
    # Every file is rendered before any is written, so a failure up to here leaves the earlier
    # run's files as they were; the side files go first and the deliverable, which a reader
    # takes as the sign of a finished run, last. The summary names the deliverable it belongs to
    # (`output_sha256`): a run killed between the two leaves a summary that says so.
    write_text(spark, json.dumps(profile, indent=2) + "\n", summary.profile)
    if page is not None:
        write_text(spark, page, summary.report)
    write_text(spark, json.dumps(summary.to_json(), indent=2, default=str) + "\n", summary.run_summary)
    write_single_tsv(top, config.output)  # the rows check_output passed and top_tracks holds
    remove_stale_staging(spark, config.output)
