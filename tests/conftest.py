"""One local SparkSession for the whole test run, with Delta, as Delta's own test utils set it up."""

import os
import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lastfm.platforms.cluster import setup_jars

JARS = setup_jars("delta")

# The JVMs the tests start for a run or two (spark-submit's, the standalone cluster's) compile with
# C1 only: the inputs are small, so those runs are all warm-up, and C2's compiler threads compete
# with the work for the two cores (a 100k-row job: 59 s -> 47 s, measured). C1 alone gets a 48 MB
# code cache, not tiered compilation's 240, which a JVM running through Spark's and Delta's code
# for minutes fills ("CodeCache is full. Compiler has been disabled"), so the cache is sized back
# up. The tests' own session, which runs the job a hundred times and more, compiles with C2 too
# (`spark` below): its first runs are slower, its later ones faster (test_daily_runs.py and
# test_incremental.py on two workers: 504 s -> 447 s, measured). The job itself keeps the JVM's
# default; the answers do not depend on it.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m")


@pytest.fixture(scope="session")
def spark():
    jars = sorted(str(jar) for jar in JARS.glob("*.jar"))
    assert jars, f"no Delta jars in {JARS}: run `make setup`"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lastfm-tests")
        .config("spark.jars", ",".join(jars))
        # C2 beside C1: a flag on the command line (before the defaults' extraJavaOptions) wins
        # over JAVA_TOOL_OPTIONS'
        .config("spark.driver.defaultJavaOptions", "-XX:TieredStopAtLevel=4")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # the tests' frames hold a few thousand rows: compiling each query's generated code costs
        # more than it saves (an in-process 1,000-line daily run: 100-118 s -> 74-75 s under the
        # same load, measured); the job through spark-submit (test_job, test_cluster) keeps it on
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        # adaptive execution plans each shuffle stage as a job of its own, which pays for large
        # stages only: off, tests/test_daily_runs.py on two workers 276 -> 251 s (measured); the
        # runs through spark-submit keep it, as the job does
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(params=["true", "false"], ids=["ansi", "no-ansi"])
def ansi_mode(spark, request):
    """Run a test under both values of spark.sql.ansi.enabled (Spark 4's default is true, 3.5's
    false): the rules and the answer must not depend on it."""
    before = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", request.param)
    yield request.param
    spark.conf.set("spark.sql.ansi.enabled", before)


@pytest.fixture(scope="session")
def spark_lines() -> dict[str, list[str]]:
    """The Makefile's line table: Spark line -> [pyspark, delta-spark, Delta's artifact, S3 pom,
    hadoop-aws, AWS SDK], with the default line under "default" too."""
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    lines = {line: row.split() for line, row in re.findall(r"^LINE_(\S+) := (.+)$", makefile, re.M)}
    lines["default"] = lines[re.search(r"^SPARK \?= (\S+)$", makefile, re.M).group(1)]
    return lines
