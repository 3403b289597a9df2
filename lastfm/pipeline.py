"""The whole job: raw TSV -> Delta tables -> the single-TSV deliverable.

This is the one module that composes the others. Each stage writes a Delta table and the
next stage reads it back, so every intermediate result is inspectable and versioned.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from delta.tables import DeltaTable
from pyspark.sql import Observation, SparkSession, Window
from pyspark.sql import functions as F

from lastfm import schemas
from lastfm.config import RUNS_TABLE, TABLES, JobConfig
from lastfm.errors import ConcurrentRunError, DataQualityError, JobError, UsageError
from lastfm.quality import checks, profiling, report
from lastfm.question import parsing
from lastfm.question import sessions as sessions_module
from lastfm.question.parsing import parse_lines, rejected_lines, valid_plays
from lastfm.question.rankings import plays_in_sessions, song_play_counts, top_sessions, top_tracks
from lastfm.question.sessions import build_sessions
from lastfm.schemas import (
    DUPLICATE_PLAYS,
    OUTPUT_COLUMNS,
    PLAY_COUNT,
    RANK,
    SESSION_END,
    SESSION_ID,
    SESSION_NUMBER,
    SESSION_START,
    TS,
    USER_ID,
)
from lastfm.storage import incremental, reading, writing
from lastfm.storage.lineage import commit_note, input_fingerprint, noted, noted_fingerprint, noted_profile
from lastfm.storage.reading import (
    input_files,
    latest_commit,
    path_exists,
    read_changes,
    read_lines,
    read_table,
    recorded_or_computed_md5,
    table_history,
)
from lastfm.storage.writing import TableVersion, write_single_tsv, write_table, write_text

log = logging.getLogger(__name__)
CONSTRAINTS = checks.TABLE_CONSTRAINTS
# The write that observes the input has finished when the metrics are asked for: they are due at
# once, and a wait this long means they are lost.
OBSERVATION_TIMEOUT_SECONDS = 120
# Delta keeps per-file min/max statistics of the first 32 columns by default; plays is only ever
# filtered on these two (the top sessions' users and times), and statistics on the names and
# MBIDs cost ~15% of the parse's CPU (measured).
# The change data feed gives an incremental run the plays the batches since its sessions added.
PLAYS_PROPERTIES = {"delta.dataSkippingStatsColumns": f"{USER_ID},{TS}", "delta.enableChangeDataFeed": "true"}


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
    """The input expectations (quality/checks.py) on the plays table and its profile; the failures
    are raised, or with --warn-only returned."""
    found = checks.validate_plays_schema(plays)
    found += checks.validate_facts("input", checks.input_expectations(config, datetime.now(timezone.utc)),
                                    checks.input_facts(profile))
    return checks.enforce(found, "input", config.warn_only)


def ranked_rows(top) -> list[dict]:
    """The top tracks as OUTPUT_COLUMNS dicts, in rank order."""
    return [row.asDict() for row in top.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]


def check_output(top, top_rows: list[dict], plays, longest, config: JobConfig, rows_read: int) -> tuple[list[str], dict]:
    """The output expectations on the top tracks (`top`, at most M rows, and the same as
    `top_rows`: what the top_tracks table and the deliverable get), their songs recounted from
    `plays` in the `longest` sessions, and the known-answer check when the input is the real
    file: (failures, known-answer result)."""
    found = checks.validate_output(checks.checked_output(top, plays, longest))
    # fewer than M rows is right only when the top sessions hold fewer than M songs: counted
    # then, and only then (M rows leave no shortfall to find)
    songs = config.top_tracks if len(top_rows) == config.top_tracks else \
        plays.transform(plays_in_sessions(longest)).transform(song_play_counts).count()
    found += checks.validate_facts("output", checks.output_expectations(config),
                                    checks.output_facts(len(top_rows), songs, config))
    answer = checks.known_answer_check(config, rows_read, lambda: recorded_or_computed_md5(top.sparkSession, config.input), top_rows)
    if answer["checked"] and not answer["matches"]:
        found.append(f"not the published answer for the real file: {'; '.join(answer['differences'])}")
    return checks.enforce(found, "output", config.warn_only), answer


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


def parse_input(spark: SparkSession, config: JobConfig, fingerprint: str | None, files: list[tuple[str, int, int]], *,
                batch: int | None = None, plays_done: TableVersion | None = None) -> tuple[TableVersion, TableVersion, dict]:
    """Parse input files into the plays and rejects tables: (plays, rejects, input profile).

    One pass over the files writes `plays` and, on the way, observes the input profile
    (profiling.observe_input), which counts the rejected lines. Only when there are any does a
    second pass write them to `rejects`; the counts written must be the counts observed. Both
    commits note the files (the ledger, incremental.py), the rejects commit the profile too.
    A full parse (`batch` None) overwrites both tables with the whole input; an incremental one
    appends `files` as the batch that becomes version `batch` of `plays`, both appends under
    that Delta transaction, so that no batch is ever added twice. `plays_done`: the batch is in
    `plays` already (a run died before its rejects), and only its rejects are written.
    """
    path = config.table_path
    observation = Observation("input")
    parsed = read_lines(spark, [path for path, _, _ in files]).transform(parse_lines)
    observed_plays = valid_plays(profiling.observe_input(parsed, observation))
    transaction = None if batch is None else (incremental.INGEST, batch)
    if plays_done is not None:
        observed_plays.write.format("noop").mode("overwrite").save()
        plays = plays_done
    else:
        # a token of this write: Delta skips a transaction it has seen without a word, so the
        # commit must be found to be ours
        token = uuid.uuid4().hex
        plays = write_table(observed_plays, path("plays"), note=commit_note(fingerprint, files=files, token=token),
                            constraints=CONSTRAINTS["plays"], properties=PLAYS_PROPERTIES,
                            append=batch is not None, transaction=transaction)
        if batch is not None and noted(latest_commit(spark, plays.path)["userMetadata"], "token") != token:
            raise ConcurrentRunError(f"{plays.path}: another run ingested into this warehouse at the same time; "
                                     "this run stopped without adding anything: run it again")
    metrics = profiling.observed(observation, OBSERVATION_TIMEOUT_SECONDS)
    if metrics is None:
        log.warning("the parse's observed metrics did not arrive within %d s: profiling the input by another pass",
                    OBSERVATION_TIMEOUT_SECONDS)
        metrics = profiling.aggregate_input(parsed)
    batch_plays = read_table(spark, path("plays"), plays.version) if batch is None else \
        read_changes(spark, path("plays"), plays.version - 1, plays.version)
    sketches = profiling.sketches(metrics)
    profile = profiling.input_profile(metrics, profiling.time_metrics(batch_plays),
                                      profiling.distinct_estimates(spark, [sketches]))
    counts = profile["rows"]
    lines = rejected_lines(parsed) if counts["rejected"] else spark.createDataFrame([], schemas.REJECTS)
    note = commit_note(fingerprint, profile, **{incremental.BATCH_KEY: plays.version, incremental.SKETCHES_KEY: sketches})
    rejects = write_table(lines, path("rejects"), note=note, constraints=CONSTRAINTS["rejects"],
                          append=batch is not None, transaction=transaction)
    if (plays.rows, rejects.rows) != (counts["valid"], counts["rejected"]):
        raise RuntimeError(f"parse of {config.input} wrote {plays.rows} plays and {rejects.rows} rejects to "
                           f"{config.warehouse}, observed {counts}")
    return plays, rejects, profile


# Everything that shapes `plays`, `rejects` and the input profile: a change to any of it means a
# fresh parse (lineage.py).
PARSE_CODE = (parsing, schemas, profiling, reading, writing, parse_input, PLAYS_PROPERTIES,
              CONSTRAINTS["plays"], CONSTRAINTS["rejects"])


# Everything that shapes `sessions` from `plays` (the gap and the plays version are noted apart).
SESSIONS_CODE = (sessions_module, incremental, schemas, writing, CONSTRAINTS["sessions"])


def sessions_fingerprint(plays: TableVersion, gap_seconds: int) -> str:
    """The fingerprint of the sessions of this version of `plays` under this gap (lineage.py)."""
    return input_fingerprint([(plays.path, plays.version, gap_seconds)], code=SESSIONS_CODE)


def sessions_rules(gap_seconds: int) -> str:
    """The fingerprint of how sessions are built, whatever the plays: the gap and the code."""
    return input_fingerprint([("gap", gap_seconds, 0)], code=SESSIONS_CODE)


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


@dataclass
class Ingested:
    """What the parse stage leaves for the rest of the run."""

    plays: TableVersion  # the version of `plays` the run answers from
    profile: dict  # the input profile of that version
    files: list = field(default_factory=list)  # the input files this run parsed
    rows_added: int = 0  # valid plays and rejected lines this run added
    reused: bool = False  # the parse of an unchanged input reused (full runs)
    ledger: incremental.Ledger | None = None  # the batches of that version (incremental and as-of runs)


def ingest_full(spark: SparkSession, config: JobConfig, files: list, written: dict) -> Ingested:
    """The whole input parsed, or its earlier parse reused when it is unchanged."""
    fingerprint = input_fingerprint(files, code=PARSE_CODE)
    path = config.table_path
    reused = reusable_parse(spark, fingerprint, path("plays"), path("rejects"))
    if reused:
        log.info("input unchanged (fingerprint %s): reusing plays v%d and rejects v%d",
                 fingerprint[:12], reused[0].version, reused[1].version)
        return Ingested(reused[0], reused[2], reused=True)
    plays, rejects, profile = parse_input(spark, config, fingerprint, files)
    written.update(plays=plays.version, rejects=rejects.version)
    return Ingested(plays, profile, files, plays.rows + rejects.rows)


def ingest_new_files(spark: SparkSession, config: JobConfig, files: list, written: dict) -> Ingested:
    """The batches a dead run left without rejects completed, then the input files the warehouse
    has not ingested appended as one batch (incremental.py)."""
    path = config.table_path
    ledger = incremental.read_ledger(spark, path("plays"), path("rejects"))
    for version in ledger.pending:
        log.info("completing batch v%d of %s (a run stopped before its rejects)", version, path("plays"))
        done = TableVersion(path("plays"), version, table_history_rows(spark, path("plays"), version))
        _, rejects, _ = parse_input(spark, config, None, ledger.batches[version], plays_done=done,
                                    batch=None if version == ledger.overwrite else version)
        written["rejects"] = rejects.version
    fresh = incremental.new_files(ledger, files)
    added = 0
    if fresh:
        expected = 0 if ledger.plays_version is None else ledger.plays_version + 1
        plays, rejects, _ = parse_input(spark, config, None, fresh, batch=expected)
        written.update(plays=plays.version, rejects=rejects.version)
        added = plays.rows + rejects.rows
    if fresh or ledger.pending:
        ledger = incremental.read_ledger(spark, path("plays"), path("rejects"))
    return Ingested(ledger_plays(config, ledger), ledger_profile(spark, ledger), fresh, added, ledger=ledger)


def ingested_as_of(spark: SparkSession, config: JobConfig) -> Ingested:
    """`plays` as it was at version --as-of-version, and its input profile; nothing parsed."""
    path = config.table_path
    ledger = incremental.read_ledger(spark, path("plays"), path("rejects"), as_of=config.as_of_version)
    if ledger.plays_version != config.as_of_version:
        raise UsageError(f"{path('plays')} has no version {config.as_of_version}")
    return Ingested(ledger_plays(config, ledger), ledger_profile(spark, ledger), ledger=ledger)


def table_history_rows(spark: SparkSession, uri: str, version: int) -> int:
    return next(c["rows"] for c in table_history(spark, uri) if c["version"] == version)


def ledger_plays(config: JobConfig, ledger: incremental.Ledger) -> TableVersion:
    """The `plays` version of a ledger (its rows left uncounted: nothing reads them)."""
    if ledger.plays_version is None:
        raise UsageError(f"no plays table in {config.warehouse}")
    return TableVersion(config.table_path("plays"), ledger.plays_version, None)


def ledger_profile(spark: SparkSession, ledger: incremental.Ledger) -> dict:
    """The input profile of all the batches of a ledger, from the notes of their rejects commits."""
    if ledger.pending:
        raise UsageError(f"batch v{ledger.pending[0]} of plays has no rejects commit: run with --incremental to complete it")
    notes = list(ledger.completed.values())
    if len(notes) == 1:
        return noted_profile(notes[0])
    distinct = profiling.distinct_estimates(spark, [noted(note, incremental.SKETCHES_KEY) for note in notes])
    return profiling.combine([noted_profile(note) for note in notes], distinct)


def build_or_update_sessions(spark: SparkSession, config: JobConfig, ingested: Ingested, written: dict):
    """The `sessions` of the plays version the run answers from: (the sessions, reused).

    Reused when the latest commit is of that version under this gap; else, in an incremental
    run whose sessions are of an earlier version with only appends since, updated for the users
    with new plays (incremental.py); else built from all plays. An --as-of-version run builds
    them in memory and writes no table."""
    gap, path = config.session_gap_seconds, config.table_path
    plays = read_table(spark, path("plays"), ingested.plays.version if config.as_of_version is not None else None)
    if config.as_of_version is not None:
        return plays.transform(build_sessions(gap)).cache(), False
    fingerprint = sessions_fingerprint(ingested.plays, gap)
    note = commit_note(fingerprint, plays_version=ingested.plays.version, rules=sessions_rules(gap))
    if reusable_table(spark, path("sessions"), fingerprint):
        return read_table(spark, path("sessions")), True
    before = latest_commit(spark, path("sessions")) if config.incremental else None
    since = noted(before["userMetadata"], "plays_version") if before else None
    if (before and noted(before["userMetadata"], "rules") == sessions_rules(gap) and since is not None
            and ingested.ledger.only_appends_since(since)):
        sessions = read_table(spark, path("sessions"))
        new_plays = read_changes(spark, path("plays"), since, ingested.plays.version).where(F.col("_change_type") == "insert")
        bounds = incremental.session_bounds(sessions, new_plays, gap)
        if not bounds:  # the batches since added no valid play
            return sessions, True
        log.info("updating the sessions of %d users with new plays (sessions of plays v%d -> v%d)",
                 len(bounds), since, ingested.plays.version)
        written["sessions"] = write_table(incremental.updated_sessions(plays, sessions, bounds, gap), path("sessions"),
                                          note=note, constraints=CONSTRAINTS["sessions"]).version
    else:
        written["sessions"] = write_table(plays.transform(build_sessions(gap)), path("sessions"), note=note,
                                          constraints=CONSTRAINTS["sessions"]).version
    return read_table(spark, path("sessions")), False


def run(spark: SparkSession, config: JobConfig) -> dict:
    """Run the job once, and append its row to the `runs` table whether it succeeds or fails;
    return the run summary (counts, timings, table versions, output)."""
    record = {"run_id": str(uuid.uuid4()), "started_at": datetime.now(timezone.utc), "written": {}, "files": [], "added": 0}
    try:
        summary = answer(spark, config, record)
    except Exception as error:
        record_run(spark, config, record, "failed", error)
        raise
    record_run(spark, config, record, "nothing_new" if summary.get("nothing_new") else "succeeded")
    return summary


def record_run(spark: SparkSession, config: JobConfig, record: dict, status: str, error: Exception | None = None) -> None:
    """Append the run's row to the `runs` table (a failure to do so is logged, never raised over
    the run's own outcome)."""
    line = None
    if error is not None:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        line = lines[0] if isinstance(error, JobError) else f"{type(error).__name__}: {lines[0]}"
    row = (record["run_id"], config.mode, record["started_at"], datetime.now(timezone.utc), status, line,
           [path for path, _, _ in record["files"]], record["added"], dict(record["written"]),
           json.dumps(asdict(config), sort_keys=True))
    for attempt in (1, 2):  # appends never conflict, but two first runs may both create the table
        try:
            write_table(spark.createDataFrame([row], schemas.RUNS), config.table_path(RUNS_TABLE), append=True)
            return
        except ConcurrentRunError:
            if attempt == 1:
                continue
            log.exception("could not append this run to %s", config.table_path(RUNS_TABLE))
        except Exception:  # noqa: BLE001 - the run's outcome stands; its row is what is lost
            log.exception("could not append this run to %s", config.table_path(RUNS_TABLE))
            return


