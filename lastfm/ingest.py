"""The parse stage of a run: the batches of the run's plan (planning.py says which files each
takes, and how), each file checked before its plays count (storage/record.py says how a batch is
claimed, written and completed, and why a file is counted once whatever is killed when).

A batch's files are parsed once, into memory (spilling to disk when large): one aggregate over
those rows gives each file's facts, content identity and input profile (quality/admission.py,
quality/profiling.py), the verdicts are taken, and only then are the admitted files' plays and
rejected lines written to `plays` and `rejects`, and the refused files' lines to `quarantine`.

Whichever files the plan takes (an incremental run's new and changed ones, a full run's every
one, or none when a full run reuses the tables), the warehouse ends holding the same plays, so
full and incremental runs interleave in any order.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lastfm import compat, planning, schemas, tables
from lastfm.config import JobConfig
from lastfm.errors import DataQualityError, UsageError
from lastfm.planning import Batch, Held, Plan
from lastfm.quality import admission, profiling
from lastfm.question.parsing import PARSE_VERSION, parse_lines
from lastfm.schemas import BATCH, LINE, REASON, SOURCE_FILE, USER_ID
from lastfm.storage import record
from lastfm.storage.reading import (
    hadoop_path,
    latest_commit,
    qualified,
    read_lines,
    read_table,
)
from lastfm.storage.record import Claimed, Record
from lastfm.storage.writing import TableVersion, write_table

log = logging.getLogger(__name__)


@dataclass
class Ingested:
    """What the parse stage leaves for the rest of the run."""

    plays: TableVersion  # the version of `plays` the run answers from
    batch: int  # the record's latest completed batch: `plays` holds the rows of batches up to it
    profile: dict  # the input profile of the counted files
    record: Record
    files: list[str] = field(default_factory=list)  # the files this run admitted
    duplicates: dict[str, str] = field(default_factory=dict)  # path -> what it repeats, for the files skipped
    quarantined: dict[str, str] = field(default_factory=dict)  # path -> why, for the files this run refused
    rows_added: int = 0  # valid plays and rejected lines this run added
    reused: bool = False  # nothing parsed: the tables stand as they are
    written: dict[str, int] = field(default_factory=dict)  # table -> the version this run wrote
    # the plays held before `batch` at the (user, second) pairs of its plays (admission.held_at),
    # cached, where the repeats check looked up all of them: what the sessions update needs too
    held: DataFrame | None = None

    @property
    def unresolved(self) -> list[str]:
        return self.record.unresolved

    @property
    def landed(self) -> bool:
        """Anything new in the input: a file admitted, skipped or refused, or rows added."""
        return bool(self.files or self.duplicates or self.quarantined or self.rows_added)


def ingest(spark: SparkSession, config: JobConfig, held: Held, listing: list[tuple[str, int, int]], run_id: str
           ) -> tuple[Ingested, Plan]:
    """Carry out the run's plan (planning.py) over what the warehouse `held` at the start and the
    input's `listing`: each batch claimed (but one a dead run left, completed as it was claimed),
    parsed, judged and written; then the warehouse as the record says it is, and the plan carried
    out. After a dead run's batch the rest of the input is planned again from the record it left."""
    uri = config.table_path(tables.FILES.name)
    the_plan = planning.plan(held, listing, config, qualified(spark, config.input))
    current, done = held.files, []
    while True:
        log.info("%s", "\n".join(the_plan.lines()))
        for batch in the_plan.batches[len(done):]:
            claimed = [] if batch.resumed else record.claim(spark, uri, batch.number, batch.files, run_id)
            done.append(take_batch(spark, config, current, batch, run_id))
            current = record.record_of([*current.rows, *claimed, *done[-1].recorded])
        if not the_plan.replan:
            return answered(spark, config, current, done, reused=the_plan.reuse), the_plan
        the_plan = planning.plan(replace(held, files=current, gone=frozenset()), listing, config,
                                 qualified(spark, config.input), taken=the_plan.batches)


