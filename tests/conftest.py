"""One local SparkSession for the whole test run, with Delta, as Delta's own test utils set it up."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parent.parent
JARS = REPO / ".cache" / "jars"


@pytest.fixture(scope="session")
def spark():
    jars = sorted(str(jar) for jar in JARS.glob("*.jar"))
    assert jars, f"no Delta jars in {JARS}: run `make setup`"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lastfm-tests")
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()
