"""The floor of an incremental run: one day added to a warehouse the job built, and nothing else.

    spark-submit scripts/spark_bare_increment.py DAY_FILE WAREHOUSE [GAP_SECONDS] [TOP_SESSIONS] [TOP_TRACKS]

Appends the day to `plays`, merges it into `sessions` (one commit), and ranks the longest sessions'
songs (lastfm.testing.floors.bare_increment): no ledger, rejects, checks, profile, report or runs row.
`make bench` runs it beside the job's `--incremental` on a copy of the same warehouse, to tell what
the job adds from what an increment costs at all here. Prints the rows as JSON after `ROWS `.
"""

import json
import sys

from pyspark.sql import SparkSession

from lastfm.schemas import OUTPUT_COLUMNS
from lastfm.testing.floors import bare_increment


def main(day: str, warehouse: str, gap_seconds: int = 1200, sessions: int = 50, tracks: int = 10) -> None:
    spark = SparkSession.builder.appName("lastfm-bare-increment").getOrCreate()
    rows = bare_increment(spark, day, warehouse, gap_seconds, sessions, tracks)
    print("ROWS", json.dumps([[row[c] for c in OUTPUT_COLUMNS] for row in rows]))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