def answered(spark: SparkSession, config: JobConfig, current: Record, done: list[Taken], reused: bool = False
             ) -> Ingested:
    """The warehouse as the record says it is (the plays version, the counted files' profile), and
    what the batches this run completed (`done`) took."""
    if not current.counted and current.refused_last:  # nothing to answer from: say why
        refused = current.with_status(record.QUARANTINED).values()
        if not any(row["plays"] for row in refused):
            lines = sum(row["lines"] or 0 for row in refused)
            raise UsageError(f"no valid rows in input {config.input}: all {lines} lines rejected "
                             f"(see {config.table_path(tables.QUARANTINE.name)})")
        path, reason = next(iter(current.refused_last.items()))
        raise DataQualityError(f"input file {path} refused: {reason}; no input file is admitted "
                               f"(see {config.table_path(tables.QUARANTINE.name)})")
    if current.completed_batch is None or not current.counted:
        raise UsageError(f"no plays in {config.warehouse}: no input file has been admitted"
                         + (f" (refused: {', '.join(current.unresolved)})" if current.unresolved else ""))
    for taken in done[:-1]:
        if taken.held is not None:
            taken.held.unpersist()
    plays = config.table_path("plays")
    version = latest_commit(spark, plays)["version"]
    return Ingested(TableVersion(plays, version, None), current.completed_batch,
                    warehouse_profile(spark, list(current.counted.values())), current,
                    files=[p for taken in done for p in taken.admitted],
                    duplicates={p: why for taken in done for p, why in taken.duplicates.items()},
                    quarantined=dict(current.refused_last) if done else {},
                    rows_added=sum(taken.rows_added for taken in done), reused=reused,
                    written={name: v for taken in done for name, v in taken.written.items()},
                    held=done[-1].held if done else None)


def warehouse_profile(spark: SparkSession, counted: list[dict]) -> dict:
    """The input profile of the counted files: their profiles combined, the distinct names from
    the union of their sketches."""
    distinct = profiling.distinct_estimates(spark, [record.sketches_of(row) for row in counted])
    return profiling.combine([record.profile_of(row) for row in counted], distinct)


@dataclass
class Taken:
    admitted: list[str]
    duplicates: dict[str, str]
    rows_added: int
    written: dict[str, int]
    held: DataFrame | None  # Ingested.held
    recorded: list[dict]  # the outcome's rows in the record


def take_batch(spark: SparkSession, config: JobConfig, current: Record, planned: Batch, run_id: str) -> Taken:
    """Parse, judge and write the batch's files, then append its outcome."""
    batch, claims, rebuild = planned.number, list(planned.files), planned.rewrite
    parsed_claims = [c for c in claims if c.kind in record.PARSED]
    rows = parse_files(spark, [c.path for c in parsed_claims]) if parsed_claims else None
    try:
        facts = {f["path"]: f for f in admission.file_facts(rows, int(time.time()), [c.path for c in parsed_claims])
                 } if rows is not None else {}
        verdicts, held = judge_all(spark, config, current, batch, claims, rows, facts)
        outcomes, written = outcome_rows(current, batch, claims, facts, verdicts, rebuild)
        rows_added, versions = write_batch(spark, config, current, planned, rows, written, verdicts, facts)
    finally:
        if rows is not None:
            rows.unpersist()
    recorded = record.complete(spark, config.table_path(tables.FILES.name), batch, outcomes, run_id)
    for path, verdict in verdicts.items():
        if verdict.status in (record.DUPLICATE, record.QUARANTINED, record.CHANGED):
            log.warning("%s %s: %s", verdict.status, path, verdict.reason)
    return Taken(admitted=[c.path for c in parsed_claims if c.kind in (record.NEW, record.READMIT)
                           and verdicts[c.path].status == record.ADMITTED],
                 duplicates={p: v.reason for p, v in verdicts.items() if v.status == record.DUPLICATE},
                 rows_added=rows_added, written=versions, held=held, recorded=recorded)


