"""The whole job: raw TSV -> Delta tables -> the single-TSV deliverable.

This is the one module that composes the others. Each stage writes a Delta table and the
next stage reads it back, so every intermediate result is inspectable and versioned.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone

from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from lastfm import parsing, profiling, quality, reading, report, schemas, writing
from lastfm import sessions as sessions_module
from lastfm.config import TABLES, JobConfig
from lastfm.errors import DataQualityError, UsageError
from lastfm.parsing import parse_lines, rejected_lines, valid_plays
from lastfm.lineage import commit_note, input_fingerprint, noted_fingerprint, noted_profile
from lastfm.rankings import plays_in_sessions, song_play_counts, top_sessions, top_tracks
from lastfm.reading import input_files, latest_commit, read_lines, read_table, recorded_or_computed_md5
from lastfm.schemas import OUTPUT_COLUMNS, RANK, SESSION_END, SESSION_START, TS, USER_ID
from lastfm.sessions import build_sessions
from lastfm.writing import TableVersion, write_single_tsv, write_table, write_text

log = logging.getLogger(__name__)
CONSTRAINTS = quality.TABLE_CONSTRAINTS
# The write that observes the input has finished when the metrics are asked for: they are due at
# once, and a wait this long means they are lost.
OBSERVATION_TIMEOUT_SECONDS = 120
# Delta keeps per-file min/max statistics of the first 32 columns by default; plays is only ever
# filtered on these two (the top sessions' users and times), and statistics on the names and
# MBIDs cost ~15% of the parse's CPU (measured).
PLAYS_PROPERTIES = {"delta.dataSkippingStatsColumns": f"{USER_ID},{TS}"}


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


def check_reject_fraction(valid: int, rejected: int, config: JobConfig, rejects_path: str) -> list[str]:
    """Raise if the input is unusable (no valid row) or rejects too many lines; with --warn-only
    the second is logged and returned, for the run summary."""
    total = valid + rejected
    if valid == 0:
        raise UsageError(f"no valid rows in input {config.input}: all {total} lines rejected (see {rejects_path})")
    fraction = rejected / total
    if fraction <= config.max_reject_fraction:
        return []
    message = (f"{rejected} of {total} lines rejected ({fraction:.4%}) in {config.input}, above "
               f"--max-reject-fraction {config.max_reject_fraction} (see {rejects_path})")
    if not config.warn_only:
        raise DataQualityError(message)
    log.warning("%s (--warn-only)", message)
    return [message]


def check_input(plays, profile: dict, config: JobConfig) -> list[str]:
    """The input expectations (quality.py) on the plays table and its profile; the failures
    are raised, or with --warn-only returned."""
    found = quality.validate_plays_schema(plays)
    found += quality.validate_facts("input", quality.input_expectations(config, datetime.now(timezone.utc)),
                                    quality.input_facts(profile))
    return quality.enforce(found, "input", config.warn_only)


def ranked_rows(top) -> list[dict]:
    """The top tracks as OUTPUT_COLUMNS dicts, in rank order."""
    return [row.asDict() for row in top.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]


def check_output(top, top_rows: list[dict], plays, longest, config: JobConfig, rows_read: int) -> tuple[list[str], dict]:
    """The output expectations on the top tracks (`top`, at most M rows, and the same as
    `top_rows`: what the top_tracks table and the deliverable get), their songs recounted from
    `plays` in the `longest` sessions, and the known-answer check when the input is the real
    file: (failures, known-answer result)."""
    found = quality.validate_output(quality.checked_output(top, plays, longest))
    # fewer than M rows is right only when the top sessions hold fewer than M songs: counted
    # then, and only then (M rows leave no shortfall to find)
    songs = config.top_tracks if len(top_rows) == config.top_tracks else \
        plays.transform(plays_in_sessions(longest)).transform(song_play_counts).count()
    found += quality.validate_facts("output", quality.output_expectations(config),
                                    quality.output_facts(len(top_rows), songs, config))
    answer = quality.known_answer_check(config, rows_read, lambda: recorded_or_computed_md5(top.sparkSession, config.input), top_rows)
    if answer["checked"] and not answer["matches"]:
        found.append(f"not the published answer for the real file: {'; '.join(answer['differences'])}")
    return quality.enforce(found, "output", config.warn_only), answer


def profile_rows(spark: SparkSession, profile: dict):
    """The profile as the `profile` table's rows (one per metric)."""
    return spark.createDataFrame(profiling.flatten(profile), profiling.PROFILE)


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


