"""The whole job: raw TSV -> Delta tables -> the single-TSV deliverable.

This is the one module that composes the others. Each stage writes a Delta table and the
next stage reads it back, so every intermediate result is inspectable and versioned.
"""

import logging
import time
from contextlib import contextmanager
from dataclasses import asdict

from pyspark.sql import SparkSession

from lastfm.config import JobConfig
from lastfm.errors import DataQualityError, UsageError
from lastfm.parsing import parse_lines, rejected_lines, valid_plays
from lastfm.rankings import plays_in_sessions, top_sessions, top_tracks
from lastfm.reading import input_files, read_lines, read_table
from lastfm.schemas import OUTPUT_COLUMNS, RANK
from lastfm.sessions import build_sessions
from lastfm.writing import write_single_tsv, write_table

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


def check_reject_fraction(valid: int, rejected: int, config: JobConfig, rejects_path: str) -> None:
    """Raise if the input is unusable (no valid row) or rejects too many lines."""
    total = valid + rejected
    if valid == 0:
        raise UsageError(f"no valid rows in input {config.input}: all {total} lines rejected (see {rejects_path})")
    fraction = rejected / total
    if fraction > config.max_reject_fraction:
        raise DataQualityError(
            f"{rejected} of {total} lines rejected ({fraction:.4%}) in {config.input}, above "
            f"--max-reject-fraction {config.max_reject_fraction} (see {rejects_path})"
        )


def run(spark: SparkSession, config: JobConfig) -> dict:
    """Run the job once; return the run summary (counts, timings, table versions, output)."""
    clock = Stopwatch()
    path = config.table_path
    files = input_files(spark, config.input)
    with clock.stage("parse"):
        parsed = read_lines(spark, config.input).transform(parse_lines)
        plays_written = write_table(valid_plays(parsed), path("plays"))
        rejects_written = write_table(rejected_lines(parsed), path("rejects"))
    check_reject_fraction(plays_written.rows, rejects_written.rows, config, path("rejects"))

    plays = read_table(spark, path("plays"))
    with clock.stage("sessions"):
        sessions_written = write_table(plays.transform(build_sessions(config.session_gap_seconds)), path("sessions"))
    with clock.stage("top_sessions"):
        longest = read_table(spark, path("sessions")).transform(top_sessions(config.top_sessions))
        top_sessions_written = write_table(longest, path("top_sessions"))
    with clock.stage("top_tracks"):
        in_top_sessions = plays_in_sessions(read_table(spark, path("top_sessions")))
        most_played = plays.transform(in_top_sessions).transform(top_tracks(config.top_tracks))
        top_tracks_written = write_table(most_played, path("top_tracks"))
    with clock.stage("deliverable"):
        top = read_table(spark, path("top_tracks"))
        write_single_tsv(top, config.output)
        top_rows = [row.asDict() for row in top.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]

    written = (plays_written, rejects_written, sessions_written, top_sessions_written, top_tracks_written)
    return {
        "input": config.input,
        "input_files": len(files),
        "input_bytes": sum(size for _, size, _ in files),
        "rows_read": plays_written.rows + rejects_written.rows,
        "rows_valid": plays_written.rows,
        "rows_rejected": rejects_written.rows,
        "sessions": sessions_written.rows,
        "config": asdict(config),
        "stage_seconds": clock.seconds,
        "tables": {name: {"path": w.path, "version": w.version} for name, w in zip(("plays", "rejects", "sessions", "top_sessions", "top_tracks"), written)},
        "output": config.output,
        "top_tracks": top_rows,
    }
