"""Every write the job makes: the Delta tables and the single-file deliverable.

A failed run never leaves a half-written deliverable: the TSV is written by Spark into a
hidden staging folder beside the target, then moved over the target in one step.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from delta.tables import DeltaTable
from py4j.java_gateway import JavaObject, is_instance_of
from pyspark import SparkContext
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lastfm import compat
from lastfm.errors import ConcurrentRunError, DataQualityError
from lastfm.schemas import OUTPUT_COLUMNS, RANK
from lastfm.storage.reading import commit_info, hadoop_path, local_path, log_versions


@dataclass(frozen=True)
class TableVersion:
    """What one write did to a Delta table: the commit it made (`committed`, its version and the
    rows it wrote), or none (an empty write, or one Delta skipped as a transaction it has seen:
    the table's latest version then, and 0 rows)."""

    path: str
    version: int
    rows: int
    committed: bool = True


# Delta's optimistic concurrency: another writer committed a change this commit conflicts with.
# Every such error of the JVM is one of this class (io.delta.exceptions' are its subclasses).
CONFLICT_CLASS = "org.apache.spark.sql.delta.DeltaConcurrentModificationException"
# A row that breaks a CHECK constraint (or a NOT NULL column); delta.exceptions has no type for it
# on every line, so it is known by the JVM class it carries, raised itself or as a cause.
INVARIANT_CLASS = "org.apache.spark.sql.delta.schema.DeltaInvariantViolationException"


def commit_conflict(error: Exception) -> str | None:
    """The class name of the Delta commit conflict `error` is, else None: by its Python type where
    the line's Delta converts JVM errors into delta.exceptions' types (compat.DELTA_CONFLICTS), else
    by the type of the JVM exception it carries (Delta 4.0 converts none)."""
    if isinstance(error, compat.DELTA_CONFLICTS):
        return type(error).__name__
    java = carried(error, CONFLICT_CLASS)
    return java.getClass().getSimpleName() if java is not None else None


def constraint_violated(error: Exception) -> bool:
    """Whether `error` is, or was caused by, a violated Delta CHECK constraint (INVARIANT_CLASS)."""
    return carried(error, INVARIANT_CLASS) is not None


def carried(error: Exception, java_class: str) -> JavaObject | None:
    """The JVM exception of class `java_class` (or a subclass) that `error` carries, itself or as
    one of its causes; None when there is none (or `error` carries no JVM exception)."""
    java = getattr(error, "_origin", None) or getattr(error, "java_exception", None)
    while isinstance(java, JavaObject):
        if is_instance_of(SparkContext._gateway, java, java_class):
            return java
        java = java.getCause()
    return None


def write_table(rows: DataFrame, uri: str, note: str | None = None,
                constraints: dict[str, str] | None = None, properties: dict[str, str] | None = None, *,
                append: bool = False, transaction: tuple[str, int] | None = None,
                replace_where: str | None = None, merge_schema: bool = False) -> TableVersion:
    """Overwrite the Delta table at `uri` with `rows` in one commit; `note` goes in its history.
    With `append`, add them instead. `transaction` (application id, version)
    makes the write idempotent: Delta skips it when the table has seen that version of that
    application already, and fails it when a concurrent commit carried the same. `replace_where`
    (a SQL predicate) overwrites only the rows that match it (every row written must match too);
    `merge_schema` adds the columns of `rows` that the table lacks.

    `constraints` (name -> SQL boolean) become the table's Delta CHECK constraints in that same
    commit (table properties `delta.constraints.<name>`, what ALTER TABLE ADD CONSTRAINT sets),
    so Delta checks every row as it writes; a violating row fails the write, and the table
    keeps its previous version, with DataQualityError. `properties` are other Delta table
    properties (`delta.*`), set in the same commit.
    """
    writer = rows.write.format("delta").mode("append" if append else "overwrite")
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    elif not append:
        writer = writer.option("overwriteSchema", "true")
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if transaction is not None:
        writer = writer.option("txnAppId", transaction[0]).option("txnVersion", transaction[1])
    tag = note or f"write {uuid.uuid4().hex}"
    writer = writer.option("userMetadata", tag)
    for name, check in (constraints or {}).items():
        writer = writer.option(f"delta.constraints.{name}", check)
    for name, value in (properties or {}).items():
        writer = writer.option(name, value)
    return tagged_commit(rows.sparkSession, uri, tag, lambda: writer.save(uri))


def replace_rows(uri: str, rows: DataFrame, replaced: DataFrame, condition: Column) -> TableVersion:
    """In one commit of the Delta table at `uri` (a MERGE): delete every row `t` of the table that
    matches a row `s` of `replaced` on `condition` (a Column over `t.` and `s.`; a row `t` matches
    at most one `s`), and add `rows`. On a table with deletion vectors (`delta.enableDeletionVectors`)
    a file that loses rows gets a bitmap of them instead of being rewritten; the table's CHECK
    constraints hold for the rows added, as in `write_table`."""
    marker = "_replaced"  # one source for both: what is deleted (marked) and what is added
    source = replaced.withColumn(marker, F.lit(True)).unionByName(rows.withColumn(marker, F.lit(False)),
                                                                  allowMissingColumns=True)
    merge = (DeltaTable.forPath(rows.sparkSession, uri).alias("t")
             .merge(source.alias("s"), F.col(f"s.{marker}") & condition)
             .whenMatchedDelete()
             .whenNotMatchedInsert(condition=~F.col(f"s.{marker}"),
                                   values={c: F.col(f"s.`{c}`") for c in rows.columns}))
    spark, tag = rows.sparkSession, f"merge {uuid.uuid4().hex}"

    def execute():
        with session_conf(spark, "spark.databricks.delta.commitInfo.userMetadata", tag):
            merge.execute()

    return tagged_commit(spark, uri, tag, execute)


def tagged_commit(spark: SparkSession, uri: str, tag: str, write) -> TableVersion:
    """Run `write`, which leaves `tag` in the userMetadata of the commit it makes to the Delta table
    at `uri`, with its errors as the job's (`committing`); return that commit (`own_commit`)."""
    before = log_versions(spark, uri)
    with committing(uri):
        write()
    return own_commit(spark, uri, tag, before[-1] if before else -1)


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str):
    """The session's `key` set to `value` for the block (Delta reads a MERGE's commit options from
    the session, not from the command)."""
    earlier = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if earlier is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, earlier)