def parse_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    """The parsed lines of `paths` (parsing.parse_lines), each with its file and the hashes of its
    line; the line itself kept only where it is refused. Persisted: the caller unpersists."""
    lines = lines_of(spark, paths)
    valid = compat.valid_utf8(F.col("value"))
    made = {**admission.line_hashes(valid), **profiling.replaced(F.col("value"), valid)}
    lines = lines.select(valid.alias("value"), SOURCE_FILE, *[column.alias(name) for name, column in made.items()])
    parsed = lines.transform(parse_lines)
    kept = parsed.select(*schemas.RAW_FIELDS, REASON, F.when(F.col(REASON).isNotNull(), F.col(LINE)).alias(LINE),
                         SOURCE_FILE, admission.HASH64, admission.HASH32, profiling.REPLACED)
    return kept.persist(StorageLevel.MEMORY_AND_DISK)


def lines_of(spark: SparkSession, paths: list[str]) -> DataFrame:
    """The lines of `paths` (`value`), each with the listed path of its file (SOURCE_FILE)."""
    # Spark's `_metadata.file_path` is the file's URI, percent-encoded; the record speaks of the listed paths
    by_uri = F.create_map(*[F.lit(x) for p in paths for x in (hadoop_path(spark, p)[0].toUri().toString(), p)])
    return read_lines(spark, paths).select(
        "value", F.try_element_at(by_uri, F.col("_metadata.file_path")).alias(SOURCE_FILE))


def judge_all(spark: SparkSession, config: JobConfig, current: Record, batch: int, claims: list[Claimed],
              rows: DataFrame | None, facts: dict[str, dict]) -> tuple[dict[str, admission.Verdict], DataFrame | None]:
    """Each parsed file's verdict, in arrival order (modification time, then path), and the held
    plays at the new files' seconds where they are all the batch's plays (Ingested.held). What a new file
    may repeat is what `plays` holds after the batch: the counted files less those it forgets."""
    forgotten = [c.path for c in claims if c.kind == record.FORGET]
    held = {path: row for path, row in current.counted.items() if path not in forgotten}
    order = sorted((c for c in claims if c.kind in record.PARSED), key=lambda c: (c.modified, c.path))
    new = [c.path for c in order if c.kind == record.NEW]
    repeated, held_plays = {}, None
    if new and (held or len(new) > 1):
        valid_new = rows.where(F.col(REASON).isNull() & F.col(SOURCE_FILE).isin(new))
        plays_uri = config.table_path("plays")
        history = None
        if held and DeltaTable.isDeltaTable(spark, plays_uri):
            users = [r[USER_ID] for r in valid_new.select(USER_ID).distinct().collect()]
            kept = read_table(spark, plays_uri).where(~F.col(SOURCE_FILE).isin(forgotten)) if forgotten \
                else read_table(spark, plays_uri)
            near = admission.history_near(kept, [facts[p] for p in new], users, batch)
            history = admission.held_at(near, valid_new)
            if not any(c.kind == record.READMIT for c in claims):  # else the batch adds plays not looked up for
                history = held_plays = history.cache()
        repeated = admission.repeats(valid_new, history if history is not None else valid_new.limit(0),
                                     [c.path for c in order])
    ids = {row["content_id"]: path for path, row in held.items()}
    verdicts = {}
    for c in order:
        facts[c.path]["repeated"] = repeated.get(c.path, 0)
        verdict = admission.judge(c, facts[c.path], held.get(c.path), ids, config, batch)
        verdicts[c.path] = verdict
        if verdict.status == record.ADMITTED and c.kind in (record.NEW, record.READMIT) and facts[c.path]["lines"]:
            ids.setdefault(facts[c.path]["content_id"], c.path)
    return verdicts, held_plays


