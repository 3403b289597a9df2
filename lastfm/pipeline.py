"""The whole job: raw TSV -> Delta tables -> the single-TSV deliverable.

This is the one module that composes the others. Each stage writes a Delta table and the
next stage reads it back, so every intermediate result is inspectable and versioned.
"""

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone

from pyspark.sql import SparkSession

from lastfm import parsing, profiling, quality, report, schemas
from lastfm.config import JobConfig
from lastfm.errors import DataQualityError, UsageError
from lastfm.parsing import parse_lines, rejected_lines, valid_plays
from lastfm.rankings import plays_in_sessions, top_sessions, top_tracks
from lastfm.lineage import commit_note, input_fingerprint, noted_fingerprint
from lastfm.reading import input_files, latest_commit, read_lines, read_table, recorded_or_computed_md5
from lastfm.schemas import ARTIST_NAME, OUTPUT_COLUMNS, RANK, TRACK_NAME
from lastfm.sessions import build_sessions
from lastfm.writing import TableVersion, write_single_tsv, write_table, write_text

log = logging.getLogger(__name__)
CONSTRAINTS = quality.TABLE_CONSTRAINTS


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


def check_reject_fraction(valid: int, rejected: int, config: JobConfig, rejects_path: str) -> None:
    """Raise if the input is unusable (no valid row) or rejects too many lines."""
    total = valid + rejected
    if valid == 0:
        raise UsageError(f"no valid rows in input {config.input}: all {total} lines rejected (see {rejects_path})")
    fraction = rejected / total
    if fraction > config.max_reject_fraction:
        message = (f"{rejected} of {total} lines rejected ({fraction:.4%}) in {config.input}, above "
                   f"--max-reject-fraction {config.max_reject_fraction} (see {rejects_path})")
        if not config.warn_only:
            raise DataQualityError(message)
        log.warning("%s (--warn-only)", message)


def check_input(spark: SparkSession, plays, profile: dict, config: JobConfig) -> list[str]:
    """The input expectations (quality.py) on the plays table and its profile; the failures
    are raised, or with --warn-only returned."""
    found = quality.validate_plays_schema(plays)
    found += quality.validate_facts(spark, quality.input_expectations(config, datetime.now(timezone.utc)),
                                    quality.input_facts(profile), quality.INPUT_FACTS)
    return quality.enforce(found, "input", config.warn_only)


def check_output(spark: SparkSession, top, plays_in_top_sessions, config: JobConfig, rows_read: int) -> tuple[list[str], dict]:
    """The output expectations on the top_tracks table, before it becomes the deliverable, and
    the known-answer check when the input is the real file: (failures, known-answer result)."""
    rows, facts = quality.output_expectations(config)
    found = quality.failures(rows, quality.checked_output(top, plays_in_top_sessions))
    songs = plays_in_top_sessions.select(ARTIST_NAME, TRACK_NAME).distinct().count()
    found += quality.validate_facts(spark, facts, quality.output_facts(top.count(), songs, config), quality.OUTPUT_FACTS)
    top_rows = [row.asDict() for row in top.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]
    answer = quality.known_answer_check(config, rows_read, lambda: recorded_or_computed_md5(config.input), top_rows)
    if answer["checked"] and not answer["matches"]:
        found.append(f"not the published answer for the real file: {'; '.join(answer['differences'])}")
    return quality.enforce(found, "output", config.warn_only), answer


def write_profile_and_report(spark: SparkSession, profile: dict, config: JobConfig):
    """The `profile` table, profile.json and report.html beside the deliverable; the table version."""
    sessions = read_table(spark, config.table_path("sessions"))
    profile["sessions"] = profiling.session_profile(sessions)
    rows = spark.createDataFrame(profiling.flatten(profile), profiling.PROFILE)
    written = write_table(rows, config.table_path("profile"), constraints=quality.TABLE_CONSTRAINTS["profile"])
    write_text(spark, json.dumps(profile, indent=2) + "\n", config.beside_output("profile.json"))
    top_sessions_rows = [r.asDict() for r in read_table(spark, config.table_path("top_sessions")).collect()]
    top_rows = [r.asDict() for r in read_table(spark, config.table_path("top_tracks")).orderBy(RANK).collect()]
    page = report.render(profile, profiling.session_length_histogram(sessions), top_rows, top_sessions_rows,
                         config.input, datetime.now(timezone.utc))
    write_text(spark, page, config.beside_output("report.html"))
    return written