@contextmanager
def committing(uri: str):
    """Delta's commit errors as the job's: another writer's conflicting commit (ConcurrentRunError)
    and a violated CHECK constraint (DataQualityError), each a line naming the table."""
    try:
        yield
    except Exception as error:
        conflict = commit_conflict(error)
        if conflict:
            raise ConcurrentRunError(f"{uri}: another run changed this table at the same time ({conflict}); "
                                     "this run stopped, and the tables are the other run's: run it again") from None
        if not constraint_violated(error):
            raise
        raise DataQualityError(f"{uri}: {constraint_violation(str(error))}") from None


def constraint_violation(message: str) -> str:
    """Delta's violation message (constraint, then one ` - column : value` line per column) as one
    line; any other wording is kept whole, joined into one line."""
    _, found, detail = message.partition("DeltaInvariantViolationException: ")
    lines = [line for line in (detail if found else message).splitlines() if line.strip()] or ["constraint violated"]
    values = [line.strip(" -") for line in lines[1:] if line.startswith(" - ")]
    rest = [line.strip() for line in lines[1:] if not line.startswith(" - ")] if not found else []
    return " ".join(part for part in (lines[0].strip(), ", ".join(values), *rest) if part)


def own_commit(spark: SparkSession, uri: str, tag: str, before: int) -> TableVersion:
    """The commit of a write to the Delta table at `uri`: the one after version `before` whose
    userMetadata is `tag` (another writer, maintenance say, may have committed around it); a
    TableVersion with `committed` false when there is none (Delta wrote nothing)."""
    versions = [v for v in log_versions(spark, uri) if v > before]
    for version in versions:
        info = commit_info(spark, uri, version)
        if info["userMetadata"] == tag:
            reached_commit(uri, version)
            return TableVersion(uri, version, info["rows"])
    return TableVersion(uri, versions[-1] if versions else before, 0, committed=False)


# Kill points, for the tests that SIGKILL a run between two commits: with LASTFM_COMMIT_LOG set,
# each commit the process makes appends "<table> <version> <pid>" to that file, and with
# LASTFM_STOP_AFTER_COMMIT=N the process stops itself (SIGSTOP) once the file holds N lines, so
# that the test kills its process group right there (`each`: after every commit, for the test to
# copy what a kill there leaves, then let it go on). Unset, as outside those tests, nothing happens.
COMMIT_LOG, STOP_AFTER_COMMIT = "LASTFM_COMMIT_LOG", "LASTFM_STOP_AFTER_COMMIT"
_commit_log_lock = threading.Lock()


def reached_commit(uri: str, version: int) -> None:
    log_file = os.environ.get(COMMIT_LOG)
    if not log_file:
        return
    with _commit_log_lock:
        with open(log_file, "a", encoding="utf-8") as out:
            out.write(f"{uri.rstrip('/').rpartition('/')[2]} {version} {os.getpid()}\n")
        with open(log_file, encoding="utf-8") as written:
            count = sum(1 for _ in written)
        if os.environ.get(STOP_AFTER_COMMIT) in (str(count), "each"):
            os.kill(os.getpid(), signal.SIGSTOP)