def outcome_rows(current: Record, batch: int, claims: list[Claimed], facts: dict, verdicts: dict,
                 rebuild: bool) -> tuple[list[dict], dict[str, str]]:
    """The batch's outcome rows for the record, and which files' rows `plays` gets in this batch:
    path -> "parsed" (from this parse) or "kept" (copied from `plays` as they are)."""
    outcomes, written = [], {}
    for c in claims:
        before = current.settled.get(c.path)  # its outcome before this batch's claim
        base = {"path": c.path, "size": c.size, "modified": c.modified}
        if c.kind == record.FORGET:
            outcomes.append({**base, "status": record.FORGOTTEN, "reason": "gone from the input; its plays dropped "
                             "(--forget-missing-files)"})
            continue
        if c.kind == record.KEEP:
            written[c.path] = "kept"
            outcomes.append({**_counted_fields(before), **base, "status": record.CHANGED, "reason": before["reason"],
                             "plays_batch": batch})
            continue
        verdict, fact = verdicts[c.path], facts[c.path]
        from_parse = {"content_id": fact["content_id"],
                      **{k: fact[k] for k in ("lines", "plays", "rejected", "repeated", "future")},
                      "parse_version": PARSE_VERSION}
        if verdict.status == record.ADMITTED:
            if c.kind in (record.NEW, record.READMIT) or rebuild:
                written[c.path] = "parsed"
                profile = profiling.input_profile(fact)
                outcomes.append({**base, **from_parse, "status": record.ADMITTED, "reason": verdict.reason,
                                 "plays_batch": batch, "profile": _json(profile),
                                 "sketches": _json(profiling.sketches(fact))})
            else:  # touched, same content: its rows stay as they are
                outcomes.append({**_counted_fields(before), **base, "status": record.ADMITTED, "reason": None})
        elif verdict.status == record.CHANGED:
            if rebuild:
                written[c.path] = "kept"
            outcomes.append({**_counted_fields(before), **base, "status": record.CHANGED, "reason": verdict.reason,
                             "plays_batch": batch if rebuild else before["plays_batch"]})
        else:  # duplicate or quarantined: nothing of it in `plays`
            outcomes.append({**base, **from_parse, "status": verdict.status, "reason": verdict.reason})
    return outcomes, written


def _counted_fields(row: dict) -> dict:
    keep = ("content_id", "lines", "plays", "rejected", "repeated", "future", "parse_version", "profile", "sketches",
            "plays_batch")
    return {k: row[k] for k in keep}


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)


