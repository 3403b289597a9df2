"""Every read the job makes: the raw input, the Delta tables, and file listings.

Paths are any URI Spark's Hadoop layer reads (local, file://, s3a://, gs://, hdfs://).
"""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urlparse

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from lastfm.errors import UsageError


def hadoop_path(spark: SparkSession, uri: str):
    """(Hadoop Path, its FileSystem) for any URI Spark can read."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def input_files(spark: SparkSession, uri: str) -> list[tuple[str, int, int]]:
    """(path, size, modification time) of every data file under `uri`, a file or a directory.

    Raises UsageError when the path is missing or holds no data. Like Spark's own readers,
    names starting with `_` or `.` are skipped.
    """
    path, fs = hadoop_path(spark, uri)
    if not fs.exists(path):
        raise UsageError(f"input not found: {uri}")
    files = []
    listing = fs.listFiles(path, True)
    while listing.hasNext():
        status = listing.next()
        name = status.getPath().getName()
        if not name.startswith(("_", ".")):
            files.append((status.getPath().toString(), status.getLen(), status.getModificationTime()))
    if sum(size for _, size, _ in files) == 0:
        raise UsageError(f"input is empty: {uri}")
    return sorted(files)


def read_lines(spark: SparkSession, uri: str) -> DataFrame:
    """The raw input as one string column `value` per line (LF, CRLF or CR line ends)."""
    return spark.read.option("recursiveFileLookup", "true").text(uri)


def read_table(spark: SparkSession, uri: str) -> DataFrame:
    return spark.read.format("delta").load(uri)


def latest_commit(spark: SparkSession, uri: str) -> dict | None:
    """`version`, `userMetadata` and `rows` (numOutputRows) of the latest commit of the Delta
    table at `uri`; None when there is no Delta table there. Reads only the transaction log."""
    if not DeltaTable.isDeltaTable(spark, uri):
        return None
    last = DeltaTable.forPath(spark, uri).history(1).select("version", "userMetadata", "operationMetrics").head()
    metrics = last["operationMetrics"] or {}
    return {"version": last["version"], "userMetadata": last["userMetadata"], "rows": int(metrics.get("numOutputRows", 0))}


def path_exists(spark: SparkSession, uri: str) -> bool:
    path, fs = hadoop_path(spark, uri)
    return fs.exists(path)


def recorded_or_computed_md5(uri: str) -> str | None:
    """MD5 of a local input file: from its `<file>.md5` sidecar (written by the dataset fetch,
    `md5sum` format) when that is newer than the file, else computed; None when not local."""
    parsed = urlparse(uri)
    path = parsed.path if parsed.scheme == "file" else uri if parsed.scheme == "" else None
    if path is None or not os.path.isfile(path):
        return None
    sidecar = f"{path}.md5"
    if os.path.isfile(sidecar) and os.path.getmtime(sidecar) >= os.path.getmtime(path):
        with open(sidecar, encoding="utf-8") as handle:
            return handle.read().split()[0]
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
