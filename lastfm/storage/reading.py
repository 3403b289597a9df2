"""Every read the job makes: the raw input, the Delta tables, and file listings.

Paths are any URI Spark's Hadoop layer reads (local, file://, s3a://, gs://, hdfs://).
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import ExitStack

from pyspark.sql import DataFrame, SparkSession

from lastfm.errors import UsageError


def hadoop_path(spark: SparkSession, uri: str):
    """(Hadoop Path, its FileSystem) for any URI Spark can read."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def local_path(spark: SparkSession, uri: str) -> str | None:
    """The driver's own path for `uri` when Spark resolves it to the local file system (a file:
    URI, or no scheme while fs.defaultFS is file:///, as in local mode); None for any other file
    system (a path with no scheme is on HDFS where fs.defaultFS says so, as on EMR and Dataproc)."""
    path, fs = hadoop_path(spark, uri)
    qualified = fs.makeQualified(path).toUri()
    return qualified.getPath() if qualified.getScheme() == "file" else None


def qualified(spark: SparkSession, uri: str) -> str:
    """`uri` as the file system names it (scheme and authority filled in, as listings give paths)."""
    path, fs = hadoop_path(spark, uri)
    return fs.makeQualified(path).toString()


def input_files(spark: SparkSession, uri: str) -> list[tuple[str, int, int]]:
    """(path, size, modification time) of every data file under `uri`, a file or a directory.

    Raises UsageError when the path is missing or holds no data. Like Spark's own readers, files
    and folders whose names start with `_` or `.` are skipped (`_SUCCESS`, `_temporary/`,
    `.hidden/`): only what Spark reads counts.
    """
    path, fs = hadoop_path(spark, uri)
    if not fs.exists(path):
        raise UsageError(f"input not found: {uri}")
    root = qualified(spark, uri).rstrip("/")
    files = []
    listing = fs.listFiles(path, True)
    while listing.hasNext():
        status = listing.next()
        found = status.getPath().toString()
        below_root = found[len(root):].strip("/").split("/") if found.startswith(root + "/") else []
        if not any(part.startswith(("_", ".")) for part in [*below_root, status.getPath().getName()]):
            files.append((found, status.getLen(), status.getModificationTime()))
    if sum(size for _, size, _ in files) == 0:
        raise UsageError(f"input is empty: {uri}")
    return sorted(files)


def read_lines(spark: SparkSession, uri: str | list[str]) -> DataFrame:
    """The raw input (a file or folder, or a list of files) as one string column `value` per line
    (LF, CRLF or CR line ends)."""
    return spark.read.option("recursiveFileLookup", "true").text(uri)


def cached(frame: DataFrame, held: ExitStack) -> DataFrame:
    """`frame` cached (memory, spilling to disk) until `held` closes: a long-lived process (the
    tests, a notebook) runs many jobs in one session."""
    held.callback(frame.unpersist)
    return frame.cache()


def read_table(spark: SparkSession, uri: str, version: int | None = None) -> DataFrame:
    """The Delta table at `uri`, as of `version` when given."""
    reader = spark.read.format("delta")
    return (reader if version is None else reader.option("versionAsOf", version)).load(uri)


def latest_commit(spark: SparkSession, uri: str) -> dict | None:
    """`version`, `userMetadata` and `rows` of the latest commit of the Delta table at `uri`; None
    when there is no Delta table there (`commit_info` says what `rows` is)."""
    versions = log_versions(spark, uri)
    return commit_info(spark, uri, versions[-1]) if versions else None


def log_versions(spark: SparkSession, uri: str) -> list[int]:
    """The versions of the Delta table at `uri` whose commit files are in its log, ascending ([]
    when there is no table there). Log cleanup removes only commits older than a checkpoint,
    never the latest.

    Read from the transaction log as Delta's protocol lays it out (`_delta_log/<version, 20
    digits>.json`): a listing, where DeltaTable.history(1) runs a Spark job (~0.3 s warm)."""
    log_dir, fs = hadoop_path(spark, f"{uri.rstrip('/')}/_delta_log")
    if not fs.exists(log_dir):
        return []
    names = [status.getPath().getName() for status in fs.listStatus(log_dir)]
    return sorted(int(name[:-5]) for name in names if re.fullmatch(r"\d{20}\.json", name))


def commit_info(spark: SparkSession, uri: str, version: int) -> dict:
    """`version`, `userMetadata` and `rows` of one commit of the Delta table at `uri` (its
    `commitInfo` action, one small file). `rows` is the commit's numOutputRows metric; where commit
    metrics are off (spark.databricks.delta.history.metricsEnabled=false) the rows of that version
    are counted instead."""
    actions = small_text(spark, f"{uri.rstrip('/')}/_delta_log/{version:020d}.json").splitlines()
    info = next((a["commitInfo"] for a in map(json.loads, filter(None, actions)) if "commitInfo" in a), {})
    rows = (info.get("operationMetrics") or {}).get("numOutputRows")
    if rows is None:
        rows = spark.read.format("delta").option("versionAsOf", version).load(uri).count()
    return {"version": version, "userMetadata": info.get("userMetadata"), "rows": int(rows)}


def small_text(spark: SparkSession, uri: str) -> str:
    """The whole text (UTF-8) of a small file, on any file system Spark reads."""
    path, fs = hadoop_path(spark, uri)
    stream = fs.open(path)
    try:
        return spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def path_exists(spark: SparkSession, uri: str) -> bool:
    path, fs = hadoop_path(spark, uri)
    return fs.exists(path)


def recorded_or_computed_md5(spark: SparkSession, uri: str) -> str | None:
    """MD5 of an input file: from its `<file>.md5` sidecar (written by the dataset fetch, `md5sum`
    format) when that is newer than the file, on whatever file system the input is; else
    computed, when the file is local to the driver; else None (unknown)."""
    path, fs = hadoop_path(spark, uri)
    sidecar, _ = hadoop_path(spark, f"{uri}.md5")
    if not fs.isFile(path):
        return None
    if (fs.isFile(sidecar)
            and fs.getFileStatus(sidecar).getModificationTime() >= fs.getFileStatus(path).getModificationTime()):
        return small_text(spark, f"{uri}.md5").split()[0]
    local = local_path(spark, uri)
    if local is None:
        return None
    digest = hashlib.md5()
    with open(local, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