def question(options: dict) -> dict:
    """Of a run's options (`asdict` of its JobConfig), those that shape the deliverable."""
    return {k: v for k, v in options.items() if k not in ("incremental", "as_of_version")}


def unchanged_result(spark: SparkSession, config: JobConfig, ingested: Ingested) -> dict | None:
    """The run summary beside the output, when the run that wrote it asked the same question,
    finished (its `runs` row is appended after the deliverable), and every table is still at the
    version its answer stands on: nothing new, nothing to do. None otherwise."""
    path = config.table_path
    if not (path_exists(spark, config.output) and path_exists(spark, config.beside_output("run_summary.json"))
            and DeltaTable.isDeltaTable(spark, path(RUNS_TABLE))):
        return None
    summary = json.loads(spark.read.text(config.beside_output("run_summary.json"), wholetext=True).first()[0])
    if question(summary.get("config", {})) != question(asdict(config)):
        return None
    current = {name: (latest_commit(spark, path(name)) or {}).get("version") for name in TABLES}
    if {name: table["version"] for name, table in summary.get("tables", {}).items()} != current:
        return None
    finished = read_table(spark, path(RUNS_TABLE)).where((F.col("run_id") == summary.get("run_id", ""))
                                                          & (F.col("status") == "succeeded"))
    return summary if finished.limit(1).count() else None