def write_single_tsv(ranked: DataFrame, uri: str) -> None:
    """Write `ranked` (OUTPUT_COLUMNS plus `rank`) as one headed TSV file at exactly `uri`.

    Values are written verbatim: no quoting, no escaping (a name never holds a tab or a
    newline, since those delimit the input). UTF-8, `\\n` line ends, rows in `rank` order.
    """
    spark = ranked.sparkSession
    header = spark.createDataFrame([("\t".join(OUTPUT_COLUMNS), 0)], f"value string, {RANK} int")
    body = ranked.select(
        F.concat_ws("\t", *[F.col(c).cast("string") for c in OUTPUT_COLUMNS]).alias("value"), RANK
    )
    staging = _staging_path(uri)
    try:
        (
            header.unionByName(body)
            .coalesce(1)
            .sortWithinPartitions(RANK)
            .select("value")
            .write.text(staging)
        )
        (part,) = _part_files(spark, staging)
        _replace(spark, part, uri)
    finally:
        path, fs = hadoop_path(spark, staging)
        fs.delete(path, True)


def _staging_path(uri: str) -> str:
    parent, _, name = uri.rstrip("/").rpartition("/")
    return f"{parent or '.'}/.{name}.staging-{uuid.uuid4().hex}"


# Longer than any live run may take (the DAGs stop a run after 4 hours): what a run left beside the
# output that is older than this is the leftover of a run that died.
STALE_AFTER_SECONDS = 6 * 3600


def remove_stale_staging(spark: SparkSession, uri: str, older_than_seconds: float = STALE_AFTER_SECONDS) -> list[str]:
    """Remove what dead runs left beside the output `uri` (its `.<name>.staging-*` folders and the
    `*.partial` files of write_text) older than `older_than_seconds`; return their paths."""
    parent, _, name = uri.rstrip("/").rpartition("/")
    folder, fs = hadoop_path(spark, parent or ".")
    if not fs.exists(folder):
        return []
    cutoff = (time.time() - older_than_seconds) * 1000
    removed = []
    for status in fs.listStatus(folder):
        found = status.getPath().getName()
        if ((found.startswith(f".{name}.staging-") or found.endswith(".partial"))
                and status.getModificationTime() < cutoff):
            fs.delete(status.getPath(), True)
            removed.append(status.getPath().toString())
    return removed


def _part_files(spark: SparkSession, folder: str) -> list[str]:
    path, fs = hadoop_path(spark, folder)
    return [s.getPath().toString() for s in fs.listStatus(path) if s.getPath().getName().startswith("part-")]


# Object stores make an object visible only once its upload completes, and have no rename.
OBJECT_STORES = frozenset({"s3a", "s3", "s3n", "gs", "wasb", "wasbs", "oss", "cosn", "obs"})


def _replace(spark: SparkSession, source: str, target: str) -> None:
    """Put `source` at `target` in one step, replacing any earlier file there: a reader sees the
    old file or the new one, whole. The local file system: rename(2). Object stores: a copy
    (the new object appears only once written whole). Any other (HDFS, viewfs): a rename with
    overwrite, one metadata operation (FileUtil.copy with overwrite would first truncate the old
    file in place)."""
    local_source, local_target = local_path(spark, source), local_path(spark, target)
    if local_source is not None and local_target is not None:
        os.replace(local_source, local_target)
        return
    jvm = spark.sparkContext._jvm
    source_path, source_fs = hadoop_path(spark, source)
    target_path, target_fs = hadoop_path(spark, target)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    if target_fs.getScheme() in OBJECT_STORES:
        jvm.org.apache.hadoop.fs.FileUtil.copy(source_fs, source_path, target_fs, target_path, True, True, conf)
        return
    rename = jvm.org.apache.hadoop.fs.Options.Rename
    overwrite = spark.sparkContext._gateway.new_array(rename, 1)
    overwrite[0] = rename.OVERWRITE
    context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(target_fs.getUri(), conf)
    context.rename(source_fs.makeQualified(source_path), target_fs.makeQualified(target_path), overwrite)


def write_text(spark: SparkSession, text: str, uri: str) -> None:
    """Write `text` (UTF-8) to exactly `uri`, on the file system Spark writes that path to (a path
    with no scheme is on fs.defaultFS: HDFS on EMR and Dataproc), replacing any earlier file in
    one step."""
    local = local_path(spark, uri)
    if local is not None:
        os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
        partial = f"{local}.{uuid.uuid4().hex}.partial"
        with open(partial, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(partial, local)
        return
    path, fs = hadoop_path(spark, uri)
    # an object store shows the object only once the stream is closed: whole or not at all;
    # elsewhere the text goes to a file beside the target, then replaces it
    partial = uri if fs.getScheme() in OBJECT_STORES else f"{uri}.{uuid.uuid4().hex}.partial"
    partial_path, _ = hadoop_path(spark, partial)
    stream = fs.create(partial_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    if partial != uri:
        _replace(spark, partial, uri)
