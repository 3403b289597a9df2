"""The run's bookkeeping: the `runs` table, and what a run learns from the runs before it.

One row per run is appended when it ends, whatever the outcome (tables.RUNS): what it ingested,
skipped and refused, the batch it answered from, and what `sessions` holds after it. From those
rows, never from a table's commit history, a run learns:
- whether there is anything to do at all (`unchanged_result`): nothing new, and the output is
  the deliverable of the last finished run (the sha256 its row records), which asked the same
  question from the same batch;
- whether an --as-of-version run may write its answer over the output
  (`refuse_replay_over_daily_output`): not over the last ingesting run's deliverable, unless told to;
- whether the last answer still stands (`answer_to_keep`): the run that wrote it passed its
  checks on the same question, from the sessions this run's were updated from;
- (with the record of files, which says what each batch refused) whether a person has heard of
  the files refused (`refusals_to_report`, `quarantine_alert`): a run that refuses a file exits 3 naming it, and so
  does a run after it that ingests nothing new (a retry of that run, even of one killed before
  its row), so that a retry never turns the alert into a silent success, and the first run
  after one killed before its row, whatever it ingests; later runs list the refused files in
  their summary and row and exit 0;
- whether the input is alive (`freshness`): a run with no new file warns, and fails after
  --max-days-without-new-files days without one; that warning, the files skipped and the files
  still refused are the run's admission warnings (`admission_warnings`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lastfm import tables
from lastfm.config import JobConfig
from lastfm.errors import ConcurrentRunError, DataQualityError, JobError, UsageError
from lastfm.planning import REUSE, Plan
from lastfm.storage.reading import path_exists, read_table, small_text
from lastfm.storage.writing import write_table
from lastfm.summary import RunSummary

if TYPE_CHECKING:
    from lastfm.ingest import Ingested
    from lastfm.storage.record import Record

log = logging.getLogger(__name__)

SUCCEEDED = "succeeded"
NOTHING_NEW = "nothing_new"
FAILED = "failed"
QUARANTINED = "quarantined"  # finished, and refused a file: exit 3
REBUILDING = "rebuilding"  # rows of older versions of the job: a run began to build `sessions` anew
STATUSES = (SUCCEEDED, NOTHING_NEW, FAILED, QUARANTINED, REBUILDING)


@dataclass
class RunRecord:
    """What a run did, for its row in the `runs` table."""

    run_id: str
    started_at: datetime
    written: dict = field(default_factory=dict)  # table -> version written
    files: list = field(default_factory=list)  # the files admitted
    added: int = 0  # plays and rejected lines added
    batch: int | None = None  # the batch answered from
    duplicates: list = field(default_factory=list)
    quarantined: list = field(default_factory=list)  # the refused files it reports (refusals_to_report)
    unresolved: list = field(default_factory=list)  # every file still refused
    sessions_batch: int | None = None
    sessions_rules: str | None = None
    summary: RunSummary | None = None  # a finished run's
    profile: dict | None = None  # the profile of what it answered from (profile.json's)


    def took(self, ingested) -> None:
        """What the parse stage (ingest.Ingested) admitted, skipped, refused and wrote."""
        self.files, self.added, self.batch = ingested.files, ingested.rows_added, ingested.batch
        self.duplicates, self.quarantined = list(ingested.duplicates), list(ingested.quarantined)
        self.unresolved = ingested.unresolved
        self.written.update(ingested.written)


def append_run(spark: SparkSession, config: JobConfig, run: RunRecord, status: str,
               error: Exception | None = None) -> None:
    """Append the run's row (a failure to do so is logged, never raised over the run's own outcome)."""
    line = None
    if error is not None:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        line = lines[0] if isinstance(error, JobError) else f"{type(error).__name__}: {lines[0]}"
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
    row = (run.run_id, config.mode, run.started_at, datetime.now(timezone.utc), status, line, list(run.files),
           run.added, dict(run.written), json.dumps(options, sort_keys=True), run.batch, list(run.duplicates),
           list(run.quarantined), list(run.unresolved), run.sessions_batch, run.sessions_rules,
           json.dumps(run.summary.to_json(), default=str) if run.summary else None,
           run.summary.output_sha256 if run.summary else None,
           json.dumps(run.profile, sort_keys=True, default=str) if run.profile is not None else None)
    for attempt in (1, 2):  # appends never conflict, but two first runs may both create the table
        try:
            # new columns merge into a runs table an older version of the job wrote
            write_table(spark.createDataFrame([row], tables.RUNS.schema), config.table_path(tables.RUNS.name),
                        append=True, merge_schema=True)
            return
        except ConcurrentRunError:
            if attempt == 1:
                continue
            log.exception("could not append this run to %s", config.table_path(tables.RUNS.name))
        except Exception:  # the run's outcome stands; its row is what is lost
            log.exception("could not append this run to %s", config.table_path(tables.RUNS.name))
            return


def past_runs(spark: SparkSession, config: JobConfig) -> list[dict]:
    """Every row of the `runs` table, newest first ([] when there is none)."""
    uri = config.table_path(tables.RUNS.name)
    if not DeltaTable.isDeltaTable(spark, uri):
        return []
    rows = [row.asDict() for row in read_table(spark, uri).collect()]
    return sorted(rows, key=lambda r: (r["ended_at"], r["status"] != REBUILDING), reverse=True)


def question(options: dict) -> dict:
    """Of a run's options (`asdict` of its JobConfig), those that shape the deliverable."""
    shaping = ("input", "output", "warehouse", "session_gap_minutes", "top_sessions", "top_tracks")
    return {k: options.get(k) for k in shaping}