def write_batch(spark: SparkSession, config: JobConfig, current: Record, planned: Batch, rows: DataFrame | None,
                written: dict[str, str], verdicts: dict, facts: dict) -> tuple[int, dict[str, int]]:
    """Write the batch's rows: `plays` and `rejects` (the parsed rows of files admitted in it, and
    in a rebuild the kept rows of files that changed), `quarantine` (every line of the files refused
    in it). A rebuild overwrites `plays` and `rejects`; any other batch replaces the rows of
    batches >= its own (what a run that died in it left) and of counted files re-admitted with a
    new content. Returns the plays and rejected lines added, and the versions written."""
    path, batch, rebuild, replaced = config.table_path, planned.number, planned.rewrite, planned.replaced
    parsed = [p for p, how in written.items() if how == "parsed"]
    kept = [p for p, how in written.items() if how == "kept"]
    stamp = {BATCH: F.lit(batch).cast("long").alias(BATCH)}
    new_rows = rows.where(F.col(SOURCE_FILE).isin(parsed)) if rows is not None and parsed else None
    redo = batch == current.last_batch  # completing a batch a dead run left
    condition = None if rebuild else " OR ".join(
        [f"{BATCH} >= {batch}", *([f"{SOURCE_FILE} IN ({', '.join(_sql(p) for p in replaced)})"] if replaced else [])])
    added, versions = 0, {}
    for table, valid in ((tables.PLAYS, True), (tables.REJECTS, False)):
        uri, fields = path(table.name), table.schema
        exists = DeltaTable.isDeltaTable(spark, uri)
        expected = sum(facts[p]["plays" if valid else "rejected"] for p in parsed)
        if not (expected or kept or rebuild or replaced or redo or not exists):
            continue  # nothing to add, nothing to replace
        out = spark.createDataFrame([], fields)
        if new_rows is not None:
            picked = new_rows.where(F.col(REASON).isNull() if valid else F.col(REASON).isNotNull())
            out = out.unionByName(picked.select(*[stamp.get(f, F.col(f)) for f in fields.fieldNames()]))
        if kept:
            old = read_table(spark, uri).where(F.col(SOURCE_FILE).isin(kept))
            out = out.unionByName(old.withColumn(BATCH, stamp[BATCH]))
        if valid:
            files = -(-(expected + (old.count() if kept else 0)) // PLAYS_FILE_ROWS)
            out = out.repartitionByRange(max(files, 1), schemas.TS)
        version = write_table(out, uri, constraints=table.constraints, properties=table.properties,
                              replace_where=condition if exists else None)
        if not kept and version.rows != expected:
            raise RuntimeError(f"batch {batch} wrote {version.rows} rows to {uri}, its files hold {expected}")
        added += expected
        versions[table.name] = version.version
    refused = [p for p, v in verdicts.items() if v.status in (record.QUARANTINED, record.CHANGED)]
    uri = path(tables.QUARANTINE.name)
    exists = DeltaTable.isDeltaTable(spark, uri)
    if refused or (redo and exists):
        lines = (lines_of(spark, refused) if refused
                 else spark.createDataFrame([], f"value string, {SOURCE_FILE} string"))
        quarantine = lines.select(F.col("value").alias(LINE), SOURCE_FILE, stamp[BATCH].alias(BATCH))
        replace_where = f"{BATCH} >= {batch}" if exists else None
        versions[tables.QUARANTINE.name] = write_table(quarantine, uri, replace_where=replace_where).version
    return added, versions


# `plays` laid out by time: each batch's rows range-partitioned on `ts` into files of about
# PLAYS_FILE_ROWS (one for a day's plays), so that the files grow in number, not in size, with the
# history, and each covers its own span of time. A day's reads (the repeats check at its seconds,
# the sessions update's held plays) then open the files of the day's time range only, whatever the
# history's length: Delta skips the others by their `ts` statistics. (Written as read, each file
# would hold a block of users' whole histories: every file holds some user's newest plays.) A
# million plays is ~40 MB, above maintenance's compaction threshold (16 MB, storage/maintenance.py):
# OPTIMIZE leaves these files be and compacts the days' small files among themselves, recent times.
PLAYS_FILE_ROWS = 1_000_000


def _sql(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def as_of(spark: SparkSession, config: JobConfig) -> Ingested:
    """`plays` as it was at version --as-of-version, and the profile of the files it held then;
    nothing parsed. UsageError when that version cannot be read any more (its commit file or its
    data files are gone: Delta's log retention and VACUUM bound the time-travel window)."""
    uri, version = config.table_path("plays"), config.as_of_version
    try:
        batches = sorted(r[BATCH] for r in read_table(spark, uri, version).select(BATCH).distinct().collect())
    except Exception as error:  # Delta's and Hadoop's errors differ by line; all mean the same here
        first = (str(getattr(error, "java_exception", None) or error).strip().splitlines() or ["?"])[0]
        raise UsageError(f"{uri} has no version {version} that can still be read (outside the time-travel window of "
                         f"the log and file retention, or never written): {first[:300]}") from None
    rows = [r.asDict() for r in read_table(spark, config.table_path(tables.FILES.name)).collect()]
    held = {}
    for row in sorted(rows, key=lambda r: r["seq"]):  # the latest outcome of each file whose rows that version holds
        if row["seq"] % 2 and row["status"] in record.COUNTED and row["plays_batch"] in batches:
            held[row["path"]] = row
    if not held:
        raise UsageError(f"{uri} version {version} holds no plays the record of files knows of")
    return Ingested(TableVersion(uri, version, None), max(batches), warehouse_profile(spark, list(held.values())),
                    record.record_of(rows))