def answer(spark: SparkSession, config: JobConfig, record: dict) -> dict:
    """The run itself (see `run`).

    Each stage's result is computed once: the small ones (the top sessions, the top tracks) are
    cached and feed their table, the checks, the summary and the deliverable alike. The Delta
    writes of the small tables, which nothing later reads, and the drawing of the report run in
    the background beside the next stages; all finish before any file is written.
    """
    started, clock = time.time(), Stopwatch()
    path, written = config.table_path, record["written"]
    files = [] if config.as_of_version is not None else input_files(spark, config.input)
    with clock.stage("parse"):
        if config.as_of_version is not None:
            ingested = ingested_as_of(spark, config)
        elif config.incremental:
            ingested = ingest_new_files(spark, config, files, written)
        else:
            ingested = ingest_full(spark, config, files, written)
        record.update(files=ingested.files, added=ingested.rows_added)
    input_profile, counts = ingested.profile, ingested.profile["rows"]
    if config.incremental and not ingested.files and not written:
        # a run with nothing new whose predecessor left everything in place: nothing to redo
        previous = unchanged_result(spark, config, ingested)
        if previous is not None:
            log.info("nothing new in %s since the last run: tables and %s unchanged", config.input, config.output)
            return {**previous, "nothing_new": True, "stage_seconds": clock.seconds}
    warnings = check_reject_fraction(counts["valid"], counts["rejected"], config, path("rejects"))

    plays = read_table(spark, path("plays"), ingested.plays.version if config.as_of_version is not None else None)
    save = config.as_of_version is None  # an --as-of-version run rebuilds the deliverable only
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="background") as background:
        with clock.stage("sessions"):
            sessions, sessions_reused = build_or_update_sessions(spark, config, ingested, written)
        with clock.stage("check_input"):
            profile = {**input_profile, **profiling.user_profile(sessions)}
            warnings += check_input(plays, profile, config)
        with clock.stage("top_sessions"):
            longest = sessions.transform(top_sessions(config.top_sessions)).cache()
            top_session_list = top_session_rows(longest)
            top_sessions_written = save and background.submit(write_table, longest, path("top_sessions"),
                                                              constraints=CONSTRAINTS["top_sessions"])
        with clock.stage("top_tracks"):
            top = plays.transform(plays_in_sessions(longest)).transform(top_tracks(config.top_tracks)).cache()
            top_rows = ranked_rows(top)
            top_tracks_written = save and background.submit(write_table, top, path("top_tracks"),
                                                            constraints=CONSTRAINTS["top_tracks"])
        with clock.stage("check_output"):
            found, known_answer = check_output(top, top_rows, plays, longest, config, counts["read"])
            warnings += found
        with clock.stage("profile_report"):
            profile["sessions"] = profiling.session_profile(sessions)
            profile_written = save and background.submit(write_table, profile_rows(spark, profile), path("profile"),
                                                         constraints=CONSTRAINTS["profile"])
            summary = {
                "run_at": iso_instant(int(started)),
                "run_id": record["run_id"],
                "mode": config.mode,
                "input": config.input,
                "input_files": len(files),
                "input_bytes": sum(size for _, size, _ in files),
                "input_files_ingested": [path for path, _, _ in ingested.files],
                "rows_added": ingested.rows_added,
                "plays_reused": ingested.reused,
                "sessions_reused": sessions_reused,
                "rows_read": counts["read"],
                "rows_valid": counts["valid"],
                "rows_rejected": counts["rejected"],
                "sessions": profile["sessions"]["count"],
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
            summary["tables"] = {name: {"path": path(name), "version": versions[name]} for name in TABLES if name in versions}
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


def bare_increment(spark: SparkSession, day_uri: str, warehouse: str, gap_seconds: int, sessions: int,
                   tracks: int) -> list[dict]:
    """The least an incremental run can do here, for the benchmark's floor
    (scripts/spark_bare_increment.py); not a way to run the job. On a warehouse the job built: read
    the history of `plays` (where the job's ledger is), append one day's file to `plays`, merge
    `sessions` with the day's plays and write it whole in one commit, then the longest sessions and
    their songs, as OUTPUT_COLUMNS dicts in rank order. Nothing else: no ledger bookkeeping, rejects,
    checks, profile, report, runs row or small tables, and no look at older plays for a day's play
    repeating one at the same second (so `duplicate_plays` may come out low; sessions, play counts and
    the answer are right).

    The merge: a user's sessions and new plays, as intervals ordered by start, where an interval
    opens a session when it starts more than the gap after the latest end before it; the sessions
    it joins are summed into one and numbered in order."""
    plays_uri, sessions_uri = f"{warehouse.rstrip('/')}/plays", f"{warehouse.rstrip('/')}/sessions"
    table_history(spark, plays_uri)
    day = valid_plays(read_lines(spark, day_uri).transform(parse_lines)).cache()
    write_table(day, plays_uri, append=True)
    pieces = read_table(spark, sessions_uri).select(USER_ID, SESSION_START, SESSION_END, PLAY_COUNT, DUPLICATE_PLAYS).unionByName(
        day.select(USER_ID, F.col(TS).alias(SESSION_START), F.col(TS).alias(SESSION_END),
                   F.lit(1).cast("long").alias(PLAY_COUNT), F.lit(0).cast("long").alias(DUPLICATE_PLAYS)))
    by_user = Window.partitionBy(USER_ID).orderBy(F.unix_timestamp(SESSION_START))
    reach = F.max(F.unix_timestamp(SESSION_END)).over(by_user.rowsBetween(Window.unboundedPreceding, -1))
    opens = F.coalesce(F.unix_timestamp(SESSION_START) - reach > gap_seconds, F.lit(True)).cast("int")
    merged = (pieces.withColumn("_opens", opens)
              .withColumn(SESSION_NUMBER, F.sum("_opens").over(by_user.rowsBetween(Window.unboundedPreceding, 0)).cast("int"))
              .groupBy(USER_ID, SESSION_NUMBER)
              .agg(F.min(SESSION_START).alias(SESSION_START), F.max(SESSION_END).alias(SESSION_END),
                   F.sum(PLAY_COUNT).alias(PLAY_COUNT), F.sum(DUPLICATE_PLAYS).alias(DUPLICATE_PLAYS))
              .withColumn(SESSION_ID, sessions_module.session_id(F.col(USER_ID), F.col(SESSION_NUMBER))))
    write_table(merged.select(*schemas.SESSIONS.fieldNames()), sessions_uri)
    longest = read_table(spark, sessions_uri).transform(top_sessions(sessions)).cache()
    ranked = read_table(spark, plays_uri).transform(plays_in_sessions(longest)).transform(top_tracks(tracks))
    return [row.asDict() for row in ranked.orderBy(RANK).select(*OUTPUT_COLUMNS).collect()]
