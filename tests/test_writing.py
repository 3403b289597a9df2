import pytest
from pyspark.sql import functions as F

from lastfm.schemas import TOP_TRACKS
from lastfm.writing import write_single_tsv, write_table

ROWS = [(1, 'Johnny "Hammond" Smith', '"Heroes"', 12), (2, "坂本龍一", "Кино", 7), (3, "Cake", "", 1)]


def test_single_tsv_is_verbatim_utf8_with_header_in_rank_order(spark, tmp_path):
    target = tmp_path / "out" / "top.tsv"
    ranked = spark.createDataFrame(list(reversed(ROWS)), TOP_TRACKS).repartition(3)
    write_single_tsv(ranked, str(target))
    expected = (
        "artist_name\ttrack_name\tplay_count\n"
        'Johnny "Hammond" Smith\t"Heroes"\t12\n'
        "坂本龍一\tКино\t7\n"
        "Cake\t\t1\n"
    )
    assert target.read_bytes() == expected.encode("utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["top.tsv"]  # no staging left


def test_a_failed_write_leaves_the_earlier_file_untouched(spark, tmp_path):
    target = tmp_path / "top.tsv"
    target.write_text("earlier good answer\n")
    failing = spark.createDataFrame(ROWS, TOP_TRACKS).withColumn(
        "artist_name", F.when(F.col("rank") == 2, F.raise_error(F.lit("disk on fire"))).otherwise(F.col("artist_name"))
    )
    with pytest.raises(Exception, match="disk on fire"):
        write_single_tsv(failing, str(target))
    assert target.read_text() == "earlier good answer\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["top.tsv"]


def test_write_table_overwrites_with_one_new_version_per_write(spark, tmp_path):
    path = str(tmp_path / "t")
    first = write_table(spark.range(5), path)
    second = write_table(spark.range(3), path)
    assert (first.version, first.rows, second.version, second.rows) == (0, 5, 1, 3)
    assert spark.read.format("delta").load(path).count() == 3
