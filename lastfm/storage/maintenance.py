"""Table maintenance: compact each Delta table of a warehouse, then delete the files it no longer needs.

Every daily run appends a few small files to `plays` (and to `rejects`, `runs`, `files`, ...) and
rewrites the small tables whole, leaving the files of their earlier versions behind. For each
table present, `maintain`:
1. compacts it: Delta's OPTIMIZE (bin-packing) of its files under `compact_below_bytes` (16 MB),
   one commit with `dataChange = false`, so the rows, the change data feed and any reader of the
   table are unchanged; a table with fewer than two such files is left as it is (no commit). Delta's
   own threshold (1 GB) would rewrite a whole history of files under it on every maintenance: all
   824 MB of a 19M-play `plays` after one day, 85-100 s (measured); a full parse writes files of
   ~40 MB per 128 MB of input, a daily run files of about a megabyte;
2. vacuums it: Delta's VACUUM deletes the data files no version newer than the retention needs
   (the files OPTIMIZE or an overwrite removed more than `retention_hours` ago) and the files no
   commit ever named (a dead write's) older than that.

After it, the versions a reader can still time-travel to (`versionAsOf`, the job's
`--as-of-version`) are those of the last `retention_hours`: older ones lost their files. The
commits themselves stay for `delta.logRetentionDuration` (Delta's 30 days by default). Nothing
here changes a table property (`delta.logRetentionDuration`, `delta.deletedFileRetentionDuration`
or any other): the retention is this run's argument only, and a retention below Delta's safety
check (168 h) needs `allow_short_retention`, which lifts the check for this session only while
the tables are vacuumed.

Run it when no job writes or reads the warehouse (the DAGs share one Airflow pool,
docs/scheduling.md "Maintenance"); a commit of another run that conflicts with OPTIMIZE stops it
with ConcurrentRunError (exit 4: run it again).
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lastfm.errors import ConcurrentRunError, UsageError
from lastfm.storage.reading import path_exists
from lastfm.storage.writing import commit_conflict
from lastfm.tables import WAREHOUSE

log = logging.getLogger(__name__)

# Delta's default delta.deletedFileRetentionDuration (7 days), and the floor of its safety check
DEFAULT_RETENTION_HOURS = 168
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
# Delta 4.4 (the Spark 4.1 line) ignores VACUUM's retention unless it is 0, and takes the table's
# delta.deletedFileRetentionDuration instead (an internal setting, on by default); off, it honours
# the retention, and checks it, as Delta 3.3 and 4.0 do, which do not know the key
RETENTION_ARGUMENT = "spark.databricks.delta.vacuum.retentionWindowIgnore.enabled"
# VACUUM lists a table's folder in this many tasks: Spark's default of 10,000 costs 40-60 s of empty
# tasks per table in local mode (measured, Delta 4.4); the tables are unpartitioned, one folder each
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
# OPTIMIZE compacts the files smaller than this (Delta's default: 1 GB)
MIN_FILE_SIZE = "spark.databricks.delta.optimize.minFileSize"
COMPACT_BELOW_BYTES = 16 * 2**20
# Delta's refusal of a retention below the table's own: its error class (4.x), or the conf its
# message names (every line; 3.3's message has no error class)
RETENTION_TOO_SHORT = ("DELTA_VACUUM_RETENTION_PERIOD_TOO_SHORT", "retentionDurationCheck.enabled")


@dataclass(frozen=True)
class Maintained:
    """What maintenance did to one table."""

    table: str
    path: str
    version_before: int  # the table's latest version before OPTIMIZE
    version_after: int  # ... and after VACUUM
    files_before: int  # data files of the latest version, before OPTIMIZE
    files_after: int  # ... and after it (VACUUM deletes only files no longer in the table)
    files_compacted: int  # OPTIMIZE's numFilesRemoved: the small files it rewrote
    files_written: int  # OPTIMIZE's numFilesAdded: the files it wrote them into
    # VACUUM's numDeletedFiles, from its VACUUM END commit; None where Delta does not log VACUUM
    # in the table's history (object stores other than gs://, e.g. s3://)
    files_vacuumed: int | None
    retention_hours: int


def maintain(spark: SparkSession, warehouse: str, retention_hours: int = DEFAULT_RETENTION_HOURS,
             tables: list[str] | tuple[str, ...] | None = None, *,
             allow_short_retention: bool = False,
             compact_below_bytes: int = COMPACT_BELOW_BYTES) -> dict[str, Maintained]:
    """OPTIMIZE (compaction), then VACUUM with `retention_hours`, each Delta table under
    `warehouse` (`<warehouse>/<name>` for the names of `tables`, by default every table of
    lastfm.tables.WAREHOUSE); a table that is not there is skipped. OPTIMIZE rewrites the files
    under `compact_below_bytes` only. Returns table name -> Maintained, for the tables maintained,
    in that order.

    `retention_hours` is whole hours (Delta rounds to them). Raises UsageError (nothing changed)
    when the warehouse is missing or holds none of the tables, a name is unknown,
    `retention_hours` is negative or not whole, or below 168 h without
    `allow_short_retention`; UsageError too when a table's own delta.deletedFileRetentionDuration
    is longer than `retention_hours` (Delta's check; the tables before it are maintained).
    ConcurrentRunError when another run's commit conflicts with OPTIMIZE (the tables before it
    are maintained, that one is unchanged)."""
    names = tuple(tables) if tables is not None else tuple(WAREHOUSE)
    unknown = sorted(set(names) - set(WAREHOUSE))
    if unknown:
        raise UsageError(f"unknown table{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                         f"the warehouse's tables are {', '.join(WAREHOUSE)}")
    check_retention(retention_hours, allow_short_retention)
    if not path_exists(spark, warehouse):
        raise UsageError(f"warehouse not found: {warehouse}")
    # config.JobConfig.table_path's rule: <warehouse>/<table>
    paths = {name: f"{warehouse.rstrip('/')}/{name}" for name in names}
    present = [name for name in names if DeltaTable.isDeltaTable(spark, paths[name])]
    if not present:
        raise UsageError(f"no Delta table in {warehouse} (looked for {', '.join(names)})")
    settings = {RETENTION_ARGUMENT: "false", MIN_FILE_SIZE: str(compact_below_bytes)}
    if not spark.sparkContext.getConf().contains(LISTING_PARALLELISM):  # one set on purpose is kept
        settings[LISTING_PARALLELISM] = str(spark.sparkContext.defaultParallelism)
    if allow_short_retention:
        settings[RETENTION_CHECK] = "false"
    done = {}
    with session_settings(spark, settings):
        for name in present:
            done[name] = maintain_table(spark, name, paths[name], retention_hours)
    return done


def check_retention(retention_hours: int, allow_short_retention: bool) -> None:
    """UsageError unless `retention_hours` is a usable VACUUM retention."""
    if not (retention_hours >= 0 and float(retention_hours).is_integer()):  # `not >=`, so that nan fails too
        raise UsageError(f"--retention-hours must be a whole number of hours >= 0, got {retention_hours}")
    if retention_hours < DEFAULT_RETENTION_HOURS and not allow_short_retention:
        raise UsageError(f"--retention-hours {retention_hours:g} is below Delta's safety check "
                         f"({DEFAULT_RETENTION_HOURS:g} h): VACUUM could delete files a running job still "
                         "reads or is committing; pass --allow-short-retention if nothing else uses the warehouse")


def maintain_table(spark: SparkSession, name: str, uri: str, retention_hours: int) -> Maintained:
    """OPTIMIZE then VACUUM the Delta table at `uri` (see `maintain`)."""
    table = DeltaTable.forPath(spark, uri)
    before, files_before = latest_version(table), table.detail().select("numFiles").head()[0]
    try:
        log.info("compacting %s (v%d, %d files)", uri, before, files_before)
        metrics = table.optimize().executeCompaction().select("metrics.numFilesAdded", "metrics.numFilesRemoved").head()
        compacted = latest_version(table)
        log.info("vacuuming %s (files removed more than %g h ago)", uri, retention_hours)
        table.vacuum(float(retention_hours))
    except Exception as error:
        conflict = commit_conflict(error)
        if conflict:
            raise ConcurrentRunError(f"{uri}: another run changed this table during its maintenance ({conflict}); "
                                     "the maintenance stopped, this table is as that run left it: "
                                     "run it again") from None
        message = str(error)
        if any(words in message for words in RETENTION_TOO_SHORT):
            floor = re.search(r'(?:not less than "|at least )(\d+) hours', message)
            raise UsageError(f"{uri}: --retention-hours {retention_hours:g} is shorter than the table's own "
                             f"delta.deletedFileRetentionDuration{f' ({floor[1]} h)' if floor else ''}; "
                             "pass a longer one, or --allow-short-retention") from None
        raise
    after = latest_version(table)
    vacuum_end = (table.history(after - compacted).where("operation = 'VACUUM END'")
                  .select("operationMetrics").head() if after > compacted else None)
    vacuumed = (vacuum_end[0] or {}).get("numDeletedFiles") if vacuum_end else None
    added, removed = int(metrics["numFilesAdded"] or 0), int(metrics["numFilesRemoved"] or 0)
    return Maintained(name, uri, before, after, files_before, files_before - removed + added, removed, added,
                      None if vacuumed is None else int(vacuumed), int(retention_hours))


def latest_version(table: DeltaTable) -> int:
    return table.history(1).select("version").head()[0]


@contextmanager
def session_settings(spark: SparkSession, settings: dict[str, str]):
    """`settings` in the session's runtime conf while the block runs, each put back as it was after."""
    before = {}
    for key, value in settings.items():
        try:
            before[key] = spark.conf.get(key)
        except Exception:  # neither set nor a conf with a default
            before[key] = None
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