def parse_input(spark: SparkSession, config: JobConfig, fingerprint: str) -> tuple[TableVersion, TableVersion, dict]:
    """Parse the input into the plays and rejects tables: (plays, rejects, input profile).

    One pass over the input writes `plays` and, on the way, observes the input profile
    (profiling.observe_input), which counts the rejected lines. Only when there are any does a
    second pass write them to `rejects`; the counts written must be the counts observed.
    """
    path = config.table_path
    observation = Observation("input")
    parsed = read_lines(spark, config.input).transform(parse_lines)
    plays = write_table(valid_plays(profiling.observe_input(parsed, observation)), path("plays"), note=commit_note(fingerprint),
                        constraints=CONSTRAINTS["plays"], properties=PLAYS_PROPERTIES)
    metrics = profiling.observed(observation, OBSERVATION_TIMEOUT_SECONDS)
    if metrics is None:
        log.warning("the parse's observed metrics did not arrive within %d s: profiling the input by another pass",
                    OBSERVATION_TIMEOUT_SECONDS)
        metrics = profiling.aggregate_input(parsed)
    profile = profiling.input_profile(metrics, profiling.time_metrics(read_table(spark, path("plays"))))
    counts = profile["rows"]
    lines = rejected_lines(parsed) if counts["rejected"] else spark.createDataFrame([], schemas.REJECTS)
    rejects = write_table(lines, path("rejects"), note=commit_note(fingerprint, profile), constraints=CONSTRAINTS["rejects"])
    if (plays.rows, rejects.rows) != (counts["valid"], counts["rejected"]):
        raise RuntimeError(f"parse of {config.input} wrote {plays.rows} plays and {rejects.rows} rejects to "
                           f"{config.warehouse}, observed {counts}")
    return plays, rejects, profile


# Everything that shapes `plays`, `rejects` and the input profile: a change to any of it means a
# fresh parse (lineage.py).
PARSE_CODE = (parsing, schemas, profiling, reading, writing, parse_input, PLAYS_PROPERTIES,
              CONSTRAINTS["plays"], CONSTRAINTS["rejects"])


# Everything that shapes `sessions` from `plays` (the gap and the plays version are noted apart).
SESSIONS_CODE = (sessions_module, schemas, writing, CONSTRAINTS["sessions"])


def sessions_fingerprint(plays: TableVersion, gap_seconds: int) -> str:
    """The fingerprint of the sessions of this version of `plays` under this gap (lineage.py)."""
    return input_fingerprint([(plays.path, plays.version, gap_seconds)], code=SESSIONS_CODE)


def reusable_table(spark: SparkSession, uri: str, fingerprint: str) -> TableVersion | None:
    """The latest version of the table at `uri` when its commit notes `fingerprint`, else None."""
    commit = latest_commit(spark, uri)
    if commit is None or noted_fingerprint(commit["userMetadata"]) != fingerprint:
        return None
    return TableVersion(uri, commit["version"], commit["rows"])


def reusable_parse(spark: SparkSession, fingerprint: str, plays_uri: str, rejects_uri: str):
    """(plays, rejects, input profile) when the latest commit of both tables is the parse of the
    input with this fingerprint (lineage.py), else None: the input must be parsed again."""
    commits = [latest_commit(spark, uri) for uri in (plays_uri, rejects_uri)]
    if any(c is None or noted_fingerprint(c["userMetadata"]) != fingerprint for c in commits):
        return None
    profile = noted_profile(commits[1]["userMetadata"])
    # reusable only once verified: the rows each commit wrote are the rows the parse observed
    # (parse_input raises when they differ, after both commits are made)
    if profile is None or (commits[0]["rows"], commits[1]["rows"]) != (profile["rows"]["valid"], profile["rows"]["rejected"]):
        return None
    plays, rejects = (TableVersion(uri, c["version"], c["rows"]) for uri, c in zip((plays_uri, rejects_uri), commits))
    return plays, rejects, profile


