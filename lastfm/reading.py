"""Every read the job makes: the raw input, the Delta tables, and file listings.

Paths are any URI Spark's Hadoop layer reads (local, file://, s3a://, gs://, hdfs://).
"""

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


def path_exists(spark: SparkSession, uri: str) -> bool:
    path, fs = hadoop_path(spark, uri)
    return fs.exists(path)