def reusable_parse(spark: SparkSession, fingerprint: str, plays_uri: str, rejects_uri: str):
    """(plays, rejects) TableVersions when the latest commit of both tables is the parse of the
    input with this fingerprint (lineage.py), else None: the input must be parsed again."""
    commits = [latest_commit(spark, uri) for uri in (plays_uri, rejects_uri)]
    if any(c is None or noted_fingerprint(c["userMetadata"]) != fingerprint for c in commits):
        return None
    return tuple(TableVersion(uri, c["version"], c["rows"]) for uri, c in zip((plays_uri, rejects_uri), commits))


def run(spark: SparkSession, config: JobConfig) -> dict:
    """Run the job once; return the run summary (counts, timings, table versions, output)."""
    clock = Stopwatch()
    path = config.table_path
    files = input_files(spark, config.input)
    fingerprint = input_fingerprint(files, code=(parsing, schemas))
    with clock.stage("parse"):
        reused = reusable_parse(spark, fingerprint, path("plays"), path("rejects"))
        if reused:
            plays_written, rejects_written = reused
            log.info("input unchanged (fingerprint %s): reusing plays v%d and rejects v%d",
                     fingerprint[:12], plays_written.version, rejects_written.version)
        else:
            parsed = read_lines(spark, config.input).transform(parse_lines)
            note = commit_note(fingerprint)
            plays_written = write_table(valid_plays(parsed), path("plays"), note=note, constraints=CONSTRAINTS["plays"])
            rejects_written = write_table(rejected_lines(parsed), path("rejects"), note=note, constraints=CONSTRAINTS["rejects"])
    check_reject_fraction(plays_written.rows, rejects_written.rows, config, path("rejects"))

    plays = read_table(spark, path("plays"))
    with clock.stage("check_input"):
        rows = (plays_written.rows, rejects_written.rows)
        profile = profiling.input_profile(plays, read_table(spark, path("rejects")), *rows)
        warnings = check_input(spark, plays, profile, config)
    with clock.stage("sessions"):
        sessions_written = write_table(
            plays.transform(build_sessions(config.session_gap_seconds)), path("sessions"), constraints=CONSTRAINTS["sessions"]
        )
    with clock.stage("top_sessions"):
        longest = read_table(spark, path("sessions")).transform(top_sessions(config.top_sessions))
        top_sessions_written = write_table(longest, path("top_sessions"), constraints=CONSTRAINTS["top_sessions"])
    with clock.stage("top_tracks"):
        in_top_sessions = plays_in_sessions(read_table(spark, path("top_sessions")))
        most_played = plays.transform(in_top_sessions).transform(top_tracks(config.top_tracks))
        top_tracks_written = write_table(most_played, path("top_tracks"), constraints=CONSTRAINTS["top_tracks"])
    with clock.stage("check_output"):
        top = read_table(spark, path("top_tracks"))
        found, known_answer = check_output(spark, top, plays.transform(in_top_sessions), config, sum(rows))
        warnings += found
    with clock.stage("deliverable"):
        write_single_tsv(top, config.output)  # the same table version check_output just passed
        top_rows = [row.asDict() for row in top.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]
    with clock.stage("profile_report"):
        profile_written = write_profile_and_report(spark, profile, config)

    written = (plays_written, rejects_written, sessions_written, top_sessions_written, top_tracks_written)
    summary = {
        "input": config.input,
        "input_files": len(files),
        "input_bytes": sum(size for _, size, _ in files),
        "input_fingerprint": fingerprint,
        "plays_reused": bool(reused),
        "rows_read": plays_written.rows + rejects_written.rows,
        "rows_valid": plays_written.rows,
        "rows_rejected": rejects_written.rows,
        "sessions": sessions_written.rows,
        "users": profile["users"],
        "duplicate_plays": profile["duplicate_plays"],
        "config": asdict(config),
        "stage_seconds": clock.seconds,
        "tables": {name: {"path": w.path, "version": w.version} for name, w in zip(("plays", "rejects", "sessions", "top_sessions", "top_tracks"), written)},
        "output": config.output,
        "top_tracks": top_rows,
        "expectation_warnings": warnings,
        "known_answer": known_answer,
        "profile": config.beside_output("profile.json"),
        "report": config.beside_output("report.html"),
        "run_summary": config.beside_output("run_summary.json"),
    }
    summary["tables"]["profile"] = {"path": profile_written.path, "version": profile_written.version}
    write_text(spark, json.dumps(summary, indent=2, default=str) + "\n", summary["run_summary"])
    return summary
