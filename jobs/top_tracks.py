"""spark-submit entrypoint: the top songs in the longest Last.fm listening sessions.

    spark-submit jobs/top_tracks.py --input PATH --output FILE.tsv --warehouse DIR \
        [--session-gap-minutes 20] [--top-sessions 50] [--top-tracks 10] \
        [--max-reject-fraction 0.001] [--max-duplicate-fraction 0.01] [--warn-only]

Exit codes: 0 success, 2 bad usage or unusable input, 3 data-quality failure, 1 anything else.
The master and cluster settings come from spark-submit, never from this file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from pyspark.sql import SparkSession

from lastfm.config import JobConfig
from lastfm.errors import JobError, UsageError
from lastfm.pipeline import run

log = logging.getLogger("top_tracks")


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit code 2, like every other usage error
        raise UsageError(f"{self.prog}: {message}")


def parse_args(argv=None) -> JobConfig:
    parser = _ArgumentParser(prog="top_tracks", description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="raw TSV file or folder (any Hadoop URI)")
    parser.add_argument("--output", required=True, help="the single TSV file to write")
    parser.add_argument("--warehouse", required=True, help="folder for the Delta tables")
    parser.add_argument("--session-gap-minutes", type=float, default=20)
    parser.add_argument("--top-sessions", type=int, default=50)
    parser.add_argument("--top-tracks", type=int, default=10)
    parser.add_argument("--max-reject-fraction", type=float, default=0.001)
    parser.add_argument("--max-duplicate-fraction", type=float, default=0.01,
                        help="most rows allowed to repeat an earlier (user, timestamp, artist, track)")
    parser.add_argument("--warn-only", action="store_true",
                        help="log failed data expectations as warnings instead of failing with exit 3")
    return JobConfig(**vars(parser.parse_args(argv)))


def build_spark() -> SparkSession:
    return (
        SparkSession.builder.appName("lastfm-top-tracks")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .getOrCreate()
    )


def format_table(rows: list[dict]) -> str:
    lines = [f"{r['play_count']:>7}  {r['artist_name']} - {r['track_name']}" for r in rows]
    return "\n".join(["  plays  song", *lines])


def print_error(message: str) -> None:
    """One line on stderr. Under spark-submit, Python's stderr is merged into spark-submit's
    stdout (PythonRunner), so the line goes through the driver JVM's own stderr instead."""
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark.java_gateway import launch_gateway

        launch_gateway().jvm.System.err.println(message)
    else:
        print(message, file=sys.stderr)


def one_line(error: Exception, config: JobConfig | None) -> str:
    """An unexpected error as one line: its type and the first line of its message (a JVM error's
    message names the Java exception and usually the path), plus the run's paths when the line
    names none of them."""
    java = getattr(error, "java_exception", None)  # Py4J's "An error occurred while calling o42.save"
    lines = [line.strip() for line in str(java.toString() if java is not None else error).splitlines() if line.strip()]
    text = lines[0] if java is not None and lines else f"{type(error).__name__}: {lines[0] if lines else 'no message'}"
    text = text[:1000]
    paths = (config.input, config.output, config.warehouse) if config else ()
    if paths and not any(path in text for path in paths):
        text += f" (input {config.input}, output {config.output}, warehouse {config.warehouse})"
    return text


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = None
    try:
        config = parse_args(argv)
        spark = build_spark()
        try:
            summary = run(spark, config)
        finally:
            spark.stop()
    except JobError as error:
        print_error(f"error: {error}")
        return error.exit_code
    except Exception as error:  # anything else (a storage error, a bug): one line here, the trace in the log
        log.exception("run failed")
        print_error(f"error: {one_line(error, config)}")
        return 1
    log.info("run summary %s", json.dumps(summary, default=str))
    print(format_table(summary["top_tracks"]))
    print(f"wrote {summary['output']} and Delta tables under {config.warehouse}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