def run(spark: SparkSession, config: JobConfig) -> dict:
    """Run the job once; return the run summary (counts, timings, table versions, output).

    Each stage's result is computed once: the small ones (the top sessions, the top tracks) are
    cached and feed their table, the checks, the summary and the deliverable alike. The Delta
    writes of the small tables, which nothing later reads, and the drawing of the report run in
    the background beside the next stages; all finish before any file is written.
    """
    started, clock = time.time(), Stopwatch()
    path = config.table_path
    files = input_files(spark, config.input)
    fingerprint = input_fingerprint(files, code=PARSE_CODE)
    with clock.stage("parse"):
        reused = reusable_parse(spark, fingerprint, path("plays"), path("rejects"))
        if reused:
            log.info("input unchanged (fingerprint %s): reusing plays v%d and rejects v%d",
                     fingerprint[:12], reused[0].version, reused[1].version)
        plays_written, rejects_written, input_profile = reused or parse_input(spark, config, fingerprint)
    warnings = check_reject_fraction(plays_written.rows, rejects_written.rows, config, path("rejects"))

    plays = read_table(spark, path("plays"))
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="background") as background:
        with clock.stage("sessions"):
            # the same plays under the same gap (a re-run for another top-N): the same sessions
            noted = sessions_fingerprint(plays_written, config.session_gap_seconds)
            sessions_reused = reusable_table(spark, path("sessions"), noted)
            sessions_written = sessions_reused or write_table(
                plays.transform(build_sessions(config.session_gap_seconds)), path("sessions"), note=commit_note(noted),
                constraints=CONSTRAINTS["sessions"])
            sessions = read_table(spark, path("sessions"))
        with clock.stage("check_input"):
            profile = {**input_profile, **profiling.user_profile(sessions)}
            warnings += check_input(plays, profile, config)
        with clock.stage("top_sessions"):
            longest = sessions.transform(top_sessions(config.top_sessions)).cache()
            top_session_list = top_session_rows(longest)
            top_sessions_written = background.submit(write_table, longest, path("top_sessions"),
                                                     constraints=CONSTRAINTS["top_sessions"])
        with clock.stage("top_tracks"):
            top = plays.transform(plays_in_sessions(longest)).transform(top_tracks(config.top_tracks)).cache()
            top_rows = ranked_rows(top)
            top_tracks_written = background.submit(write_table, top, path("top_tracks"), constraints=CONSTRAINTS["top_tracks"])
        with clock.stage("check_output"):
            found, known_answer = check_output(top, top_rows, plays, longest, config, plays_written.rows + rejects_written.rows)
            warnings += found
        with clock.stage("profile_report"):
            profile["sessions"] = profiling.session_profile(sessions)
            profile_written = background.submit(write_table, profile_rows(spark, profile), path("profile"),
                                                constraints=CONSTRAINTS["profile"])
            summary = {
                "run_at": iso_instant(int(started)),
                "input": config.input,
                "input_files": len(files),
                "input_bytes": sum(size for _, size, _ in files),
                "input_fingerprint": fingerprint,
                "plays_reused": bool(reused),
                "sessions_reused": bool(sessions_reused),
                "rows_read": plays_written.rows + rejects_written.rows,
                "rows_valid": plays_written.rows,
                "rows_rejected": rejects_written.rows,
                "sessions": sessions_written.rows,
                "users": profile["users"],
                "duplicate_plays": profile["duplicate_plays"],
                "config": asdict(config),
                "stage_seconds": clock.seconds,
                "output": config.output,
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
            written = (plays_written, rejects_written, sessions_written,
                       *(w.result() for w in (top_sessions_written, top_tracks_written, profile_written)))
            page = drawn.result()
            if page is None:
                summary["report"], summary["report_skipped"] = None, REPORT_SKIPPED
            summary["tables"] = {name: {"path": w.path, "version": w.version} for name, w in zip(TABLES, written)}
    # Every file is rendered before any is written, so a failure up to here leaves the earlier
    # run's files as they were; the side files go first and the deliverable, which a reader
    # takes as the sign of a finished run, last.
    with clock.stage("deliverable"):
        write_text(spark, json.dumps(profile, indent=2) + "\n", summary["profile"])
        if page is not None:
            write_text(spark, page, summary["report"])
        write_text(spark, json.dumps(summary, indent=2, default=str) + "\n", summary["run_summary"])
        write_single_tsv(top, config.output)  # the rows check_output passed and top_tracks holds
    return summary


def bare_top_tracks(spark: SparkSession, input_uri: str, gap_seconds: int, sessions: int, tracks: int) -> list[dict]:
    """The job's answer from its transforms alone, as OUTPUT_COLUMNS dicts in rank order: no
    table written, no rejects, checks or profile; the input is parsed twice (for the sessions,
    then for their songs). What Spark itself costs for the question, for the benchmark
    (scripts/spark_bare.py); not a way to run the job."""
    plays = valid_plays(read_lines(spark, input_uri).transform(parse_lines))
    longest = plays.transform(build_sessions(gap_seconds)).transform(top_sessions(sessions))
    longest = spark.createDataFrame(longest.collect(), longest.schema)  # N rows, kept rather than recomputed
    ranked = plays.transform(plays_in_sessions(longest)).transform(top_tracks(tracks))
    return [row.asDict() for row in ranked.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]
