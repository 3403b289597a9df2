"""The run summary: what a run did, as run_summary.json beside the deliverable and as `run`'s value.

run_summary.json is a file format: operators, the Airflow DAGs (scripts/airflow), the report
(quality/report.py, scripts/render_report.py) and the next runs (bookkeeping.py) read it. Its keys
are the fields of `RunSummary`, in their order, and nowhere else; `to_json` writes them and
`from_json` reads them back. Also here: the summary's rows of the top tracks and sessions, the
deliverable's text (for its checksum), the lines a person reads at the end of a run, and the
stopwatch that times its stages.
"""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lastfm.config import JobConfig
from lastfm.schemas import OUTPUT_COLUMNS, RANK, SESSION_END, SESSION_START

if TYPE_CHECKING:
    from lastfm.ingest import Ingested

log = logging.getLogger(__name__)

ISO = "%Y-%m-%dT%H:%M:%SZ"  # the summary's instants: UTC, to the second
UNSET_IF_EMPTY = ("report_skipped", "nothing_new")  # keys the file holds only when they say something


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


@dataclass  # not kw_only (Python 3.10+): the package runs on a cluster's Python 3.9 too
class RunSummary:
    """run_summary.json, one field per key (counts, timings, table versions, output); built by
    keyword (`of_run`, `from_json`)."""

    run_at: str
    run_id: str
    mode: str
    input: str
    batch: int | None
    input_files_ingested: list
    input_files_duplicate: dict
    input_files_quarantined: dict
    quarantine_unresolved: list
    rows_added: int
    plays_reused: bool
    sessions_reused: bool
    top_tracks_reused: bool
    rows_read: int
    rows_valid: int
    rows_rejected: int
    rows_with_replacement_character: int
    sessions: int
    users: int
    duplicate_plays: int
    config: dict  # asdict of the run's JobConfig
    stage_seconds: dict  # stage -> seconds, in the order the stages ran
    output: str
    output_sha256: str  # of the deliverable this summary belongs to
    top_tracks: list  # OUTPUT_COLUMNS dicts, in rank order
    top_sessions: list  # in rank order, times as ISO text
    session_length_histogram: list  # [length in plays, sessions]
    expectation_warnings: list
    known_answer: dict
    profile: str | None  # where profile.json is
    report: str | None  # where report.html is; None where it was not drawn
    run_summary: str  # where this file is
    report_skipped: str | None = None  # why report.html was not drawn
    tables: dict | None = None  # table -> {path, version}
    nothing_new: bool = False  # a run with nothing new: this is its predecessor's summary

    @classmethod
    def of_run(cls, config: JobConfig, run_id: str, started: float, ingested: Ingested, profile: dict, *,
               sessions_reused: bool, top_tracks_reused: bool, stage_seconds: dict, top_rows: list[dict],
               top_session_list: list[dict], histogram: list, warnings: list[str], known_answer: dict) -> RunSummary:
        """The summary of a run that answered, from what its stages left (its `tables` and `report`
        are filled in once the background writes and the drawing are done)."""
        counts = profile["rows"]
        return cls(
            run_at=iso_instant(int(started)),
            run_id=run_id,
            mode=config.mode,
            input=config.input,
            batch=ingested.batch,
            input_files_ingested=ingested.files,
            input_files_duplicate=ingested.duplicates,
            input_files_quarantined=ingested.quarantined,
            quarantine_unresolved=ingested.unresolved,
            rows_added=ingested.rows_added,
            plays_reused=ingested.reused,
            sessions_reused=sessions_reused,
            top_tracks_reused=top_tracks_reused,
            rows_read=counts["read"],
            rows_valid=counts["valid"],
            rows_rejected=counts["rejected"],
            rows_with_replacement_character=counts.get("with_replacement_character", 0),
            sessions=profile["sessions"]["count"],
            users=profile["users"],
            duplicate_plays=profile["duplicate_plays"],
            config=asdict(config),
            stage_seconds=stage_seconds,
            output=config.output,
            output_sha256=hashlib.sha256(tsv_text(top_rows).encode("utf-8")).hexdigest(),
            top_tracks=top_rows,
            top_sessions=top_session_list,
            session_length_histogram=histogram,
            expectation_warnings=warnings,
            known_answer=known_answer,
            profile=config.beside_output("profile.json"),
            report=config.beside_output("report.html"),
            run_summary=config.beside_output("run_summary.json"),
        )

    def to_json(self) -> dict:
        """run_summary.json's object (`report_skipped` and `nothing_new` only where set)."""
        return {key: value for key, value in asdict(self).items() if key not in UNSET_IF_EMPTY or value}

    @classmethod
    def from_json(cls, data: dict) -> RunSummary:
        """The summary a run_summary.json holds; a key it lacks (an older job's file) reads as None,
        or as its default."""
        return cls(**{f.name: data.get(f.name, None if f.default is MISSING else f.default)
                      for f in fields(cls)})


def ranked_rows(top: DataFrame) -> list[dict]:
    """The top tracks as OUTPUT_COLUMNS dicts, in rank order."""
    return [row.asDict() for row in top.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]


def top_session_rows(longest: DataFrame) -> list[dict]:
    """The top sessions in rank order, times as UTC ISO strings (epoch seconds, so that neither
    the session's nor the driver's time zone shifts them)."""
    times = {c: F.unix_timestamp(c) for c in (SESSION_START, SESSION_END)}
    rows = [r.asDict() for r in longest.withColumns(times).orderBy(RANK).collect()]
    return [{**r, **{c: iso_instant(r[c]) for c in times}} for r in rows]


def iso_instant(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime(ISO)


def tsv_text(top_rows: list[dict]) -> str:
    """The deliverable's text, as write_single_tsv writes it (for its checksum in the summary)."""
    lines = ["\t".join(OUTPUT_COLUMNS), *("\t".join(str(row[c]) for c in OUTPUT_COLUMNS) for row in top_rows)]
    return "".join(line + "\n" for line in lines)


def report_lines(summary: RunSummary) -> list[str]:
    """What a person reads at the end of a run: the answer, and where everything is."""
    width = max([5, *(len(str(r["play_count"])) for r in summary.top_tracks)])
    table = [f"  {'plays':>{width}}  song"]
    table += [f"  {r['play_count']:>{width}}  {r['artist_name']} - {r['track_name']}" for r in summary.top_tracks]
    seconds = sum(summary.stage_seconds.values())
    unchanged = ["nothing new since the last run: tables and answer unchanged"] if summary.nothing_new else []
    return [
        *unchanged,
        f"top {len(summary.top_tracks)} songs in the {summary.config['top_sessions']} longest sessions "
        f"({summary.rows_valid:,} plays, {summary.rows_rejected:,} rejected "
        f"line{'' if summary.rows_rejected == 1 else 's'}, "
        f"{summary.sessions:,} sessions, "
        f"{seconds:.0f} s):",
        *table,
        *(f"warning: {w}" for w in summary.expectation_warnings),
        f"answer       {summary.output}",
        f"run summary  {summary.run_summary}",
        f"report       {summary.report or 'not drawn (no matplotlib on the driver)'}",
        f"tables       {summary.config['warehouse']}",
    ]
