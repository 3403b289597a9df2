"""The SparkSession of the job's entry points (jobs/): Delta's SQL extension and catalog, and
Spark's console progress bar where, and only where, a person watches it.

The bar redraws itself with carriage returns on the driver JVM's stderr. In a log that is not a
terminal (Airflow's task log, an EMR step's stderr, a pipe) that residue shares its line with the
run's one `error:` line: the bar is on when that stderr is a terminal, off otherwise, whatever
the defaults say (conf/spark-defaults.conf has it off, for the platforms' own submissions)."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession


def build_spark(app_name: str) -> SparkSession:
    builder = (SparkSession.builder.appName(app_name)
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"))
    return builder.config("spark.ui.showConsoleProgress", str(driver_stderr_is_terminal()).lower()).getOrCreate()


def driver_stderr_is_terminal() -> bool:
    """Whether the driver JVM's stderr, where the bar is drawn, is a terminal. Under spark-submit
    (PYSPARK_GATEWAY_PORT set) the JVM runs first and starts this Python process, whose own
    stderr is a pipe to it: the JVM's is asked, through /proc (no /proc, as on macOS: no bar).
    Otherwise the JVM is started from here and inherits this process's stderr."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return sys.stderr.isatty()
    try:
        fd = os.open(f"/proc/{os.getppid()}/fd/2", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)