def last_answer(runs: list[dict]) -> dict | None:
    """The row of the latest finished run that wrote the deliverable (succeeded, or refused a
    file), with its summary; None when there is none (or only rows of older versions of the job)."""
    return next((r for r in runs if r["status"] in (SUCCEEDED, QUARANTINED) and r.get("summary")), None)


def output_unchanged(spark: SparkSession, config: JobConfig, row: dict) -> bool:
    """Whether the deliverable at --output is the one the run of `row` wrote (its sha256)."""
    return path_exists(spark, config.output) and \
        hashlib.sha256(small_text(spark, config.output).encode("utf-8")).hexdigest() == row["output_sha256"]


def unchanged_result(spark: SparkSession, config: JobConfig, ingested: Ingested, runs: list[dict],
                     the_plan: Plan) -> RunSummary | None:
    """The summary of the last finished run, when this is an incremental run that takes no file
    (`the_plan`) and reuses `sessions`, that run asked the same question and answered from this
    batch, and the deliverable is still the one it wrote (its sha256, in its row): nothing to redo.
    None otherwise."""
    last = last_answer(runs)
    if not the_plan.takes_nothing or the_plan.sessions != REUSE or last is None:
        return None
    summary = RunSummary.from_json(json.loads(last["summary"]))
    if question(summary.config or {}) != question(asdict(config)) or summary.batch != ingested.batch \
            or not output_unchanged(spark, config, last):
        return None
    log.info("nothing new in %s since the last run: tables and %s unchanged", config.input, config.output)
    return summary


def refuse_replay_over_daily_output(spark: SparkSession, config: JobConfig, runs: list[dict]) -> None:
    """--as-of-version writes over the deliverable of the runs that ingest (the last one's, as its
    row records it) only when told to."""
    last = last_answer(runs)
    if config.as_of_version is None or config.replace_output or last is None:
        return
    if json.loads(last["config"]).get("output") == config.output and output_unchanged(spark, config, last):
        raise UsageError(f"--output {config.output} is the answer of the {last['mode']} runs (see "
                         f"{config.table_path(tables.RUNS.name)}): write the --as-of-version answer elsewhere, "
                         "or pass --replace-output to replace it")


def answer_to_keep(runs: list[dict], config: JobConfig, sessions_from: tuple[int, str]) -> dict | None:
    """The row of the run that last wrote `top_tracks`, when it finished (its checks passed, not
    under --warn-only), asked for as many top sessions and tracks as `config`, and left `sessions`
    at `sessions_from` (batch, rules): its answer is this run's when the top sessions are too
    (sessions_stage.kept_answer). None otherwise."""
    last = next((row for row in runs if "top_tracks" in (row["table_versions"] or {})), None)
    if last is None or last["status"] not in (SUCCEEDED, QUARANTINED):
        return None
    options = json.loads(last["config"])
    same = all(options.get(name) == getattr(config, name) for name in ("top_sessions", "top_tracks"))
    return last if same and not options.get("warn_only") \
        and (last["sessions_batch"], last["sessions_rules"]) == sessions_from else None


def admission_warnings(config: JobConfig, ingested: Ingested) -> list[str]:
    """The files skipped, the input gone quiet (`freshness`), the files still refused: logged."""
    warnings = [f"input file {p} skipped: {r}" for p, r in ingested.duplicates.items()]
    if config.incremental and not ingested.landed:
        warnings.append(freshness(ingested.record.first_seen, datetime.now(timezone.utc), config))
    if ingested.unresolved:
        warnings.append(f"{len(ingested.unresolved)} input file(s) refused and not re-admitted: "
                        f"{', '.join(ingested.unresolved)} (see {config.table_path('files')})")
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


def refusals_to_report(record: Record, runs: list[dict]) -> dict[str, str]:
    """The refused files a run reports (path -> why): those the latest batch refused
    (record.Record.refused_last), whether this run took that batch or retries the run that did,
    and those an earlier batch refused that no run's row reports (the run that took it was killed
    before its row). A row reports the files it lists refused, of its batch and the batches before."""
    reported = {}  # path -> the latest batch whose refusals of it a row reports
    for row in runs:
        for path in row.get("input_files_quarantined") or []:
            reported[path] = max(reported.get(path, -1), row["batch"] if row["batch"] is not None else -1)
    earlier = {path: why for batch, files in sorted(record.refused_in.items()) if batch < record.completed_batch
               for path, why in files.items() if reported.get(path, -1) < batch}
    return {**earlier, **record.refused_last}


def quarantine_alert(refused: dict[str, str], config: JobConfig) -> str | None:
    """The line a run exits 3 with when it reports refused files (`refusals_to_report`): a retry
    with nothing new exits 3 with the same line, so it never turns the alert into a silent
    success. None when there are none, with --warn-only, and in an --as-of-version run."""
    if not refused or config.warn_only or config.as_of_version is not None:
        return None
    path, reason = next(iter(refused.items()))
    more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
    return (f"input file {path} refused: {reason}{more}; the other files are ingested and the answer updated. "
            f"Inspect its lines in {config.table_path('quarantine')}, then fix and re-deliver it, or run with "
            f"--readmit {path} to ingest it as it is")


def freshness(first_seen: dict[str, datetime], now: datetime, config: JobConfig) -> str:
    """The warning of a run that found no new file; DataQualityError once the newest file the
    warehouse has seen is older than --max-days-without-new-files."""
    newest = max(first_seen.values(), default=None)
    if newest is None:
        return "no input file has landed yet"
    days = (now - newest).total_seconds() / 86_400
    message = f"no new input file in {config.input} since {newest:%Y-%m-%dT%H:%M:%SZ} ({days:.1f} days)"
    if config.max_days_without_new_files and days > config.max_days_without_new_files:
        raise DataQualityError(f"{message}, above --max-days-without-new-files {config.max_days_without_new_files:g}: "
                               "is the upstream delivering?")
    return message
