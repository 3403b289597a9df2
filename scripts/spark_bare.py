"""The job's own transforms with nothing else: what Spark alone costs for the answer here.

    spark-submit scripts/spark_bare.py INPUT [GAP_SECONDS] [TOP_SESSIONS] [TOP_TRACKS]

Raw TSV -> parse -> session window -> longest sessions -> their songs, exactly as the job
computes them, but with no Delta table, no rejects, no profile, no expectation and no report
(lastfm.testing.floors.bare_top_tracks). `make bench BENCH_ARGS=--bare` runs it beside the job and
DuckDB, to tell what the job's design adds from what Spark itself costs on this machine. Prints
the rows as JSON after `ROWS `.
"""

import json
import sys

from pyspark.sql import SparkSession

from lastfm.schemas import OUTPUT_COLUMNS
from lastfm.testing.floors import bare_top_tracks


def main(path: str, gap_seconds: int = 1200, sessions: int = 50, tracks: int = 10) -> None:
    spark = SparkSession.builder.appName("lastfm-bare").getOrCreate()
    rows = bare_top_tracks(spark, path, gap_seconds, sessions, tracks)
    print("ROWS", json.dumps([[row[c] for c in OUTPUT_COLUMNS] for row in rows]))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
