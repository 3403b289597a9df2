"""Spark's floor for a small run: a spark-submit that only counts the input's lines.

    spark-submit scripts/spark_count.py INPUT

The same start-up, session and reader as the job, nothing else: `make bench` compares the job's
cold run on a small input with it. Prints the count after `LINES `.
"""

import sys

from pyspark.sql import SparkSession

from lastfm.storage.reading import read_lines


def main(path: str) -> None:
    spark = SparkSession.builder.appName("lastfm-count").getOrCreate()
    print("LINES", read_lines(spark, path).count())
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
